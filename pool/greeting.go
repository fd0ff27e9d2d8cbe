package pool

import (
	"bytes"
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

// vsftpd reports whether the greeting is vsftpd's own ("220 (vsFTPd
// 3.0.3)"; a site that set ftpd_banner is not recognised, and only loses
// the round trip dialData saves).
func (g *greetingSniffer) vsftpd() bool {
	return strings.HasPrefix(string(g.line), "220 (vsFTPd ")
}
