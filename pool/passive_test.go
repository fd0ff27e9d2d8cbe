package pool

import (
	"bufio"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// A passive port asked ahead serves the next lend's first transfer only:
// the lend after that (whose commands may have replaced the server's
// listener) finds none, and one older than the bound is not used.
func TestPassivePortAheadLastsOneLend(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 1 })
	ctx := ctxT(t)
	c, err := p.get(ctx, useOp, false)
	if err != nil {
		t.Fatal(err)
	}
	c.ahead = passiveAhead{addr: "192.0.2.1:4242", at: time.Now(), keep: true}
	p.put(c, false)

	c, err = p.get(ctx, useOp, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.ahead.addr != "192.0.2.1:4242" {
		t.Fatalf("the lend after the download has ahead %+v, want the port asked", c.ahead)
	}
	p.put(c, false) // a lend that did not use it

	c, err = p.get(ctx, useOp, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.takeAhead(time.Hour); got != "" {
		t.Errorf("a second lend found port %q asked before the first", got)
	}
	c.ahead = passiveAhead{addr: "192.0.2.1:4242", at: time.Now().Add(-time.Minute)}
	if got := c.takeAhead(time.Second); got != "" {
		t.Errorf("a port asked a minute ago was taken with a bound of 1 s: %q", got)
	}
	c.ahead = passiveAhead{addr: "192.0.2.1:4242", at: time.Now()}
	if got := c.takeAhead(time.Second); got != "192.0.2.1:4242" {
		t.Errorf("a fresh port was not taken: %q", got)
	}
	if got := c.takeAhead(time.Second); got != "" {
		t.Errorf("a port was taken twice: %q", got)
	}
	p.put(c, false)
}

// fakeAddrConn is a net.Conn whose only use here is its remote address.
type fakeAddrConn struct {
	net.Conn
	remote net.Addr
}

func (f fakeAddrConn) RemoteAddr() net.Addr { return f.remote }

// readPassiveAhead takes a 229 for a port on the control connection's
// host, a refusal for no port (5xx: none asked again), and anything else
// for a connection out of step.
func TestReadPassiveAheadAnswers(t *testing.T) {
	for _, tc := range []struct {
		reply     string
		addr      string
		stillAsks bool
		broken    bool
	}{
		{"229 Entering Extended Passive Mode (|||40001|)", "[::1]:40001", true, false},
		{"229 Entering Extended Passive Mode (no port)", "", true, false},
		{"425 Cannot open passive port", "", true, false},
		{"500 EPSV not understood", "", false, false},
		{"421 Timeout", "", true, true},
		{"226 Transfer complete", "", true, true},
		{"150 Here it comes", "", true, true},
	} {
		c := &conn{epsvAhead: true}
		c.sockets.raw = fakeAddrConn{remote: &net.TCPAddr{IP: net.IPv6loopback, Port: 21}}
		tp := textproto.NewConn(struct {
			*bufio.Reader
			*strings.Builder
			nopCloser
		}{bufio.NewReader(strings.NewReader(tc.reply + "\r\n")), &strings.Builder{}, nopCloser{}})
		err := c.readPassiveAhead(tp)
		if got := err != nil && broken(err); got != tc.broken || err != nil && !tc.broken {
			t.Errorf("%q: err %v, want broken %v", tc.reply, err, tc.broken)
		}
		if c.ahead.addr != tc.addr || tc.addr != "" && !c.ahead.keep {
			t.Errorf("%q: ahead %+v, want addr %q kept", tc.reply, c.ahead, tc.addr)
		}
		if c.epsvAhead != tc.stillAsks {
			t.Errorf("%q: epsvAhead %v after it, want %v", tc.reply, c.epsvAhead, tc.stillAsks)
		}
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
