package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a subprocess's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mounted is one ftpsfs process serving a mount point.
type mounted struct {
	Dir  string
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
}

// requireFUSE fails (never skips) with what to install when FUSE is missing.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatal("/dev/fuse is missing: these tests need FUSE (load the fuse module; apt-get install fuse3)")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil && os.Getuid() != 0 {
		t.Fatal("fusermount3 not found: apt-get install fuse3")
	}
}

// mountForeground runs `ftpsfs URL DIR -f -o OPTS` with env added and waits
// until the kernel shows the mount. Cleanup unmounts with umount(8) and
// checks that the process exits 0.
func mountForeground(t testing.TB, url string, env []string, opts ...string) *mounted {
	t.Helper()
	return startMount(t, binary, t.TempDir(), 20*time.Second, url, env, opts...)
}

// startMount runs bin in the foreground on dir and waits up to wait for the
// mount to appear.
func startMount(t testing.TB, bin, dir string, wait time.Duration, url string, env []string, opts ...string) *mounted {
	t.Helper()
	requireFUSE(t)
	m := &mounted{Dir: dir, logs: &lockedBuffer{}, done: make(chan error, 1)}
	args := []string{url, m.Dir, "-f"}
	if len(opts) > 0 {
		args = append(args, "-o", strings.Join(opts, ","))
	}
	m.cmd = exec.Command(bin, args...)
	m.cmd.Env = append(os.Environ(), env...)
	m.cmd.Stdout, m.cmd.Stderr = m.logs, m.logs
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	deadline := time.Now().Add(wait)
	for !isMounted(m.Dir) {
		select {
		case err := <-m.done:
			t.Fatalf("ftpsfs exited before mounting (%v):\n%s", err, m.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = m.cmd.Process.Kill()
			t.Fatalf("not mounted after %v:\n%s", wait, m.logs)
		}
	}
	t.Cleanup(func() { m.unmount(t) })
	return m
}

func (m *mounted) unmount(t testing.TB) {
	t.Helper()
	if isMounted(m.Dir) {
		if out, err := exec.Command("umount", m.Dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", m.Dir, err, out)
			_ = exec.Command("umount", "-l", m.Dir).Run()
		}
	}
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("ftpsfs exited with %v after umount", err)
		}
		m.done <- err // for a second caller
	case <-time.After(15 * time.Second):
		t.Errorf("ftpsfs still running 15s after umount; killing PID %d", m.cmd.Process.Pid)
		_ = m.cmd.Process.Signal(syscall.SIGKILL)
	}
	if t.Failed() {
		t.Logf("ftpsfs log:\n%s", m.logs)
	}
}

// isMounted reports whether dir is a FUSE mount point of ftpsfs.
func isMounted(dir string) bool {
	return mountEntry(dir) != nil
}

// mountEntry returns the /proc/self/mountinfo fields for dir, or nil.
func mountEntry(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 8 && unescapeMount(fields[4]) == dir {
			for i, f := range fields {
				if f == "-" && i+1 < len(fields) && fields[i+1] == "fuse.ftpsfs" {
					return fields
				}
			}
		}
	}
	return nil
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// run runs a program and returns its stdout, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
