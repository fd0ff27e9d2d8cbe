package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// installed is where make install puts the binary; mount(8) runs its FUSE
// helper with a standard PATH, so that is where it must be found.
const installed = "/usr/local/bin/ftpsfs"

// installBinary installs this build as make install would, for the test's
// duration, putting back whatever was there before.
func installBinary(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("installing to /usr/local/bin needs root")
	}
	backup := ""
	if _, err := os.Lstat(installed); err == nil {
		backup = installed + ".e2e-backup"
		if err := os.Rename(installed, backup); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "install", "-D", "-m", "0755", binary, installed)
	t.Cleanup(func() {
		_ = os.Remove(installed)
		if backup != "" {
			_ = os.Rename(backup, installed)
		}
	})
}

func requireMountFuse(t *testing.T) {
	t.Helper()
	requireFUSE(t)
	if _, err := os.Stat("/sbin/mount.fuse3"); err != nil {
		t.Fatal("mount.fuse3 not found: apt-get install fuse3")
	}
}

// runEnv runs a command with extra environment and returns combined output and exit status.
func runEnv(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// umountAndWait unmounts dir and waits for the background process serving it to exit.
func umountAndWait(t *testing.T, dir string) {
	t.Helper()
	pid := daemonPIDAnyArgs(dir)
	run(t, "umount", dir)
	if pid > 0 && !waitGone(pid, 10*time.Second) {
		t.Errorf("background process %d still running after umount", pid)
	}
}

// daemonPIDAnyArgs finds the ftpsfs process serving dir, however mount(8) ordered its arguments.
func daemonPIDAnyArgs(dir string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		args := strings.Split(string(b), "\x00")
		if len(args) < 2 || filepath.Base(args[0]) != "ftpsfs" {
			continue
		}
		for _, a := range args {
			if a == dir {
				pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
				return pid
			}
		}
	}
	return 0
}

