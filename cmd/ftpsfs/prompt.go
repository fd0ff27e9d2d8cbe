package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/ftpsfs/ftpsfs/mountopts"
	"github.com/ftpsfs/ftpsfs/pool"
)

// askPassword asks for the password at the terminal, without echo, as
// sshfs does, when no other source had one. Only when stdin is a terminal:
// under fstab, systemd or a script nobody could answer, and the caller's
// clear error is better than a hang.
func askPassword(cfg *mountopts.Config, stdin *os.File, prompt io.Writer) error {
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	state, err := term.GetState(fd)
	if err != nil {
		return fmt.Errorf("reading the password from the terminal: %w", err)
	}
	// Ctrl-C while echo is off would otherwise leave the terminal silent.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		select {
		case <-sigs:
			_ = term.Restore(fd, state)
			fmt.Fprintln(prompt)
			os.Exit(exitFailure)
		case <-done:
		}
	}()

	fmt.Fprintf(prompt, "Password for %s: ", pool.TerminalSafe(cfg.User+"@"+cfg.Host))
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt) // the Enter was not echoed
	if err != nil {
		return fmt.Errorf("reading the password from the terminal: %w", err)
	}
	if strings.ContainsAny(string(pw), "\r\n\x00") {
		return fmt.Errorf("the password typed contains a line break or NUL")
	}
	cfg.Password, cfg.PasswordSource = mountopts.Secret(pw), mountopts.SourcePrompt
	return nil
}
