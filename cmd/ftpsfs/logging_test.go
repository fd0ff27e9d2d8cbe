package main

import (
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

func TestSeverityMapping(t *testing.T) {
	for level, want := range map[slog.Level]syslog.Priority{
		slog.LevelDebug: syslog.LOG_DEBUG, slog.LevelDebug - 4: syslog.LOG_DEBUG,
		slog.LevelInfo: syslog.LOG_INFO, slog.LevelInfo + 1: syslog.LOG_INFO,
		slog.LevelWarn: syslog.LOG_WARNING, slog.LevelError: syslog.LOG_ERR, slog.LevelError + 4: syslog.LOG_ERR,
	} {
		if got := severity(level); got != want {
			t.Errorf("severity(%v) = %d, want %d", level, got, want)
		}
	}
}

// TestSyslogGetsSeverities logs one line per level in the background
// setup and reads what a syslog daemon would receive: daemon facility (3),
// each line at its own severity, no time (syslog adds it).
func TestSyslogGetsSeverities(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv(syslogSocketEnv, sock)
	log, closeLog, err := newLogger(&mountopts.Config{Debug: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log.Debug("d-line", "k", 1)
	log.With("conn", 2).Info("i-line")
	log.Warn("w-line")
	log.Error("e-line")
	for _, want := range []struct{ prio, msg string }{{"<31>", "msg=d-line k=1"}, {"<30>", "msg=i-line conn=2"}, {"<28>", "msg=w-line"}, {"<27>", "msg=e-line"}} {
		buf := make([]byte, 2048)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want.msg, err)
		}
		got := string(buf[:n])
		if !strings.HasPrefix(got, want.prio) || !strings.Contains(got, want.msg) || strings.Contains(got, "time=") {
			t.Errorf("syslog got %q, want priority %s and %q without time=", got, want.prio, want.msg)
		}
	}
}

func TestFallbackLogPath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		vars map[string]string
		uid  int
		home string
		want string
	}{
		{nil, 0, "/root", "/var/log/ftpsfs.log"},
		{nil, 1000, "/home/a", "/home/a/.local/state/ftpsfs/ftpsfs.log"},
		{map[string]string{"XDG_STATE_HOME": "/x/state"}, 1000, "/home/a", "/x/state/ftpsfs/ftpsfs.log"},
		{map[string]string{"XDG_STATE_HOME": "/x/state"}, 0, "/root", "/x/state/ftpsfs/ftpsfs.log"},
		{map[string]string{"XDG_STATE_HOME": "relative"}, 1000, "/home/a", "/home/a/.local/state/ftpsfs/ftpsfs.log"},
		{nil, 1000, "", ""},
	}
	for _, c := range cases {
		if got := fallbackLogPath(env(c.vars), c.uid, c.home); got != c.want {
			t.Errorf("%v uid %d home %q: %q, want %q", c.vars, c.uid, c.home, got, c.want)
		}
	}
}

// Without a syslog socket the parent picks the fallback file, creates it
// private, and has one line to say so.
func TestLogTargetWithoutSyslog(t *testing.T) {
	state := t.TempDir()
	t.Setenv(syslogSocketEnv, filepath.Join(t.TempDir(), "no-such-socket"))
	t.Setenv("XDG_STATE_HOME", state)
	path, notice := logTarget()
	want := filepath.Join(state, "ftpsfs", "ftpsfs.log")
	if path != want {
		t.Errorf("path %q, want %q", path, want)
	}
	if !strings.Contains(notice, "syslog is not reachable") || !strings.Contains(notice, "logging to "+want) || strings.Contains(notice, "\n") {
		t.Errorf("notice %q", notice)
	}
	if fi, err := os.Stat(want); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("fallback file: %v %v", fi, err)
	}
}
