package main

import (
	"errors"
	"os"
	"strings"
	"syscall"

	"github.com/ftpsfs/ftpsfs/pool"
)

// userMessage renders an error as the one line a person reads. Errors
// carry server replies, so control bytes are escaped: every message that
// reaches the terminal goes through here or through checker.line.
func userMessage(err error) string {
	return pool.TerminalSafe(message(err))
}

func message(err error) string {
	var de *pool.DialError
	switch {
	case errors.As(err, &de) && errors.Is(err, syscall.ECONNREFUSED):
		return "cannot connect to " + de.Addr + ": connection refused (is the server running, and is the port right?)"
	case errors.As(err, &de) && errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer from " + de.Addr + " in time (the server did not respond within timeout=)"
	case errors.As(err, &de) && errors.Is(err, syscall.EHOSTUNREACH), errors.As(err, &de) && errors.Is(err, syscall.ENETUNREACH):
		return "cannot reach " + de.Addr + ": " + errors.Unwrap(de.Err).Error()
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
