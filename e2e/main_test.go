package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the ftpsfs command under test, built once.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ftpsfs-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Other users run it too (the unprivileged-mount test).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Mounts in the background log to a file when syslog is not there (no
	// /dev/log in containers); as root that file is /var/log/ftpsfs.log
	// unless XDG_STATE_HOME points elsewhere: keep the tests' logs out of it.
	if err := os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binary = filepath.Join(dir, "ftpsfs")
	// The race detector slows a FUSE server about tenfold; the unit tests
	// (including fusefs's real mounts) run under -race, and
	// FTPSFS_E2E_RACE=1 builds this binary with it too.
	args := []string{"build", "-o", binary}
	if os.Getenv("FTPSFS_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/ftpsfs")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ftpsfs:", err)
		return 1
	}
	return m.Run()
}
