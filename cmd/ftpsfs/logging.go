package main

import (
	"io"
	"log/slog"
	"log/syslog"
	"os"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// newLogger logs to stderr in the foreground, and in the background to
// log_file= when given, else to syslog (the journal).
func newLogger(cfg *mountopts.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var w io.Writer = stderr
	closeFn := func() {}
	switch {
	case cfg.LogFile != "":
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, err
		}
		w, closeFn = f, func() { f.Close() }
	case !cfg.Foreground:
		sl, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "ftpsfs")
		if err != nil {
			w = io.Discard // no syslog daemon: nowhere to write
		} else {
			w, closeFn = sl, func() { sl.Close() }
		}
	}
	return slog.New(slog.NewTextHandler(w, opts)), closeFn, nil
}
