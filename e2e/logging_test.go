package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoggingWithoutSyslog: a background mount on a system without a syslog
// socket says so once on stderr, naming the file it logs to instead, and
// that file gets the log (today the lines were discarded).
func TestLoggingWithoutSyslog(t *testing.T) {
	requireFUSE(t)
	srv, pin := startSmall(t)
	state := t.TempDir()
	env := []string{"FTPSFS_PASSWORD=" + srv.Opts.Password, "XDG_STATE_HOME=" + state,
		"FTPSFS_SYSLOG_SOCKET=" + filepath.Join(t.TempDir(), "no-syslog-here")}
	mnt := t.TempDir()
	code, stderr, _ := runFtpsfs(t, env, "ftpes://test@"+srv.Addr+"/", mnt, "-o", pin)
	if code != 0 {
		t.Fatalf("mount: exit %d: %s", code, stderr)
	}
	t.Cleanup(func() {
		if isMounted(mnt) {
			umountAndWait(t, mnt)
		}
	})
	logFile := filepath.Join(state, "ftpsfs", "ftpsfs.log")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ftpsfs: syslog is not reachable") || !strings.HasSuffix(lines[0], "logging to "+logFile) {
		t.Errorf("want one notice line naming %s, got %q", logFile, stderr)
	}
	run(t, "ls", mnt)
	umountAndWait(t, mnt)
	var text string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(logFile)
		if text = string(b); strings.Contains(text, "msg=unmounted") {
			break
		}
	}
	for _, want := range []string{"level=INFO msg=mounted", "msg=unmounted"} {
		if !strings.Contains(text, want) {
			t.Errorf("fallback log lacks %q:\n%s", want, text)
		}
	}
}
