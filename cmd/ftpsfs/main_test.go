package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/ftpsfs/ftpsfs/mountopts"
	"github.com/ftpsfs/ftpsfs/pool"
)

func TestUserMessageIsOneLine(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&pool.DialError{Addr: "h:21", Err: fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)}, "cannot connect to h:21: connection refused"},
		{errors.Join(errors.New("first"), errors.New("second")), "first; second"},
		{errors.New("plain"), "plain"},
	}
	for _, c := range cases {
		got := userMessage(c.err)
		if strings.Contains(got, "\n") || !strings.HasPrefix(got, c.want) {
			t.Errorf("userMessage(%v) = %q, want prefix %q on one line", c.err, got, c.want)
		}
	}
}

func TestWithoutPasswordStripsTheSecret(t *testing.T) {
	env := withoutPassword([]string{"HOME=/root", "FTPSFS_PASSWORD=s3cret", daemonEnv + "=1", "PATH=/bin"})
	if got := strings.Join(env, " "); strings.Contains(got, "s3cret") || strings.Contains(got, daemonEnv) || !strings.Contains(got, "PATH=/bin") {
		t.Errorf("withoutPassword: %q", got)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, argv := range [][]string{
		{},
		{"--bogus"},
		{"ftps://h/", "/mnt", "-o", "nonsense"},
		{"gopher://h/", "/mnt"},
	} {
		out.Reset()
		errOut.Reset()
		if code := run(argv, &out, &errOut); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", argv, code, exitUsage, errOut.String())
		}
		if lines := strings.Count(errOut.String(), "\n"); lines != 1 {
			t.Errorf("%q: %d lines on stderr: %q", argv, lines, errOut.String())
		}
	}
}

func TestHelpListsEveryGroup(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, g := range mountopts.Groups() {
		if !strings.Contains(out.String(), g.Title+" options:") {
			t.Errorf("--help lacks the %s group", g.Title)
		}
	}
}

func TestChildArgsHideTheURLPassword(t *testing.T) {
	argv := []string{"-o", "ro", "ftps://alice:s3cret@host/pub", "/mnt", "-f"}
	got := strings.Join(childArgs(argv, argv[2], "ftps://alice@host:990/pub"), " ")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "ftps://alice@host:990/pub /mnt") {
		t.Errorf("child argv %q", got)
	}
	if argv[2] != "ftps://alice:s3cret@host/pub" {
		t.Error("childArgs changed its input")
	}
}

// help, version and umount are words people type; they used to get
// "missing mount point" or "bad URL".
func TestWordsPeopleType(t *testing.T) {
	runOut := func(argv ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(argv, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	for word, flag := range map[string]string{"help": "--help", "version": "--version"} {
		code, out, errOut := runOut(word)
		_, want, _ := runOut(flag)
		if code != 0 || out != want || errOut != "" {
			t.Errorf("ftpsfs %s: exit %d, stdout %q, stderr %q; want what %s prints: %q", word, code, out, errOut, flag, want)
		}
	}
	dir := t.TempDir()
	code, _, errOut := runOut("umount", dir)
	if code != exitFailure || errOut != "ftpsfs: "+dir+" is not mounted\n" {
		t.Errorf("ftpsfs umount of a plain directory: exit %d, %q", code, errOut)
	}
}

// The mount point is checked before any password is asked for, so a typo
// there does not cost typing the password first.
func TestMountPointCheckedBeforePassword(t *testing.T) {
	t.Setenv("FTPSFS_PASSWORD", "")
	t.Setenv("NETRC", t.TempDir()+"/none")
	var out, errOut bytes.Buffer
	code := run([]string{"ftpes://alice@127.0.0.1:1/", t.TempDir() + "/missing"}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "does not exist") {
		t.Errorf("exit %d, %q: want the missing mount point reported first", code, errOut.String())
	}
}
