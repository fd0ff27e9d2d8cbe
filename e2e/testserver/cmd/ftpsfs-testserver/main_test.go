package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRunServesUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	ready := filepath.Join(dir, "ready")
	pwFile := filepath.Join(dir, "pw")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-root", root, "-listen", "127.0.0.1:0", "-sample",
			"-password-file", pwFile, "-ready-file", ready}, &stdout, &stderr)
	}()

	var line []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if line, err = os.ReadFile(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no ready file: %v; stderr: %s", <-done, stderr.String())
		}
	}
	m := regexp.MustCompile(`^ftpes://test@(127\.0\.0\.1:\d+)/ (SHA256(:[0-9A-F]{2}){32})\n$`).FindSubmatch(line)
	if m == nil {
		t.Fatalf("ready file %q", line)
	}
	if st, err := os.Stat(pwFile); err != nil || st.Mode().Perm() != 0o600 || st.Size() < 17 {
		t.Fatalf("password file: %v %v", st, err)
	}
	for _, f := range []string{"README.txt", "random-1MiB.bin", "subdir/résumé notes.txt"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Error(err)
		}
	}
	c, err := net.Dial("tcp", string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	greeting, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(greeting, "220 ") {
		t.Errorf("greeting %q", greeting)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := "fingerprint=" + string(m[2]); !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q lacks %q", stdout.String(), want)
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Errorf("ready file left after exit: %v", err)
	}
}
