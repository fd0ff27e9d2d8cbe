package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// walkFiles is how many small files the walk tests read in listing order.
const walkFiles = 20

// walkContent is what the walk's file i holds (4 KiB, its own bytes).
func walkContent(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("file %02d\n", i)), 512)
}

// putWalk writes the walk's files into root/dir, as another client would.
func putWalk(t *testing.T, s *server, root, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range walkFiles {
		s.other(t, root, fmt.Sprintf("%s/f%02d", dir, i), walkContent(i), 0o644)
	}
}

// catWalk reads file i of dir with cat and checks its bytes.
func catWalk(t *testing.T, m *mounted, dir string, i int) {
	t.Helper()
	r := runFor(30*time.Second, "cat", filepath.Join(m.Dir, fmt.Sprintf("%s/f%02d", dir, i)))
	if r.err != nil || r.out != string(walkContent(i)) {
		t.Fatalf("cat %s/f%02d: %d bytes, %v; want its %d bytes", dir, i, len(r.out), r.err, len(walkContent(i)))
	}
}

// retrs counts the mount's RETR commands for file i of /walk (debug log).
func retrs(m *mounted, i int) int {
	return strings.Count(m.logs.String(), fmt.Sprintf("line=\"RETR /walk/f%02d\"", i))
}

// TestPrefetchedFilesThroughMount: cat of a directory's small files one by
// one, in listing order, finds the next files fetched before their opens,
// and the files cost about one RETR each in all.
func TestPrefetchedFilesThroughMount(t *testing.T) {
	for _, k := range []serverKind{serverKinds[0], serverKinds[2]} {
		t.Run(k.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root") // no fixture: only the walk
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			s := k.start(t, root)
			putWalk(t, s, root, "walk")
			m := mountForeground(t, s.URL, s.Env, append(s.Opts, "debug")...)
			catWalk(t, m, "walk", 0)
			catWalk(t, m, "walk", 1)
			fetched := func() bool { // the workers fetch in parallel, in any order
				for i := 2; i < 10; i++ {
					if retrs(m, i) == 0 {
						return false
					}
				}
				return true
			}
			deadline := time.Now().Add(20 * time.Second)
			for !fetched() && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			for i := 2; i < 10; i++ {
				if n := retrs(m, i); n != 1 {
					t.Errorf("walk/f%02d: %d RETR before its cat, want 1 (fetched ahead)", i, n)
				}
			}
			for i := 2; i < walkFiles; i++ {
				catWalk(t, m, "walk", i)
			}
			// A cat whose file is still waiting its turn to be fetched ahead
			// fetches it itself after a few round trips: a second RETR.
			total := 0
			for i := range walkFiles {
				if n := retrs(m, i); n == 0 {
					t.Errorf("walk/f%02d: no RETR", i)
				} else {
					total += n
				}
			}
			if total > walkFiles+walkFiles/4 {
				t.Errorf("%d RETR for %d files: the reads did not use what was fetched ahead", total, walkFiles)
			}
			for _, bad := range []string{"level=ERROR", "level=WARN", "DATA RACE"} {
				if strings.Contains(m.logs.String(), bad) {
					t.Errorf("the mount logged %s:\n%s", bad, tail(m.logs.String(), 20))
				}
			}
		})
	}
}

// TestPrefetchCutIsHarmless cuts every connection while the next files
// are being fetched ahead: every cat still returns the server's bytes.
func TestPrefetchCutIsHarmless(t *testing.T) {
	for _, k := range faultServerKinds {
		t.Run(k.name, func(t *testing.T) {
			fx := faultFixture(t, 0, 0)
			s := k.start(t, fx)
			putWalk(t, s.server, fx.Root, "walk")
			m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, s.Opts...)
			s.Proxy.SetDelay(0, 20*time.Millisecond) // the fetches ahead take a while
			catWalk(t, m, "walk", 0)
			catWalk(t, m, "walk", 1)
			s.Proxy.Cut()
			s.Proxy.SetDelay(0, 0)
			for i := 2; i < walkFiles; i++ {
				catWalk(t, m, "walk", i)
			}
		})
	}
}

// TestPrefetchWalksBackToBaseline walks directories in listing order on a
// race-built mount, one of them while every connection is cut: afterwards
// its goroutines and its open files and sockets (connections) are back
// where they were before.
func TestPrefetchWalksBackToBaseline(t *testing.T) {
	fx := faultFixture(t, 0, 0)
	s := proxiedVsftpd(t, fx, nil)
	dirs := []string{"w0", "w1", "w2", "w3"}
	for _, d := range dirs {
		putWalk(t, s.server, fx.Root, d)
	}
	probe := filepath.Join(t.TempDir(), "probe")
	m := mountAt(t, soakBinary(t), t.TempDir(), s.URL, append(s.Env, "FTPSFS_SOAK_PROBE="+probe), s.Opts...)
	t.Cleanup(func() {
		if strings.Contains(m.logs.String(), "DATA RACE") {
			t.Errorf("the race detector reported a data race in ftpsfs:\n%s", tail(m.logs.String(), 80))
		}
	})
	walk := func(d string) {
		for i := range walkFiles {
			catWalk(t, m, d, i)
			if d == "w2" && i == 1 {
				s.Proxy.Cut() // while the next files are fetched ahead
			}
		}
	}
	walk(dirs[0]) // warm: connections logged in, go-fuse's readers started
	time.Sleep(time.Second)
	base := m.usage(t, probe)
	for _, d := range dirs[1:] {
		walk(d)
	}
	var after usage
	deadline := time.Now().Add(20 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond)
		after = m.usage(t, probe)
		if (after.goroutines <= base.goroutines+3 && after.fds <= base.fds+2) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("baseline: %d goroutines, %d fds; after: %d goroutines, %d fds", base.goroutines, base.fds, after.goroutines, after.fds)
	if after.goroutines > base.goroutines+3 {
		t.Errorf("goroutines grew from %d to %d:\n%s", base.goroutines, after.goroutines, after.stacks)
	}
	if after.fds > base.fds+2 {
		t.Errorf("open files and sockets grew from %d to %d", base.fds, after.fds)
	}
}
