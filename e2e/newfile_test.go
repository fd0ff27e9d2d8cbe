package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNewFilesGoStraightToTheirNames: cp -r of new files into the mount
// sends each with one STOR to its own name (no temporary, no RNFR/RNTO:
// there is no previous copy to protect), keeps the mode a file was created
// with, and replacing a file that exists still goes through a temporary.
func TestNewFilesGoStraightToTheirNames(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startVsftpd(t, root, false)
	m := mountForeground(t, s.URL, s.Env, s.Opts...)

	src := filepath.Join(t.TempDir(), "tree")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		data := bytes.Repeat([]byte(fmt.Sprintf("file %d\n", i)), 100+i)
		if err := os.WriteFile(filepath.Join(src, "sub", fmt.Sprintf("f%02d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-r", src, filepath.Join(m.Dir, "tree")).CombinedOutput(); err != nil {
		t.Fatalf("cp -r: %v: %s", err, out)
	}
	// A file created 0600 is never readable by others, even half-way.
	if out, err := exec.Command("sh", "-c", "umask 077 && echo secret > "+filepath.Join(m.Dir, "private")).CombinedOutput(); err != nil {
		t.Fatalf("create 0600: %v: %s", err, out)
	}
	// Replacing an existing file still uses a temporary.
	if err := os.WriteFile(filepath.Join(m.Dir, "tree", "sub", "f00"), []byte("replaced\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for i := 1; i < n; i++ {
		rel := filepath.Join("tree", "sub", fmt.Sprintf("f%02d", i))
		want, _ := os.ReadFile(filepath.Join(src, "sub", fmt.Sprintf("f%02d", i)))
		if got, err := os.ReadFile(filepath.Join(root, rel)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s on the server: %q, %v; want the %d bytes copied", rel, got, err, len(want))
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, "tree", "sub", "f00")); string(got) != "replaced\n" {
		t.Errorf("f00 on the server: %q, want the replacement", got)
	}
	if st, err := os.Stat(filepath.Join(root, "private")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private on the server: %v, %v; want mode 0600", st, err)
	}

	log := s.Log()
	stor := regexp.MustCompile(`FTP command: Client "[^"]*", "STOR ([^"]*)"`)
	rnto := regexp.MustCompile(`FTP command: Client "[^"]*", "RNTO (/tree/[^"]*)"`)
	direct, viaTemp := 0, 0
	for _, mm := range stor.FindAllStringSubmatch(log, -1) {
		if strings.HasPrefix(mm[1], "/tree/") && strings.Contains(mm[1], ".ftpsfs-upload-") {
			viaTemp++
		} else if strings.Contains(mm[1], "/tree/sub/f") {
			direct++
		}
	}
	renames := len(rnto.FindAllStringSubmatch(log, -1))
	// n-1 new files, plus f00 itself when it was new: each one STOR to its name.
	if direct != n {
		t.Errorf("%d STORs to the files' own names, want %d (one per new file)", direct, n)
	}
	if viaTemp != 1 || renames != 1 {
		t.Errorf("%d STORs to temporaries and %d renames under /tree, want 1 and 1 (only the replacement of f00)\n%s", viaTemp, renames, tail(log, 60))
	}
}
