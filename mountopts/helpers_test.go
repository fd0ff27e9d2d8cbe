package mountopts

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// fakeEnv is an Env over in-memory files (absolute paths) and variables.
func fakeEnv(vars map[string]string, home string, files fstest.MapFS) Env {
	rel := func(p string) string { return strings.TrimPrefix(p, "/") }
	return Env{
		Getenv:   func(k string) string { return vars[k] },
		HomeDir:  home,
		ReadFile: func(p string) ([]byte, error) { return fs.ReadFile(files, rel(p)) },
		Stat:     func(p string) (fs.FileInfo, error) { return fs.Stat(files, rel(p)) },
	}
}

// file is a MapFS entry with the given permission bits.
func file(data string, perm fs.FileMode) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(data), Mode: perm}
}

// checkErr fails unless err is non-nil, contains want, is one line and
// contains none of the secrets.
func checkErr(t *testing.T, err error, want string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q leaks secret %q", msg, s)
		}
	}
}
