package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// makeDryRun is what `make -n TARGET` would run, from the repository root.
func makeDryRun(t *testing.T, target string) string {
	t.Helper()
	cmd := exec.Command("make", "-n", "--no-print-directory", target)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v: %s (apt-get install make)", target, err, out)
	}
	return string(out)
}

// TestMakeDemoInstallsOnlyFuse: make demo installs what the demo uses
// (fuse3), not vsftpd, whose package starts an FTP server on port 21 where
// systemd runs, nor rsync; make test installs all three.
func TestMakeDemoInstallsOnlyFuse(t *testing.T) {
	demo := makeDryRun(t, "demo")
	if !strings.Contains(demo, "fuse3=fusermount3") {
		t.Errorf("make demo does not check for fuse3:\n%s", demo)
	}
	for _, pkg := range []string{"vsftpd", "rsync"} {
		if strings.Contains(demo, pkg) {
			t.Errorf("make demo would install %s:\n%s", pkg, demo)
		}
	}
	test := makeDryRun(t, "test")
	for _, pkg := range []string{"fuse3=", "vsftpd=", "rsync="} {
		if !strings.Contains(test, pkg) {
			t.Errorf("make test does not install %s:\n%s", strings.TrimSuffix(pkg, "="), test)
		}
	}
}