func TestMountHelperAndFstab(t *testing.T) {
	requireMountFuse(t)
	installBinary(t)
	srv, pin := startSmall(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(srv.Opts.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "ftpes://test@" + srv.Addr + "/"
	opts := pin + ",password_file=" + pwFile

	t.Run("mount -t fuse.ftpsfs", func(t *testing.T) {
		mnt := t.TempDir()
		out, code := runEnv(t, nil, "mount", "-t", "fuse.ftpsfs", url, mnt, "-o", opts)
		if code != 0 {
			t.Fatalf("mount -t fuse.ftpsfs: exit %d: %s", code, out)
		}
		if got := run(t, "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
			t.Errorf("cat: %q", got)
		}
		umountAndWait(t, mnt)
	})
	t.Run("fstab", func(t *testing.T) {
		mnt := t.TempDir()
		fstab := filepath.Join(t.TempDir(), "fstab")
		line := fmt.Sprintf("%s %s fuse.ftpsfs _netdev,nofail,noauto,x-systemd.automount,x-systemd.mount-timeout=30,allow_other,%s 0 0\n", url, mnt, opts)
		if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		out, code := runEnv(t, nil, "mount", "--fstab", fstab, mnt)
		if code != 0 {
			t.Fatalf("mount --fstab: exit %d: %s", code, out)
		}
		if got := run(t, "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
			t.Errorf("cat: %q", got)
		}
		umountAndWait(t, mnt)
	})
	t.Run("nofail with the server down", func(t *testing.T) {
		mnt := t.TempDir()
		port, err := testserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		fstab := filepath.Join(t.TempDir(), "fstab")
		line := fmt.Sprintf("ftpes://test@127.0.0.1:%d/ %s fuse.ftpsfs _netdev,nofail,%s 0 0\n", port, mnt, opts)
		if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, code := runEnv(t, nil, "mount", "--fstab", fstab, mnt)
		if code == 0 {
			t.Errorf("mount of a down server succeeded: %s", out)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("took %v to fail", took)
		}
		if !strings.Contains(out, "connection refused") {
			t.Errorf("mount's output lacks the reason: %s", out)
		}
		if isMounted(mnt) {
			t.Error("something is mounted")
		}
	})
}

// TestUnprivilegedUser mounts and unmounts as a normal user through
// fusermount3, in a directory that user owns.
func TestUnprivilegedUser(t *testing.T) {
	requireFUSE(t)
	if fi, err := os.Stat("/dev/fuse"); err != nil || fi.Mode().Perm()&0o006 != 0o006 {
		t.Fatal("/dev/fuse is not readable and writable by normal users: chmod 0666 /dev/fuse (Debian's default; make test does it as root)")
	}
	srv, pin := startSmall(t)
	user := testserver.TestUser
	if err := ensureTestUser(); err != nil {
		t.Fatal(err)
	}
	mnt, err := os.MkdirTemp("", "ftpsfs-user-mnt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(mnt)
	pwDir, err := os.MkdirTemp("", "ftpsfs-user-pw")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(pwDir)
	pwFile := filepath.Join(pwDir, "pw")
	if err := os.WriteFile(pwFile, []byte(srv.Opts.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid := lookupIDs(t, user)
	for _, p := range []string{mnt, pwDir, pwFile} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	url := "ftpes://test@" + srv.Addr + "/"
	out, code := runEnv(t, nil, "runuser", "-u", user, "--", binary, url, mnt, "-o", pin+",password_file="+pwFile)
	if code != 0 {
		t.Fatalf("mount as %s: exit %d: %s", user, code, out)
	}
	defer func() {
		if isMounted(mnt) {
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	}()
	if got, _ := runEnv(t, nil, "runuser", "-u", user, "--", "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
		t.Errorf("cat as %s: %q", user, got)
	}
	fields := mountEntry(mnt)
	if !strings.Contains(strings.Join(fields, " "), "user_id="+strconv.Itoa(uid)) {
		t.Errorf("mount not owned by %s: %v", user, fields)
	}
	pid := daemonPIDAnyArgs(mnt)
	if out, code := runEnv(t, nil, "runuser", "-u", user, "--", "fusermount3", "-u", mnt); code != 0 {
		t.Fatalf("fusermount3 -u as %s: %s", user, out)
	}
	if isMounted(mnt) {
		t.Error("still mounted after fusermount3 -u")
	}
	if pid > 0 && !waitGone(pid, 10*time.Second) {
		t.Errorf("process %d still running after fusermount3 -u", pid)
	}
}

func lookupIDs(t *testing.T, user string) (int, int) {
	out := run(t, "id", "-u", user)
	uid, _ := strconv.Atoi(strings.TrimSpace(out))
	out = run(t, "id", "-g", user)
	gid, _ := strconv.Atoi(strings.TrimSpace(out))
	return uid, gid
}

// ensureTestUser creates the harness's local user, as starting vsftpd does.
func ensureTestUser() error {
	if err := exec.Command("id", testserver.TestUser).Run(); err == nil {
		return nil
	}
	v, err := testserver.StartVsftpd(testserver.VsftpdOptions{Root: filepath.Join(os.TempDir(), "ftpsfs-user-probe")})
	if err != nil {
		return err
	}
	return v.Close()
}

func TestMetricsEndpoint(t *testing.T) {
	srv, pin := startSmall(t)
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	m := mountForeground(t, "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=" + srv.Opts.Password}, pin, "metrics="+addr)
	run(t, "ls", "-l", m.Dir)
	run(t, "cat", filepath.Join(m.Dir, "hello.txt"))
	_, _ = os.Stat(filepath.Join(m.Dir, "missing"))
	// go-fuse delivers writes through Writev: they must be counted too.
	if err := os.WriteFile(filepath.Join(m.Dir, "written.txt"), []byte("twelve bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, re := range []string{
		`ftpsfs_fuse_operations_total\{op="lookup"\} [1-9]`,
		`ftpsfs_fuse_operations_total\{op="read"\} [1-9]`,
		`ftpsfs_fuse_operation_seconds_bucket\{op="open",le=`,
		`ftpsfs_read_bytes_total [1-9]`,
		`ftpsfs_written_bytes_total 12\n`,
		`ftpsfs_fuse_operations_total\{op="write"\} [1-9]`,
		`ftpsfs_fuse_operations_total\{op="create"\} 1\n`,
		`ftpsfs_connections_open [1-9]`,
		`ftpsfs_block_cache_misses_total [1-9]`,
		`ftpsfs_dir_cache_hits_total [1-9]`,
		`ftpsfs_dir_cache_misses_total [1-9]`,
		`ftpsfs_tls_resume_failures_total 0`,
		`ftpsfs_reconnects_total 0`,
		`ftpsfs_preemptions_total \d`,
		`ftpsfs_read_stream_evictions_total \d`,
		`ftpsfs_spare_reads_total \d`,
		`ftpsfs_spare_uploads_total \d`,
		`ftpsfs_passive_ahead_downloads_total \d`,
		`ftpsfs_data_connections_total [1-9]`,
		`ftpsfs_remote_operation_seconds_count\{op="LIST",result="ok"\} [1-9]`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("metrics lack %s", re)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}

// TestSighupDropsCaches: with a long listing TTL a changed server file stays
// hidden; SIGHUP makes it visible at once.
func TestSighupDropsCaches(t *testing.T) {
	srv, pin := startSmall(t)
	m := mountForeground(t, "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=" + srv.Opts.Password}, pin,
		"dir_cache_ttl=1h", "attr_timeout=0", "entry_timeout=0")
	p := filepath.Join(m.Dir, "hello.txt")
	if got := run(t, "cat", p); got != "hello\n" {
		t.Fatalf("cat: %q", got)
	}
	if err := os.WriteFile(filepath.Join(srv.Opts.Root, "hello.txt"), []byte("changed on the server\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := run(t, "cat", p); got != "hello\n" {
		t.Fatalf("before SIGHUP the cached listing should still answer: %q", got)
	}
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := run(t, "cat", p)
		if got == "changed on the server\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
