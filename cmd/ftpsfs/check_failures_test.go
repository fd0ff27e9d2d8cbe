package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// scriptServer answers each connection with greet, then replies[verb]
// ("" = say nothing, keep the connection open).
func scriptServer(t *testing.T, greet string, replies map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if greet != "" {
					fmt.Fprint(c, greet+"\r\n")
				}
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					verb, _, _ := strings.Cut(sc.Text(), " ")
					r, ok := replies[verb]
					if !ok {
						r = "502 no"
					}
					stall := strings.HasPrefix(r, "!")
					r = strings.TrimPrefix(r, "!")
					if r != "" {
						fmt.Fprint(c, r+"\r\n")
					}
					if stall { // say nothing more, read nothing more
						_, _ = io.Copy(io.Discard, c)
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// check against a server that fails each way (silent, no TLS, no
// handshake, bad password, untrusted certificate, plain on the implicit
// port, refused) exits with failure and one error line, within its
// timeout, leaving no goroutines behind.
func TestCheckFailsCleanly(t *testing.T) {
	cases := []struct {
		name, url string
		addr      func(t *testing.T) string
		opts      string
	}{
		{"silent greeting, TLS", "ftpes", func(t *testing.T) string { return scriptServer(t, "", nil) }, "timeout=1s"},
		{"AUTH TLS refused", "ftpes", func(t *testing.T) string {
			return scriptServer(t, "220 hi", map[string]string{"AUTH": "502 no TLS here"})
		}, "timeout=1s"},
		{"AUTH TLS accepted, no handshake", "ftpes", func(t *testing.T) string { return scriptServer(t, "220 hi", map[string]string{"AUTH": "!234 go"}) }, "timeout=1s"},
		{"bad password, TLS", "ftpes", func(t *testing.T) string {
			srv := startCheckServer(t, testserver.EmbeddedOptions{})
			t.Setenv("FTPSFS_PASSWORD_OVERRIDE", pinOf(srv.Opts.Cert))
			return srv.Addr
		}, ""},
		{"untrusted certificate", "ftpes", func(t *testing.T) string {
			return startCheckServer(t, testserver.EmbeddedOptions{}).Addr
		}, "timeout=1s"},
		{"implicit port speaks plain", "ftps", func(t *testing.T) string { return scriptServer(t, "220 hi", nil) }, "timeout=1s"},
		{"bad password, plain", "ftp", func(t *testing.T) string {
			return scriptServer(t, "220 hi", map[string]string{"USER": "331 pw", "PASS": "530 Login incorrect."})
		}, "tls=none,timeout=1s"},
		{"connection refused", "ftpes", func(t *testing.T) string {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			a := ln.Addr().String()
			ln.Close()
			return a
		}, "timeout=1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			t.Setenv("FTPSFS_PASSWORD", "chk-Secret-42-wrong")
			opts := tc.opts
			if pin := os.Getenv("FTPSFS_PASSWORD_OVERRIDE"); pin != "" {
				opts = pin + ",timeout=1s"
			}
			before := runtime.NumGoroutine()
			start := time.Now()
			code, out, errOut := runCheckCmd(t, tc.url+"://u@"+addr+"/", "-o", opts)
			took := time.Since(start)
			t.Logf("took %v exit %d\nstderr: %s", took.Round(time.Millisecond), code, errOut)
			if code != exitFailure {
				t.Errorf("exit %d, want %d", code, exitFailure)
			}
			var errs []string
			for _, l := range strings.Split(strings.TrimRight(errOut, "\n"), "\n") {
				if !strings.HasPrefix(l, "ftpsfs: warning: ") {
					errs = append(errs, l)
				}
			}
			if lines := len(errs); lines != 1 || !strings.HasPrefix(errs[0], "ftpsfs: ") {
				t.Errorf("stderr is %d lines:\n%s", lines, errOut)
			}
			if took > 1500*time.Millisecond {
				t.Errorf("took %v with timeout=1s", took)
			}
			_ = out
			time.Sleep(200 * time.Millisecond)
			if n := runtime.NumGoroutine(); n > before+1 {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines after check, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
	_ = os.Stderr
}

// With -d the conversation goes to the process's stderr (not run's): no
// password in it, also when the login fails.
func TestCheckDebugHidesPassword(t *testing.T) {
	srv := startCheckServer(t, testserver.EmbeddedOptions{})
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = f
	defer func() { os.Stderr = old }()
	for _, pw := range []string{"chk-Secret-42", "chk-Secret-42-wrong"} {
		t.Setenv("FTPSFS_PASSWORD", pw)
		runCheckCmd(t, "-d", "ftpes://test@"+srv.Addr+"/", "-o", pinOf(srv.Opts.Cert)+",timeout=2s")
	}
	os.Stderr = old
	b, _ := os.ReadFile(f.Name())
	if strings.Contains(string(b), "chk-Secret-42") {
		t.Errorf("debug output holds the password:\n%s", b)
	}
	if !strings.Contains(string(b), "PASS ****") {
		t.Errorf("no masked PASS in the debug output: is -d logging at all?\n%.2000s", b)
	}
}

// A greeting that never ends (continuation lines forever) fails check
// within its timeout, with one error line.
func TestCheckEndlessGreetingEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line := []byte("220-" + strings.Repeat("x", 200) + "\r\n")
				for {
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Setenv("FTPSFS_PASSWORD", "chk-Secret-42")
	start := time.Now()
	code, _, errOut := runCheckCmd(t, "ftpes://u@"+ln.Addr().String()+"/", "-o", "timeout=2s")
	t.Logf("took %v exit %d: %s", time.Since(start), code, errOut)
	if code != exitFailure || strings.Count(errOut, "\n") != 1 || time.Since(start) > 2500*time.Millisecond {
		t.Errorf("exit %d after %v: %q", code, time.Since(start), errOut)
	}
}
