package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestVersionNamesGoAndGoFuse(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, &out); code != exitOK {
		t.Fatalf("--version exit %d: %s", code, out.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ftpsfs ") || lines[1] != "Go "+runtime.Version() ||
		!strings.HasPrefix(lines[2], "go-fuse v2.") {
		t.Errorf("--version printed %q, want ftpsfs VERSION, Go %s and go-fuse v2.x on three lines", lines, runtime.Version())
	}
}
