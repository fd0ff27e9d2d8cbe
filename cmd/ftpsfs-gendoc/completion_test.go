package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// completer sources the generated script in bash and returns what _ftpsfs
// offers for a command line with the cursor at its end.
func completer(t *testing.T) func(line string) []string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash not found: apt-get install bash")
	}
	script := filepath.Join(t.TempDir(), "ftpsfs")
	if err := writeFile(script, writeCompletion); err != nil {
		t.Fatal(err)
	}
	// COMP_WORDS is split on blanks only here; _ftpsfs reads COMP_LINE.
	const driver = `source "$1" || exit 1
[[ $(complete -p ftpsfs) == "complete -F _ftpsfs ftpsfs" ]] || { echo "ftpsfs has no completion" >&2; exit 1; }
COMP_LINE=$2 COMP_POINT=${#2}
read -ra COMP_WORDS <<<"$2"
[[ $2 == *' ' ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_ftpsfs ftpsfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\0' "${COMPREPLY[@]}"
`
	return func(line string) []string {
		t.Helper()
		cmd := exec.Command("bash", "--norc", "--noprofile", "-c", driver, "bash", script, line)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("completing %q: %v: %s", line, err, stderr.String())
		}
		reply := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if len(reply) == 1 && reply[0] == "" {
			return nil
		}
		return reply
	}
}

func TestCompletionOffersEveryOption(t *testing.T) {
	complete := completer(t)
	var names []string // every name of the table, as typed before a value
	for _, d := range mountopts.Docs() {
		for _, n := range strings.Split(d.Name, ", ") {
			if n == "x-*" { // a pattern, nothing to complete
				continue
			}
			if d.Arg != "" {
				n += "="
			}
			names = append(names, n)
		}
	}
	for _, prefix := range []string{"", "ro,"} {
		line := "ftpsfs ftpes://alice@host/ /mnt -o " + prefix
		got := complete(line)
		for _, n := range names {
			if !slices.Contains(got, prefix+n) {
				t.Errorf("%q: %s is not offered (got %q)", line, prefix+n, got)
			}
		}
		if len(got) != len(names) {
			t.Errorf("%q: offered %d words, the table has %d names", line, len(got), len(names))
		}
	}
}

func TestCompletionOfValuesAndArguments(t *testing.T) {
	complete := completer(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pass"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "mnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	choices := func(name string) []string {
		for _, d := range mountopts.Docs() {
			if d.Name == name {
				return strings.Split(d.Arg, "|")
			}
		}
		t.Fatalf("no option %s", name)
		return nil
	}
	// Readline replaces only what follows the last of COMP_WORDBREAKS
	// (= : @ among them), so replies after those characters start there.
	for _, c := range []struct {
		line string
		want []string
	}{
		{"ftpsfs u /mnt -o ro,conn", []string{"ro,connections="}},
		{"ftpsfs u /mnt -oro,conn", []string{"-oro,connections="}},
		{"ftpsfs u /mnt -o ro,tls=", choices("tls")},
		{"ftpsfs u /mnt -o tls_max=1.", choices("tls_max")},
		{"ftpsfs u /mnt -o ro,password_file=" + dir + "/pa", []string{dir + "/pass"}},
		{"ftpsfs u /mnt -o password-file=" + dir + "/pa", []string{dir + "/pass"}},
		{"ftpsfs u /mnt -o fingerprint=SHA256:AB", nil},
		{"ftpsfs ", []string{"check", "ftps://", "ftpes://", "ftp://"}},
		{"ftpsfs ftpe", []string{"ftpes://"}},
		{"ftpsfs ftpes:", []string{"//"}},
		{"ftpsfs -o ro ftpes://alice@host/ " + dir + "/m", []string{dir + "/mnt"}},
		{"ftpsfs check ftpes://alice@host/ ", nil},
		{"ftpsfs --v", []string{"--version"}},
	} {
		if got := complete(c.line); !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.line, got, c.want)
		}
	}
}
