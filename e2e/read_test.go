package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestReadThroughMount mounts each real server and checks, with ordinary
// programs, that everything reads back exactly as the server has it.
func TestReadThroughMount(t *testing.T) {
	for _, k := range serverKinds {
		t.Run(k.name, func(t *testing.T) {
			s := serveFixture(t, k)
			m := mountForeground(t, s.URL, s.Env, s.Opts...)
			t.Run("ls", func(t *testing.T) { checkLs(t, m, s) })
			t.Run("stat", func(t *testing.T) { checkStat(t, m, s) })
			t.Run("find", func(t *testing.T) { checkFind(t, m) })
			t.Run("sha256sum", func(t *testing.T) { checkHashes(t, m, s) })
			t.Run("many", func(t *testing.T) { checkMany(t, m) })
			t.Run("dd", func(t *testing.T) { checkRandomReads(t, m, s) })
			t.Run("concurrent", func(t *testing.T) { checkConcurrent(t, m, s) })
			t.Run("symlink", func(t *testing.T) { checkSymlink(t, m, s) })
			if s.TLSVersion != "" {
				t.Run("tls", func(t *testing.T) { checkVsftpdTLS(t, s) })
			}
		})
	}
}

func checkLs(t *testing.T, m *mounted, s *server) {
	out := run(t, "ls", "-la", m.Dir)
	for _, name := range []string{"empty", "one", "mib+1.bin", "big.bin", "with space.txt", "hash#name.txt",
		"per%cent.txt", "naïve-日本.txt", ".hidden", "tree", "many", "readers"} {
		if !strings.Contains(out, " "+name+"\n") && !strings.Contains(out, " "+name+" ->") {
			t.Errorf("ls -la lacks %q:\n%s", name, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 8 && (f[8] == "." || f[8] == "..") && strings.Count(out, " "+f[8]+"\n") > 1 {
			t.Errorf("%q listed twice", f[8])
		}
	}
	if line := lineFor(out, "tree"); !strings.HasPrefix(line, "d") {
		t.Errorf("tree is not a directory: %q", line)
	}
}

func lineFor(ls, name string) string {
	for _, line := range strings.Split(ls, "\n") {
		if strings.HasSuffix(line, " "+name) {
			return line
		}
	}
	return ""
}

func checkStat(t *testing.T, m *mounted, s *server) {
	for rel, size := range s.Fx.Sizes {
		out := strings.TrimSpace(run(t, "stat", "-c", "%s %F", filepath.Join(m.Dir, rel)))
		want := fmt.Sprintf("%d %s", size, map[bool]string{true: "regular empty file", false: "regular file"}[size == 0])
		if out != want {
			t.Errorf("stat %s: %q, want %q", rel, out, want)
		}
	}
	// Inode numbers are stable, which find and tar rely on.
	a := run(t, "stat", "-c", "%i", filepath.Join(m.Dir, "tree/a/b/data.csv"))
	b := run(t, "stat", "-c", "%i", filepath.Join(m.Dir, "tree/a/b/data.csv"))
	if a != b {
		t.Errorf("inode changed between two stats: %s vs %s", a, b)
	}
}

func checkFind(t *testing.T, m *mounted) {
	out := run(t, "find", filepath.Join(m.Dir, "tree"), "-name", "*.csv")
	var got []string
	for _, l := range strings.Fields(out) {
		got = append(got, strings.TrimPrefix(l, m.Dir+"/"))
	}
	sort.Strings(got)
	want := []string{"tree/a/b/data.csv", "tree/a/other.csv", "tree/report.csv"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("find: %q, want %q", got, want)
	}
}

func checkHashes(t *testing.T, m *mounted, s *server) {
	var paths []string
	for rel := range s.Fx.Hashes {
		paths = append(paths, filepath.Join(m.Dir, rel))
	}
	out := run(t, "sha256sum", paths...)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		sum, p, _ := strings.Cut(line, "  ")
		rel := strings.TrimPrefix(p, m.Dir+"/")
		if want := s.Fx.Hashes[rel]; sum != want {
			t.Errorf("sha256sum %s = %s, server has %s", rel, sum, want)
		}
	}
	if n := strings.Count(out, "\n"); n != len(paths) {
		t.Errorf("sha256sum printed %d lines for %d files", n, len(paths))
	}
}

func checkMany(t *testing.T, m *mounted) {
	out := run(t, "ls", filepath.Join(m.Dir, "many"))
	if n := len(strings.Fields(out)); n != manyDirs {
		t.Errorf("ls many: %d entries, want %d", n, manyDirs)
	}
	out = run(t, "ls", "-l", filepath.Join(m.Dir, "many"))
	if n := strings.Count(out, "\n") - 1; n != manyDirs {
		t.Errorf("ls -l many: %d lines, want %d", n, manyDirs)
	}
}

func checkRandomReads(t *testing.T, m *mounted, s *server) {
	local, err := os.ReadFile(filepath.Join(s.Fx.Root, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 12; i++ {
		const bs = 4096
		skip := rng.IntN(bigSize/bs - 20)
		count := 1 + rng.IntN(16)
		out := run(t, "dd", "if="+filepath.Join(m.Dir, "big.bin"), "bs="+strconv.Itoa(bs), "skip="+strconv.Itoa(skip),
			"count="+strconv.Itoa(count), "status=none")
		if want := local[skip*bs : (skip+count)*bs]; !bytes.Equal([]byte(out), want) {
			t.Errorf("dd skip=%d count=%d: %d bytes, differs from the server's copy", skip, count, len(out))
		}
	}
}

func checkConcurrent(t *testing.T, m *mounted, s *server) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		rel := fmt.Sprintf("readers/r%d.bin", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command("sha256sum", filepath.Join(m.Dir, rel)).Output()
			if err != nil {
				t.Errorf("sha256sum %s: %v", rel, err)
				return
			}
			if sum, _, _ := strings.Cut(string(out), " "); sum != s.Fx.Hashes[rel] {
				t.Errorf("concurrent sha256sum %s = %s, want %s", rel, sum, s.Fx.Hashes[rel])
			}
		}()
	}
	wg.Wait()
}

func checkSymlink(t *testing.T, m *mounted, s *server) {
	p := filepath.Join(m.Dir, "link-to-one")
	if s.List != "LIST" {
		// MLSD has no symlink type: servers report the link as a file, and
		// ftpserverlib gives the link's own size while serving the target's
		// bytes, so a read ends early and fails with EIO (never a short file).
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("link-to-one over MLSD: %v %v", fi, err)
		}
		return
	}
	target, err := os.Readlink(p)
	if err != nil || target != "one" {
		t.Errorf("readlink: %q %v", target, err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "1" {
		t.Errorf("reading through the symlink: %q %v", got, err)
	}
}

// checkVsftpdTLS reads vsftpd's debug_ssl lines: every connection used the
// expected TLS version, and in every session (one vsftpd pid per control
// connection) only the control connection did a full handshake: every data
// connection resumed its session (vsftpd would have refused it with 522).
func checkVsftpdTLS(t *testing.T, s *server) {
	log := s.Log()
	pidOf := regexp.MustCompile(`\[pid (\d+)\]`)
	full, resumed, commands := map[string]int{}, 0, map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		pid := ""
		if m := pidOf.FindStringSubmatch(line); m != nil {
			pid = m[1]
		}
		if strings.Contains(line, "FTP command:") {
			commands[pid] = true
		}
		if !strings.Contains(line, "SSL version: ") {
			continue
		}
		if !strings.Contains(line, "SSL version: "+s.TLSVersion+",") {
			t.Errorf("connection not on %s: %s", s.TLSVersion, line)
		}
		if strings.Contains(line, "not reused") {
			full[pid]++
		} else if strings.Contains(line, "reused") {
			resumed++
		}
	}
	if resumed == 0 {
		t.Error("no data connection resumed a TLS session")
	}
	for pid, n := range full {
		// Sessions that sent no command are the harness's readiness probes.
		if commands[pid] && n > 1 {
			t.Errorf("session %s did %d full TLS handshakes: a data connection did not resume", pid, n)
		}
	}
	if regexp.MustCompile(`FTP response: Client "[^"]*", "522 `).MatchString(log) {
		t.Errorf("vsftpd refused a data connection with 522")
	}
}
