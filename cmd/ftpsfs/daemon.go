package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// The background process is this same program started again with
// daemonEnv set. It gets the password on an inherited pipe (never in argv or
// the environment) and reports "ok" or the error on another pipe, so the
// command mount(8) waits for exits only once the filesystem is mounted, with
// the real reason when it is not.
const daemonEnv = "_FTPSFS_DAEMON"

const (
	readyFD    = 3
	passwordFD = 4
)

func inDaemon() bool { return os.Getenv(daemonEnv) == "1" }

func daemonize(argv, env []string, cfg *mountopts.Config, stderr io.Writer) error {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	pwR, pwW, err := os.Pipe()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, argv...)
	cmd.Env = append(append(withoutPassword(os.Environ()), daemonEnv+"=1"), env...)
	cmd.ExtraFiles = []*os.File{readyW, pwR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cfg.LogFile != "" {
		// Anything the runtime itself prints (a crash) lands beside the logs.
		if f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
			cmd.Stderr = f
			defer f.Close()
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the background process: %w", err)
	}
	readyW.Close()
	pwR.Close()
	_, _ = io.WriteString(pwW, cfg.Password.Reveal())
	pwW.Close()

	msg, _ := io.ReadAll(bufio.NewReader(readyR))
	status := strings.TrimSpace(string(msg))
	if status == "ok" {
		_ = cmd.Process.Release()
		return nil
	}
	werr := cmd.Wait()
	if status == "" {
		return fmt.Errorf("the background process exited before mounting (%v); run with -f to see why", werr)
	}
	return errors.New(status)
}

// withoutPassword keeps FTPSFS_PASSWORD out of the background process (it
// gets the password on a pipe), and the variables only the parent sets.
func withoutPassword(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "FTPSFS_PASSWORD=") && !strings.HasPrefix(e, daemonEnv+"=") && !strings.HasPrefix(e, logFileEnv+"=") {
			out = append(out, e)
		}
	}
	return out
}

func receivePassword(cfg *mountopts.Config) error {
	f := os.NewFile(passwordFD, "password")
	if f == nil {
		return errors.New("background process started without its password pipe")
	}
	defer f.Close()
	pw, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("reading the password pipe: %w", err)
	}
	cfg.Password = mountopts.Secret(pw)
	if len(pw) > 0 && cfg.PasswordSource == "" {
		cfg.PasswordSource = "parent"
	}
	return nil
}

// notifyParent tells the waiting command how the mount went. A no-op in the
// foreground.
func notifyParent(err error) {
	if !inDaemon() {
		return
	}
	f := os.NewFile(readyFD, "ready")
	if f == nil {
		return
	}
	defer f.Close()
	if err != nil {
		fmt.Fprintln(f, userMessage(err))
		return
	}
	fmt.Fprintln(f, "ok")
}
