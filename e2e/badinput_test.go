package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// runFtpsfs runs the command as a user would (daemonizing), bounded in time.
func runFtpsfs(t *testing.T, env []string, args ...string) (code int, stderr string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("ftpsfs %v hung for %v", args, took)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, errBuf.String(), took
}

// expectFailure checks the shape every failure must have: the expected exit
// status, exactly one line on stderr naming the problem, no Go trace.
func expectFailure(t *testing.T, wantCode int, wantInMsg []string, env []string, args ...string) string {
	t.Helper()
	code, stderr, _ := runFtpsfs(t, env, args...)
	if code != wantCode {
		t.Errorf("exit status %d, want %d; stderr: %s", code, wantCode, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ftpsfs: ") {
		t.Errorf("want one line starting with \"ftpsfs: \", got:\n%s", stderr)
	}
	for _, w := range wantInMsg {
		if !strings.Contains(stderr, w) {
			t.Errorf("message lacks %q: %s", w, stderr)
		}
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Errorf("stack trace on stderr: %s", stderr)
	}
	return stderr
}

func TestBadInput(t *testing.T) {
	requireFUSE(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	plain, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, NoTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	url := "ftpes://test@" + srv.Addr + "/"
	pin := "fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)
	pwEnv := []string{"FTPSFS_PASSWORD=secret"}
	mnt := t.TempDir()

	t.Run("unknown option", func(t *testing.T) {
		expectFailure(t, 2, []string{"colour"}, pwEnv, url, mnt, "-o", pin+",colour=red")
	})
	t.Run("malformed URL", func(t *testing.T) {
		expectFailure(t, 2, []string{"http://"}, pwEnv, "http://example.com/x", mnt)
		expectFailure(t, 2, []string{"port"}, pwEnv, "ftps://host:99999/", mnt)
	})
	t.Run("missing mount point", func(t *testing.T) {
		expectFailure(t, 2, []string{"does not exist"}, pwEnv, url, filepath.Join(mnt, "nope"), "-o", pin)
	})
	t.Run("wrong password", func(t *testing.T) {
		msg := expectFailure(t, 1, []string{"login", "530"}, []string{"FTPSFS_PASSWORD=not-the-password"}, url, mnt, "-o", pin)
		if strings.Contains(msg, "not-the-password") {
			t.Errorf("message shows the password: %s", msg)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		expectFailure(t, 1, []string{"not trusted", "-o " + pin}, pwEnv, url, mnt)
	})
	t.Run("fingerprint mismatch", func(t *testing.T) {
		other, err := testserver.SelfSigned(testserver.CertSpec{})
		if err != nil {
			t.Fatal(err)
		}
		expectFailure(t, 1, []string{"does not match"}, pwEnv, url, mnt, "-o", "fingerprint="+testserver.FingerprintOption(other.Fingerprint))
	})
	t.Run("closed port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		expectFailure(t, 1, []string{"connection refused"}, pwEnv, "ftpes://test@127.0.0.1:"+strconv.Itoa(port)+"/", mnt, "-o", pin)
	})
	t.Run("server never greets", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		start := time.Now()
		expectFailure(t, 1, []string{"no answer"}, pwEnv, "ftpes://test@127.0.0.1:"+strconv.Itoa(port)+"/", mnt, "-o", pin+",timeout=2s")
		if took := time.Since(start); took > 2*time.Second+5*time.Second {
			t.Errorf("took %v, more than timeout + 5s", took)
		}
	})
	t.Run("server without TLS", func(t *testing.T) {
		plainURL := "ftpes://test@" + plain.Addr + "/"
		expectFailure(t, 1, []string{"TLS", "tls=none"}, pwEnv, plainURL, mnt)
		expectFailure(t, 1, []string{"TLS"}, pwEnv, "ftps://test@"+plain.Addr+"/", mnt)
	})
	t.Run("start directory missing", func(t *testing.T) {
		expectFailure(t, 1, []string{"/nope"}, pwEnv, "ftpes://test@"+srv.Addr+"/nope", mnt, "-o", pin)
	})
	if isMounted(mnt) {
		t.Fatal("a failed mount left something mounted")
	}
}

func TestPlainFTPOnlyWhenAsked(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("plain"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, NoTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	m := mountForeground(t, "ftp://test@"+plain.Addr+"/", []string{"FTPSFS_PASSWORD=secret"}, "tls=none")
	if got, err := os.ReadFile(filepath.Join(m.Dir, "f")); err != nil || string(got) != "plain" {
		t.Fatalf("read over plain FTP: %q %v", got, err)
	}
	if !strings.Contains(m.logs.String(), "warning: tls=none: plain FTP") {
		t.Errorf("no warning about plain FTP:\n%s", m.logs)
	}
}

func TestHelpAndVersion(t *testing.T) {
	out, err := exec.Command(binary, "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"password_file=", "tls=", "cafile=", "fingerprint=", "insecure", "ro", "allow_other",
		"default_permissions", "uid=", "gid=", "umask=", "connections=", "dir_cache_ttl=", "attr_timeout=",
		"entry_timeout=", "cache_size=", "timeout=", "debug", "-f"} {
		if !strings.Contains(string(out), opt) {
			t.Errorf("--help does not mention %s", opt)
		}
	}
	out, err = exec.Command(binary, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "ftpsfs ") {
		t.Errorf("--version: %q %v", out, err)
	}
}
