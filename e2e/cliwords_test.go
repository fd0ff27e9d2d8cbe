package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUmountWord: `ftpsfs umount DIR` unmounts a background mount and the
// background process exits; a directory without an ftpsfs mount is refused.
func TestUmountWord(t *testing.T) {
	requireFUSE(t)
	srv, pin := startSmall(t)
	env := []string{"FTPSFS_PASSWORD=" + srv.Opts.Password}
	mnt := t.TempDir()
	if code, stderr, _ := runFtpsfs(t, env, "ftpes://test@"+srv.Addr+"/", mnt, "-o", pin); code != 0 {
		t.Fatalf("mount: exit %d: %s", code, stderr)
	}
	pid := daemonPID(t, mnt)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	if code, stderr, _ := runFtpsfs(t, nil, "umount", mnt); code != 0 || stderr != "" {
		t.Fatalf("ftpsfs umount: exit %d: %s", code, stderr)
	}
	if isMounted(mnt) {
		t.Fatal("still mounted after ftpsfs umount")
	}
	if pid == 0 || !waitGone(pid, 10*time.Second) {
		t.Errorf("background process %d still running after ftpsfs umount", pid)
	}
	expectFailure(t, 1, []string{mnt + " is not mounted"}, nil, "umount", mnt)
}

// TestForegroundFlagAndOwnerNames: --foreground stays in the foreground,
// and uid=/gid= take names as chown does.
func TestForegroundFlagAndOwnerNames(t *testing.T) {
	requireFUSE(t)
	srv, pin := startSmall(t)
	mnt := t.TempDir()
	cmd := exec.Command(binary, "ftpes://test@"+srv.Addr+"/", mnt, "--foreground", "-o", pin+",uid=nobody,gid=nogroup")
	cmd.Env = append(os.Environ(), "FTPSFS_PASSWORD="+srv.Opts.Password)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); !isMounted(mnt); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("ftpsfs --foreground exited before mounting (%v): %s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("not mounted: %s", logs)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(mnt, "hello.txt"), &st); err != nil {
		t.Fatal(err)
	}
	uid, gid := lookupIDs(t, "nobody") // Debian: nobody's group is nogroup
	if int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("owner %d:%d, want nobody:nogroup = %d:%d", st.Uid, st.Gid, uid, gid)
	}
	run(t, "umount", mnt)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ftpsfs --foreground exited with %v: %s", err, logs)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("ftpsfs --foreground did not exit after umount")
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("log: %s", logs)
	}
}
