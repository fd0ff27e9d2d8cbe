package main

import (
	"io"
	"log/slog"
	"os"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// newLogger logs to stderr in the foreground, and in the background to
// log_file= when given, else to syslog (the journal) with each level at its
// syslog severity, else (no syslog) to the fallback file.
func newLogger(cfg *mountopts.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch {
	case cfg.LogFile != "":
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return slog.New(slog.NewTextHandler(f, opts)), func() { f.Close() }, nil
	case cfg.Foreground:
		return slog.New(slog.NewTextHandler(stderr, opts)), func() {}, nil
	}
	if sl, err := dialSyslog(); err == nil {
		return slog.New(newSyslogHandler(sl, level)), func() { sl.Close() }, nil
	}
	// Syslog went away after the parent checked it: nobody to tell now, so
	// the log goes where the README says.
	if path := defaultFallbackLogPath(); path != "" {
		if f, err := openLogFile(path); err == nil {
			return slog.New(slog.NewTextHandler(f, opts)), func() { f.Close() }, nil
		}
	}
	return slog.New(slog.DiscardHandler), func() {}, nil
}
