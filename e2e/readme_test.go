package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// TestReadmeDocumentsEveryOption: every option name the parser knows
// appears in the README, quoted as code (`name` or `name=…`).
func TestReadmeDocumentsEveryOption(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, d := range mountopts.Docs() {
		for _, name := range strings.Split(d.Name, ", ") {
			if !strings.Contains(readme, "`"+name+"`") && !strings.Contains(readme, "`"+name+"=") {
				t.Errorf("README.md does not document option %s (as `%s` or `%s=…`)", name, name, name)
			}
		}
	}
	// Relative links lead to files of the repository.
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(readme, -1) {
		if _, err := os.Stat(filepath.Join("..", m[1])); err != nil {
			t.Errorf("README.md links to %s, which is not in the repository", m[1])
		}
	}
}

// forbiddenReferences are signs of a file pointing outside the repository:
// documents of the machine it was written on, and its paths.
// Spelled in pieces, so this file does not itself hold them.
var forbiddenReferences = []string{"../" + "shared", "FTPS-" + "FACTS", "DESIGN" + ".md", "STYLE" + ".md", "/" + "work/"}

// TestNoFilePointsOutsideTheRepository: no tracked file refers to
// documents or paths that are not part of the project.
func TestNoFilePointsOutsideTheRepository(t *testing.T) {
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files (this test needs git and a git checkout: apt-get install git): %v", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 50 {
		t.Fatalf("git ls-files listed only %d files", len(files))
	}
	for _, f := range files {
		if f == "e2e/readme_test.go" { // it names them
			continue
		}
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, ref := range forbiddenReferences {
				if strings.Contains(line, ref) {
					t.Errorf("%s:%d refers to %s, outside the repository: %s", f, i+1, ref, strings.TrimSpace(line))
				}
			}
		}
	}
}
