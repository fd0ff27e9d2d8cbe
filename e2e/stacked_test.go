package e2e

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountsAt counts the mounts whose mount point is dir.
func mountsAt(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMount(f[4]) == dir {
			n++
		}
	}
	return n
}

// TestMountOverMountRefused: mounting on a mount point that already carries
// a live ftpsfs mount, or the dead one kill -9 leaves, fails with one line
// saying so (and, for the dead one, how to clear it) instead of stacking a
// second mount over the first.
func TestMountOverMountRefused(t *testing.T) {
	srv, pin := startSmall(t)
	env := []string{"FTPSFS_PASSWORD=" + srv.Opts.Password}
	url := "ftpes://test@" + srv.Addr + "/"
	m := mountForeground(t, url, env, pin)

	msg := expectFailure(t, 1, []string{"already mounted", m.Dir}, env, url, m.Dir, "-o", pin)
	t.Logf("live: %s", msg)
	if n := mountsAt(t, m.Dir); n != 1 {
		t.Errorf("%d mounts at %s after the refused mount, want 1", n, m.Dir)
	}

	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		t.Fatal("ftpsfs survived kill -9")
	}
	m.done <- nil // killed on purpose: the cleanup expects a clean exit
	// stat of the root may still be answered from the attribute cache;
	// statfs reaches the dead connection.
	if err := syscall.Statfs(m.Dir, new(syscall.Statfs_t)); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("statfs of the dead mount: %v, want ENOTCONN", err)
	}
	msg = expectFailure(t, 1, []string{"dead FUSE mount", "fusermount3 -u " + m.Dir}, env, url, m.Dir, "-o", pin)
	t.Logf("dead: %s", msg)
	if n := mountsAt(t, m.Dir); n != 1 {
		t.Errorf("%d mounts at %s after the refused mount, want 1", n, m.Dir)
	}
	run(t, "fusermount3", "-u", m.Dir)

	// Cleared, the same command mounts again.
	code, stderr, _ := runFtpsfs(t, env, url, m.Dir, "-o", pin)
	if code != 0 {
		t.Fatalf("mount after fusermount3 -u: exit %d: %s", code, stderr)
	}
	if got := run(t, "cat", m.Dir+"/hello.txt"); got != "hello\n" {
		t.Errorf("cat: %q", got)
	}
	umountAndWait(t, m.Dir)
}
