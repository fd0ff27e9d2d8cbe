package pool

import (
	"bytes"
	"strconv"
	"strings"
)

// greetingSniffer sees a control connection's conversation (as
// jlaffaye/ftp's debug output) until the end of its first line, the
// server's greeting, and ignores the rest. Written and read by the
// connection's dialer only.
type greetingSniffer struct {
	line []byte
	done bool
}

// maxGreetingBytes bounds what is kept of a greeting that never ends.
const maxGreetingBytes = 512

func (g *greetingSniffer) Write(b []byte) (int, error) {
	n := len(b)
	if g.done {
		return n, nil
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b, g.done = b[:i], true
	}
	g.line = append(g.line, b[:min(len(b), maxGreetingBytes-len(g.line))]...)
	g.done = g.done || len(g.line) >= maxGreetingBytes
	return n, nil
}

// vsftpd reports whether the greeting is the default one of vsftpd 3 or
// later ("220 (vsFTPd 3.0.3)"), which reads the client's close_notify on
// every data connection before closing it; 2.x did not. A site that set
// ftpd_banner is not recognised, and only loses the round trip dialData
// saves.
func (g *greetingSniffer) vsftpd() bool {
	version, ok := strings.CutPrefix(strings.TrimRight(string(g.line), "\r"), "220 (vsFTPd ")
	if !ok {
		return false
	}
	major, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 3
}
