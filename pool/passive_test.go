package pool

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// aheadFor is a port asked ahead with its data connection: one end of a
// pipe, whose other end (returned) reads EOF once it is closed.
func aheadFor(at time.Time, keep bool, maxAge time.Duration) (passiveAhead, net.Conn) {
	mine, theirs := net.Pipe()
	d := &aheadData{conn: mine}
	d.timer = time.AfterFunc(maxAge, d.discard)
	return passiveAhead{addr: "192.0.2.1:4242", at: at, keep: keep, data: d}, theirs
}

// closedSoon reports whether the far end of an ahead data connection sees
// it closed within a second.
func closedSoon(far net.Conn) bool {
	_ = far.SetReadDeadline(time.Now().Add(time.Second))
	_, err := far.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

// A passive port asked ahead serves the next lend's first transfer only:
// the lend after that (whose commands may have replaced the server's
// listener) finds none, and one older than the bound is not used. Its
// data connection is closed whenever it is not used: by the lend after,
// by its timer, or when the connection closes.
func TestPassivePortAheadLastsOneLend(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 1 })
	ctx := ctxT(t)
	c, err := p.get(ctx, useOp, false)
	if err != nil {
		t.Fatal(err)
	}
	var far net.Conn
	c.ahead, far = aheadFor(time.Now(), true, time.Hour)
	p.put(c, false)

	c, err = p.get(ctx, useOp, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.ahead.addr != "192.0.2.1:4242" {
		t.Fatalf("the lend after the download has ahead %+v, want the port asked", c.ahead)
	}
	p.put(c, false) // a lend that did not use it
	if !closedSoon(far) {
		t.Error("the data connection of a port left unused by a lend is still open")
	}

	c, err = p.get(ctx, useOp, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.takeAhead(time.Hour); got != nil {
		t.Errorf("a second lend found the data connection asked before the first")
	}
	c.ahead, far = aheadFor(time.Now().Add(-time.Minute), false, time.Hour)
	if got := c.takeAhead(time.Second); got != nil {
		t.Errorf("a port asked a minute ago was taken with a bound of 1 s")
	}
	if !closedSoon(far) {
		t.Error("the data connection of a stale port is still open")
	}
	c.ahead, far = aheadFor(time.Now(), false, time.Hour)
	got := c.takeAhead(time.Second)
	if got == nil {
		t.Fatal("a fresh port was not taken")
	}
	if c.takeAhead(time.Second) != nil {
		t.Errorf("a port was taken twice")
	}
	c.ahead.data.discard() // nil: harmless
	go func() { _, _ = got.Write([]byte("x")) }()
	if _, err := far.Read(make([]byte, 1)); err != nil {
		t.Errorf("the data connection taken was closed: %v", err)
	}
	_ = got.Close()

	c.ahead, far = aheadFor(time.Now(), false, 50*time.Millisecond)
	if !closedSoon(far) {
		t.Error("the data connection of a port nobody took outlived its timer")
	}
	if c.takeAhead(time.Hour) != nil {
		t.Error("a port whose timer closed its data connection was taken")
	}
	c.ahead, far = aheadFor(time.Now(), true, time.Hour)
	p.put(c, true) // dropped: its ahead goes with it
	if !closedSoon(far) {
		t.Error("the data connection of a dropped connection's port is still open")
	}
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
		c := &conn{epsvAhead: true, openData: func(string, bool) net.Conn {
			mine, _ := net.Pipe()
			return mine
		}}
		c.sockets.raw = fakeAddrConn{remote: &net.TCPAddr{IP: net.IPv6loopback, Port: 21}}
		tp := textproto.NewConn(struct {
			*bufio.Reader
			*strings.Builder
			nopCloser
		}{bufio.NewReader(strings.NewReader(tc.reply + "\r\n")), &strings.Builder{}, nopCloser{}})
		err := c.readPassiveAhead(tp, time.Hour)
		if got := err != nil && broken(err); got != tc.broken || err != nil && !tc.broken {
			t.Errorf("%q: err %v, want broken %v", tc.reply, err, tc.broken)
		}
		if c.ahead.addr != tc.addr || tc.addr != "" && !c.ahead.keep {
			t.Errorf("%q: ahead %+v, want addr %q kept", tc.reply, c.ahead, tc.addr)
		}
		if c.epsvAhead != tc.stillAsks {
			t.Errorf("%q: epsvAhead %v after it, want %v", tc.reply, c.epsvAhead, tc.stillAsks)
		}
		if (c.ahead.data != nil) != (tc.addr != "") {
			t.Errorf("%q: data connection opened ahead: %v", tc.reply, c.ahead.data != nil)
		}
		c.clearAhead()
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
