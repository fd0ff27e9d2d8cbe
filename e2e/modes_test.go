package e2e

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// modeKinds are servers whose listings carry modes: vsftpd (LIST), and the
// embedded server listing with LIST (its MLSD has no UNIX.mode fact).
var modeKinds = []serverKind{
	serverKinds[2], // vsftpd-explicit
	{"embedded-list", func(t *testing.T, root string) *server {
		srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true, ListOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		return &server{
			URL:  "ftpes://test@" + srv.Addr + "/",
			Env:  []string{"FTPSFS_PASSWORD=secret"},
			Opts: []string{"fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)},
			List: "LIST",
		}
	}},
}

func modeOf(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestModesShownAreTheServers: stat, ls -l, test -x and executing a script
// agree with the modes on the server's disk.
func TestModesShownAreTheServers(t *testing.T) {
	for _, k := range modeKinds {
		t.Run(k.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			files := map[string]os.FileMode{"f600": 0o600, "f640": 0o640, "f644": 0o644, "f700": 0o700, "f755": 0o755}
			dirs := map[string]os.FileMode{"d700": 0o700, "d750": 0o750, "d755": 0o755}
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for n, m := range files {
				if err := os.WriteFile(filepath.Join(root, n), []byte("#!/bin/sh\necho ran "+n+"\n"), m); err != nil {
					t.Fatal(err)
				}
				_ = os.Chmod(filepath.Join(root, n), m)
			}
			for n, m := range dirs {
				if err := os.Mkdir(filepath.Join(root, n), m); err != nil {
					t.Fatal(err)
				}
				_ = os.Chmod(filepath.Join(root, n), m)
			}
			s := k.start(t, root)
			m := mountForeground(t, s.URL, s.Env, s.Opts...)
			for n, want := range files {
				if got := modeOf(t, filepath.Join(m.Dir, n)); got != want {
					t.Errorf("%s shows %04o, the server has %04o", n, got, want)
				}
			}
			for n, want := range dirs {
				if got := modeOf(t, filepath.Join(m.Dir, n)); got != want {
					t.Errorf("%s/ shows %04o, the server has %04o", n, got, want)
				}
			}
			if out := run(t, "ls", "-l", m.Dir); !strings.Contains(lineFor(out, "f755"), "-rwxr-xr-x") {
				t.Errorf("ls -l shows %q for a 755 script", lineFor(out, "f755"))
			}
			if err := exec.Command("test", "-x", filepath.Join(m.Dir, "f644")).Run(); err == nil {
				t.Error("test -x is true for a 644 file")
			}
			// Through sh, which execs the script from its own process: this
			// process also runs the embedded server, and Go's fork+exec
			// (vfork) of a file on the mount would freeze it (a stop-the-world
			// cannot preempt the thread waiting in vfork) until the read that
			// exec waits for, which this process must serve, times out.
			if out, err := exec.Command("sh", "-c", `"$0"`, filepath.Join(m.Dir, "f755")).CombinedOutput(); err != nil || string(out) != "ran f755\n" {
				t.Errorf("running a 755 script through the mount: %v %q", err, out)
			}
		})
	}
}

// TestChmodReachesTheServer: chmod, install -m, sed -i, cp -p and rsync -a
// give the server the modes asked for, and a second rsync -ai finds
// nothing to do.
func TestChmodReachesTheServer(t *testing.T) {
	for _, k := range modeKinds {
		t.Run(k.name, func(t *testing.T) {
			s, m, root := serveEmpty(t, k)
			s.other(t, root, "conf", []byte("a=1\n"), 0o640)
			onServer := func(rel string, want os.FileMode) {
				t.Helper()
				if got := modeOf(t, filepath.Join(root, rel)); got != want {
					t.Errorf("%s on the server: %04o, want %04o", rel, got, want)
				}
			}
			run(t, "chmod", "700", filepath.Join(m.Dir, "conf"))
			onServer("conf", 0o700)
			if got := modeOf(t, filepath.Join(m.Dir, "conf")); got != 0o700 {
				t.Errorf("after chmod 700 the mount shows %04o", got)
			}
			run(t, "chmod", "640", filepath.Join(m.Dir, "conf"))
			run(t, "sed", "-i", "s/a=1/a=2/", filepath.Join(m.Dir, "conf"))
			onServer("conf", 0o640)
			sameFile(t, filepath.Join(root, "conf"), []byte("a=2\n"))

			src := filepath.Join(t.TempDir(), "tool")
			if err := os.WriteFile(src, []byte("#!/bin/sh\necho tool\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			run(t, "install", "-m", "750", src, filepath.Join(m.Dir, "tool"))
			onServer("tool", 0o750)

			if err := os.Mkdir(filepath.Join(m.Dir, "dir"), 0o755); err != nil {
				t.Fatal(err)
			}
			run(t, "chmod", "750", filepath.Join(m.Dir, "dir"))
			onServer("dir", 0o750)

			tree := filepath.Join(t.TempDir(), "tree")
			for i, mode := range []os.FileMode{0o600, 0o640, 0o755} {
				p := filepath.Join(tree, fmt.Sprintf("sub/f%d", i))
				if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(strings.Repeat("x", i+1)), mode); err != nil {
					t.Fatal(err)
				}
				_ = os.Chmod(p, mode)
			}
			_ = os.Chmod(filepath.Join(tree, "sub"), 0o750)
			run(t, "cp", "-p", filepath.Join(tree, "sub", "f0"), filepath.Join(m.Dir, "copied"))
			onServer("copied", 0o600)
			run(t, "rsync", "-a", tree+"/", filepath.Join(m.Dir, "synced")+"/")
			for i, mode := range []os.FileMode{0o600, 0o640, 0o755} {
				onServer(fmt.Sprintf("synced/sub/f%d", i), mode)
			}
			onServer("synced/sub", 0o750)
			if out := run(t, "rsync", "-ai", tree+"/", filepath.Join(m.Dir, "synced")+"/"); strings.TrimSpace(out) != "" {
				t.Errorf("a second rsync -ai has work to do:\n%s", out)
			}
		})
	}
}

// TestReplaceKeepsModeAndNeverExposes: replacing a 600 file (50 MiB through
// cp, and an append) never leaves the new content in a file others can
// read, and the result is 600 again; a 755 script stays 755.
func TestReplaceKeepsModeAndNeverExposes(t *testing.T) {
	s, m, root := serveEmpty(t, serverKinds[2]) // vsftpd: its uploads get 0644 (local_umask=022)
	s.other(t, root, "private.txt", []byte("secret\n"), 0o600)
	s.other(t, root, "script.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)

	var exposed atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // another local user polling the server's directory
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			entries, _ := os.ReadDir(root)
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), ".ftpsfs-upload-") {
					continue
				}
				if st, err := os.Stat(filepath.Join(root, e.Name())); err == nil && st.Size() > 0 && st.Mode().Perm()&0o044 != 0 {
					exposed.Store(fmt.Sprintf("%s: %d bytes at mode %04o", e.Name(), st.Size(), st.Mode().Perm()))
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	src := filepath.Join(t.TempDir(), "new")
	data := make([]byte, 50<<20)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", src, filepath.Join(m.Dir, "private.txt"))
	sh(t, "echo more >> '"+filepath.Join(m.Dir, "private.txt")+"'")
	close(stop)
	wg.Wait()
	if e := exposed.Load(); e != nil {
		t.Errorf("new content was readable by others during the replace: %v", e)
	}
	if got := modeOf(t, filepath.Join(root, "private.txt")); got != 0o600 {
		t.Errorf("private.txt is %04o on the server after the replace, want 0600", got)
	}
	if st, _ := os.Stat(filepath.Join(root, "private.txt")); st == nil || st.Size() != int64(len(data))+5 {
		t.Errorf("private.txt on the server: %v, want %d bytes", st, len(data)+5)
	}
	sh(t, "echo 'echo again' >> '"+filepath.Join(m.Dir, "script.sh")+"'")
	if got := modeOf(t, filepath.Join(root, "script.sh")); got != 0o755 {
		t.Errorf("script.sh is %04o on the server after an append, want 0755", got)
	}
	noTemporaries(t, root)
}

// TestServerRefusingChmod: chmod fails with EPERM, replacing still works
// and keeps the data; chmod=ignore accepts and ignores.
func TestServerRefusingChmod(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, m := embeddedWith(t, root, testserver.FaultDenyChmod)
	err := os.Chmod(filepath.Join(m.Dir, "f"), 0o600)
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("chmod on a server that refuses SITE CHMOD: %v, want EPERM", err)
	}
	if werr, cerr := writeAndClose(filepath.Join(m.Dir, "f"), []byte("new"), os.O_WRONLY|os.O_TRUNC); werr != nil || cerr != nil {
		t.Errorf("replace on a server that refuses SITE CHMOD: write %v, close %v", werr, cerr)
	}
	sameFile(t, filepath.Join(root, "f"), []byte("new"))

	_, ignoring := embeddedWith(t, root, testserver.FaultDenyChmod, "chmod=ignore")
	if err := os.Chmod(filepath.Join(ignoring.Dir, "f"), 0o600); err != nil {
		t.Errorf("chmod with chmod=ignore: %v, want success", err)
	}
	if got := modeOf(t, filepath.Join(root, "f")); got != 0o644 {
		t.Errorf("chmod=ignore changed the server's mode to %04o", got)
	}
}

// TestDirectoryTimes: touch -d on a directory is what stat shows
// afterwards, whether the server sets directory times (the embedded
// server's MFMT) or refuses them (vsftpd's MDTM on a directory: 550).
func TestDirectoryTimes(t *testing.T) {
	for _, k := range writeKinds {
		t.Run(k.name, func(t *testing.T) {
			_, m, _ := serveEmpty(t, k)
			dir := filepath.Join(m.Dir, "somedir")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			run(t, "touch", "-d", "2020-02-02 12:00:00 UTC", dir)
			time.Sleep(1200 * time.Millisecond) // past attr_timeout: the kernel asks again
			st, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := time.Date(2020, 2, 2, 12, 0, 0, 0, time.UTC); !st.ModTime().Equal(want) {
				t.Errorf("after touch -d the directory shows %v, want %v", st.ModTime().UTC(), want)
			}
		})
	}
}

// TestFreeSpace: df shows the server's free space where it answers AVBL
// (the embedded server), and statfs_size= where it does not (vsftpd).
func TestFreeSpace(t *testing.T) {
	_, m, root := serveEmpty(t, serverKinds[0])
	var local syscall.Statfs_t
	if err := syscall.Statfs(root, &local); err != nil {
		t.Fatal(err)
	}
	var got syscall.Statfs_t
	if err := syscall.Statfs(m.Dir, &got); err != nil {
		t.Fatal(err)
	}
	want := int64(local.Bavail) * local.Bsize
	if have := int64(got.Bavail) * got.Bsize; have < want-(64<<20) || have > want+(64<<20) {
		t.Errorf("df shows %d bytes free, the server's disk has %d", have, want)
	}

	_, vm, _ := serveEmpty(t, serverKinds[2], "statfs_size=2G")
	if err := syscall.Statfs(vm.Dir, &got); err != nil {
		t.Fatal(err)
	}
	if have := int64(got.Blocks) * got.Bsize; have != 2<<30 {
		t.Errorf("with statfs_size=2G on a server without AVBL df shows %d bytes", have)
	}
}
