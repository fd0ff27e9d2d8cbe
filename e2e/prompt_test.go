package e2e

import (
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPasswordPromptAtTerminal: without a password source, the command run
// at a terminal asks for the password with echo off, mounts with it, and
// never shows it.
func TestPasswordPromptAtTerminal(t *testing.T) {
	requireFUSE(t)
	srv, pin := startSmall(t)
	master, slave := openPTY(t)
	mnt := t.TempDir()
	cmd := exec.Command(binary, "ftpes://test@"+srv.Addr+"/", mnt, "-o", pin)
	cmd.Env = withoutEnv("FTPSFS_PASSWORD", "NETRC")
	cmd.Env = append(cmd.Env, "NETRC="+filepath.Join(t.TempDir(), "none"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	screen := &lockedBuffer{}
	go func() { _, _ = io.Copy(screen, master) }()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})

	// Type only once the prompt is shown and echo is off, as a person would.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(screen.String(), "Password for test@127.0.0.1: ") || echoOn(t, slave) {
		select {
		case err := <-done:
			t.Fatalf("ftpsfs exited (%v) without asking; the terminal shows %q", err, screen)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no prompt with echo off after 10s; the terminal shows %q (echo on: %v)", screen, echoOn(t, slave))
		}
	}
	if _, err := io.WriteString(master, srv.Opts.Password+"\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ftpsfs: %v; the terminal shows %q", err, screen)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("ftpsfs did not return; the terminal shows %q", screen)
	}
	if !echoOn(t, slave) {
		t.Error("echo is still off after the prompt")
	}
	if strings.Contains(screen.String(), srv.Opts.Password) {
		t.Errorf("the password was shown: %q", screen)
	}
	if got := run(t, "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
		t.Errorf("cat: %q", got)
	}
	umountAndWait(t, mnt)
}

// TestNoPromptWithoutTerminal: fstab, systemd and scripts have no terminal
// on stdin; they get the clear one-line error at once, never a prompt.
func TestNoPromptWithoutTerminal(t *testing.T) {
	srv, pin := startSmall(t)
	env := withoutEnv("FTPSFS_PASSWORD", "NETRC")
	env = append(env, "NETRC="+filepath.Join(t.TempDir(), "none"))
	cmd := exec.Command(binary, "ftpes://test@"+srv.Addr+"/", t.TempDir(), "-o", pin)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(srv.Opts.Password + "\n") // a pipe: not to be read as a password
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2: %s", err, out)
	}
	if strings.Contains(string(out), "Password for") || !strings.Contains(string(out), "no password for test@127.0.0.1") ||
		strings.Count(string(out), "\n") != 1 {
		t.Errorf("want the one-line error and no prompt, got %q", out)
	}
}
