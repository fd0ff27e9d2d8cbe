package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"
)

// syslogSocketEnv points the background logger at another syslog socket
// than /dev/log: for tests, and for systems whose syslog listens elsewhere.
const syslogSocketEnv = "FTPSFS_SYSLOG_SOCKET"

const syslogTag = "ftpsfs"

// dialSyslog connects to the local syslog daemon (the journal's /dev/log).
func dialSyslog() (*syslog.Writer, error) {
	path := os.Getenv(syslogSocketEnv)
	if path == "" {
		return syslog.Dial("", "", syslog.LOG_DAEMON|syslog.LOG_INFO, syslogTag)
	}
	w, err := syslog.Dial("unixgram", path, syslog.LOG_DAEMON|syslog.LOG_INFO, syslogTag)
	if err != nil {
		var err2 error
		if w, err2 = syslog.Dial("unix", path, syslog.LOG_DAEMON|syslog.LOG_INFO, syslogTag); err2 != nil {
			return nil, errors.Join(err, err2)
		}
	}
	return w, nil
}

// severity maps a log level to the syslog severity it is sent with, so
// journalctl -p and syslog filters see warnings and errors as such.
func severity(l slog.Level) syslog.Priority {
	switch {
	case l < slog.LevelInfo:
		return syslog.LOG_DEBUG
	case l < slog.LevelWarn:
		return syslog.LOG_INFO
	case l < slog.LevelError:
		return syslog.LOG_WARNING
	}
	return syslog.LOG_ERR
}

// severityWriter is the part of *syslog.Writer that sends one message at
// a given severity.
type severityWriter interface {
	Debug(string) error
	Info(string) error
	Warning(string) error
	Err(string) error
}

func sendAt(w severityWriter, p syslog.Priority, msg string) error {
	switch p {
	case syslog.LOG_DEBUG:
		return w.Debug(msg)
	case syslog.LOG_INFO:
		return w.Info(msg)
	case syslog.LOG_WARNING:
		return w.Warning(msg)
	}
	return w.Err(msg)
}

// syslogHandler formats records as the text handler does (without the
// time, which syslog adds) and sends each at its level's severity.
type syslogHandler struct {
	text slog.Handler // writes into buf
	buf  *bytes.Buffer
	mu   *sync.Mutex // guards buf, shared by handlers derived with WithAttrs
	w    severityWriter
}

func newSyslogHandler(w severityWriter, level slog.Leveler) *syslogHandler {
	buf := &bytes.Buffer{}
	dropTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	text := slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime})
	return &syslogHandler{text: text, buf: buf, mu: &sync.Mutex{}, w: w}
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	return sendAt(h.w, severity(r.Level), strings.TrimSuffix(h.buf.String(), "\n"))
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &syslogHandler{text: h.text.WithAttrs(attrs), buf: h.buf, mu: h.mu, w: h.w}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{text: h.text.WithGroup(name), buf: h.buf, mu: h.mu, w: h.w}
}
