package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// renderMan formats the generated page with man(1) at 80 columns and returns
// the text and whatever man and groff printed on stderr.
func renderMan(t *testing.T) (text, warnings string) {
	t.Helper()
	if _, err := exec.LookPath("man"); err != nil {
		t.Fatal("man not found: apt-get install man-db (make deps installs it as root)")
	}
	page := filepath.Join(t.TempDir(), "ftpsfs.1")
	if err := writeFile(page, func(w io.Writer) error { return writeMan(w, "1.2.3-test", "2026-12-01") }); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("man", "--warnings", "-l", page)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man --warnings -l %s: %v: %s", page, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestManPageRendersWithoutWarnings(t *testing.T) {
	if _, warnings := renderMan(t); warnings != "" {
		t.Errorf("MANWIDTH=80 man --warnings -l warns:\n%s", warnings)
	}
}

func TestManPageCoversEveryOption(t *testing.T) {
	text, _ := renderMan(t)
	for _, d := range mountopts.Docs() {
		// Each option is the tag of its own paragraph; a list of names
		// wraps, so only its first name is sure to start a line.
		name, _, _ := strings.Cut(d.Name, ", ")
		tag := regexp.MustCompile(`(?m)^ {7}` + regexp.QuoteMeta(name) + `(=|,|  |$)`)
		if !tag.MatchString(text) {
			t.Errorf("the man page has no paragraph for option %s", name)
		}
		if words := strings.Fields(d.Help); !strings.Contains(text, words[len(words)-1]) {
			t.Errorf("the man page lacks the description of %s", name)
		}
	}
	for _, want := range []string{"SYNOPSIS", "URLS", "ftps://[user@]host[:port]/path", "ftpes://", "OPTIONS", "-V, --version",
		"MOUNT OPTIONS", "PASSWORDS", "FTPSFS_PASSWORD", "~/.netrc", "CERTIFICATES", "FSTAB AND MOUNT(8)",
		"fuse.ftpsfs _netdev,nofail", "EXIT STATUS", "ENVIRONMENT", "ftpsfs 1.2.3-test", "2026-12-01"} {
		if !strings.Contains(text, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}
}

func TestRoffEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`-o a\b`: `\-o a\eb`,
		".ro":    `\&.ro`,
		"'x":     `\&'x`,
		"a.b":    "a.b",
		"AB:…":   `AB:\[u2026]`,
	} {
		if got := roff(in); got != want {
			t.Errorf("roff(%q) = %q, want %q", in, got, want)
		}
	}
}
