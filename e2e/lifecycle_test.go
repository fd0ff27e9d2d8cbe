package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

func startSmall(t *testing.T) (*testserver.Embedded, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true, Password: "pw-Zq81-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, "fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)
}

// daemonPID finds the background ftpsfs serving dir (started by this test
// through the command).
func daemonPID(t *testing.T, dir string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 2 && args[0] == binary && args[2] == dir {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			return pid
		}
	}
	return 0
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err != nil {
			return true
		}
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if strings.Contains(string(b), ") Z ") {
			return true // exited; its parent (init) reaps it
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestDaemonMountAndUmount is the plain command a user types: it returns
// once mounted, the mount serves files, the password is nowhere visible, and
// umount ends the background process.
func TestDaemonMountAndUmount(t *testing.T) {
	requireFUSE(t)
	srv, pin := startSmall(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(srv.Opts.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "log")
	code, stderr, _ := runFtpsfs(t, nil, "ftpes://test@"+srv.Addr+"/", mnt, "-o", pin+",password_file="+pwFile+",debug,log_file="+logFile)
	if code != 0 {
		t.Fatalf("mount: exit %d: %s", code, stderr)
	}
	pid := daemonPID(t, mnt)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = exec.Command("umount", "-l", mnt).Run()
		}
		if pid > 0 && !waitGone(pid, time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !isMounted(mnt) {
		t.Fatal("command returned 0 but nothing is mounted")
	}
	if got := run(t, "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
		t.Errorf("cat: %q", got)
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	if !strings.Contains(string(mounts), "ftpes://test@"+srv.Addr) {
		t.Errorf("/proc/mounts lacks the source URL")
	}
	for what, text := range map[string]string{"/proc/mounts": string(mounts), "debug log": readFile(t, logFile), "daemon argv": cmdline(pid), "daemon environment": environ(pid)} {
		if strings.Contains(text, srv.Opts.Password) {
			t.Errorf("%s contains the password", what)
		}
	}
	debugLog := readFile(t, logFile)
	if !strings.Contains(debugLog, "PASS ****") {
		t.Errorf("debug log does not show the masked PASS command")
	}
	for _, want := range []string{"msg=fuse op=lookup", "msg=fuse op=read", `line="RETR /hello.txt"`, "msg=\"remote op\" op=LIST"} {
		if !strings.Contains(debugLog, want) {
			t.Errorf("debug log lacks %s", want)
		}
	}
	if pid == 0 {
		t.Fatal("background process not found")
	}
	run(t, "umount", mnt)
	if !waitGone(pid, 10*time.Second) {
		t.Errorf("background process %d still running after umount", pid)
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return string(b)
}

func environ(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return string(b)
}

// TestSignalsAndFusermount: SIGTERM and SIGINT in the foreground, and
// fusermount3 -u, unmount cleanly and the process exits 0.
func TestSignalsAndFusermount(t *testing.T) {
	srv, pin := startSmall(t)
	env := []string{"FTPSFS_PASSWORD=" + srv.Opts.Password}
	url := "ftpes://test@" + srv.Addr + "/"
	for _, how := range []string{"SIGTERM", "SIGINT", "fusermount3 -u"} {
		t.Run(how, func(t *testing.T) {
			m := mountForeground(t, url, env, pin)
			if got := run(t, "cat", filepath.Join(m.Dir, "hello.txt")); got != "hello\n" {
				t.Fatalf("cat: %q", got)
			}
			switch how {
			case "SIGTERM":
				_ = m.cmd.Process.Signal(syscall.SIGTERM)
			case "SIGINT":
				_ = m.cmd.Process.Signal(syscall.SIGINT)
			default:
				run(t, "fusermount3", "-u", m.Dir)
			}
			select {
			case err := <-m.done:
				if err != nil {
					t.Errorf("exit after %s: %v\n%s", how, err, m.logs)
				}
				m.done <- err
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10s after %s", how)
			}
			if isMounted(m.Dir) {
				t.Errorf("still mounted after %s", how)
			}
		})
	}
}

// TestMountOptionsApply checks options a user sees the effect of.
func TestMountOptionsApply(t *testing.T) {
	srv, pin := startSmall(t)
	env := []string{"FTPSFS_PASSWORD=" + srv.Opts.Password}
	m := mountForeground(t, "ftpes://test@"+srv.Addr+"/", env, pin, "uid=1234", "gid=4321", "umask=027", "ro",
		"allow_other", "_netdev", "nofail", "x-systemd.automount", "noatime", "connections=2", "cache_size=16M",
		"dir_cache_ttl=5s", "attr_timeout=2", "entry_timeout=2s", "timeout=10s")
	out := strings.TrimSpace(run(t, "stat", "-c", "%u %g %a", filepath.Join(m.Dir, "hello.txt")))
	if out != "1234 4321 640" {
		t.Errorf("stat: %q, want \"1234 4321 640\"", out)
	}
	fields := mountEntry(m.Dir)
	opts := strings.Join(fields, " ")
	if !strings.Contains(opts, "ro,") || !strings.Contains(opts, "allow_other") || !strings.Contains(opts, "noatime") {
		t.Errorf("mountinfo lacks ro, allow_other or noatime: %s", opts)
	}
}

// TestIPv6Literal mounts ftpes://user@[::1]:port/.
func TestIPv6Literal(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "v6.txt"), []byte("six\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true, Listen: "[::1]:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := "ftpes://test@[::1]:" + strconv.Itoa(srv.Port) + "/"
	m := mountForeground(t, url, []string{"FTPSFS_PASSWORD=secret"}, "fingerprint="+testserver.FingerprintOption(srv.Opts.Cert.Fingerprint))
	if got := run(t, "cat", filepath.Join(m.Dir, "v6.txt")); got != "six\n" {
		t.Errorf("cat over IPv6: %q", got)
	}
}

// TestURLPasswordNeverInTheBackgroundProcess: a password given in the URL is
// accepted with a warning, and the background process's argv does not carry it.
func TestURLPasswordNeverInTheBackgroundProcess(t *testing.T) {
	requireFUSE(t)
	srv, pin := startSmall(t)
	mnt := t.TempDir()
	code, stderr, _ := runFtpsfs(t, nil, "ftpes://test:"+srv.Opts.Password+"@"+srv.Addr+"/", mnt, "-o", pin)
	if code != 0 {
		t.Fatalf("mount: exit %d: %s", code, stderr)
	}
	pid := daemonPID(t, mnt)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = exec.Command("umount", mnt).Run()
		}
		if pid > 0 && !waitGone(pid, 5*time.Second) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !strings.Contains(stderr, "warning") {
		t.Errorf("no warning about the password in the URL: %q", stderr)
	}
	if pid == 0 {
		t.Fatal("background process not found")
	}
	if strings.Contains(cmdline(pid), srv.Opts.Password) {
		t.Errorf("the background process's argv holds the password: %q", cmdline(pid))
	}
	if got := run(t, "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
		t.Errorf("cat: %q", got)
	}
}
