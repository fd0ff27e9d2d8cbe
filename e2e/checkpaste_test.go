package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// withoutEnv is os.Environ without the named variables.
func withoutEnv(names ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+name+" ") {
			env = append(env, e)
		}
	}
	return env
}

// TestCheckMountWithLinePastes: the "mount with:" line of `ftpsfs check`,
// pasted into a shell with MOUNTPOINT filled in, mounts (it keeps
// password_file= and the other options given).
func TestCheckMountWithLinePastes(t *testing.T) {
	requireFUSE(t)
	srv, pin := startSmall(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pass word") // a path the shell must get quoted
	if err := os.WriteFile(pw, []byte(srv.Opts.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "ftpes://test@" + srv.Addr + "/"
	check := exec.Command(binary, "check", url, "-o", "password_file="+pw+","+pin+",ro")
	check.Env = withoutEnv("FTPSFS_PASSWORD", "NETRC")
	out, err := check.Output()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	var line string
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "mount with:"); ok {
			line = strings.TrimSpace(rest)
		}
	}
	if !strings.HasPrefix(line, "ftpsfs ") || !strings.Contains(line, "MOUNTPOINT") {
		t.Fatalf("no mount with: line:\n%s", out)
	}
	mnt := t.TempDir()
	pasted := binary + strings.TrimPrefix(strings.Replace(line, "MOUNTPOINT", mnt, 1), "ftpsfs")
	t.Logf("pasting: %s", pasted)
	sh := exec.Command("sh", "-c", pasted)
	sh.Env = withoutEnv("FTPSFS_PASSWORD", "NETRC")
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the pasted line failed: %v: %s", err, out)
	}
	if !isMounted(mnt) {
		t.Fatal("the pasted line returned 0 but nothing is mounted")
	}
	if got := run(t, "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
		t.Errorf("cat: %q", got)
	}
	if err := os.WriteFile(filepath.Join(mnt, "x"), nil, 0o644); err == nil {
		t.Error("ro was dropped: a write succeeded")
	}
	umountAndWait(t, mnt)
}
