package main

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
)

// evilReply is what a hostile server answers PASS with: an OSC that
// retitles the terminal (ended by BEL), and a CSI that turns it red.
const evilReply = "530 Login incorrect \x1b]0;PWNED\x07\x1b[31m all red \u009b2J\r\n"

// startEvilServer is a plain-FTP server that greets, asks for the password
// and refuses it with terminal escapes in the reply.
func startEvilServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_, _ = c.Write([]byte("220 evil \x1b[2J server\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
					reply := "500 no\r\n"
					switch strings.ToUpper(verb) {
					case "USER":
						reply = "331 password please\r\n"
					case "PASS":
						reply = evilReply
					case "QUIT":
						_, _ = c.Write([]byte("221 bye\r\n"))
						return
					}
					if _, err := c.Write([]byte(reply)); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return (r < ' ' && r != '\n') || (r >= 0x7f && r <= 0x9f) })
}

// TestServerTextIsEscaped: the server's reply reaches the user's terminal
// in the mount's error and in check's report and last line, but its
// control bytes do not.
func TestServerTextIsEscaped(t *testing.T) {
	addr := startEvilServer(t)
	t.Setenv("FTPSFS_PASSWORD", "whatever")
	url := "ftp://u@" + addr + "/"
	for name, argv := range map[string][]string{
		"mount": {url, t.TempDir(), "-f", "-o", "tls=none"},
		"check": {"check", url, "-o", "tls=none"},
	} {
		var out, errOut bytes.Buffer
		code := run(argv, &out, &errOut)
		if code != exitFailure {
			t.Errorf("%s: exit %d, want %d", name, code, exitFailure)
		}
		for what, text := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
			if hasControl(text) {
				t.Errorf("%s %s carries control bytes: %q", name, what, text)
			}
		}
		last := errOut.String()[strings.LastIndex(strings.TrimSuffix(errOut.String(), "\n"), "\n")+1:]
		if !strings.Contains(last, `530 Login incorrect \x1b]0;PWNED\x07\x1b[31m all red \u009b2J`) {
			t.Errorf("%s: the last line does not show the reply, escaped: %q", name, last)
		}
	}
}
