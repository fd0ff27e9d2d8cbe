package pool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
	"github.com/jlaffaye/ftp"
)

// aheadFor is a port asked ahead with its data connection: one end of a
// pipe, whose other end (returned) reads EOF once it is closed.
func aheadFor(at time.Time, keep bool, maxAge time.Duration) (passiveAhead, net.Conn) {
	mine, theirs := net.Pipe()
	d := &aheadData{conn: mine}
	d.timer = time.AfterFunc(maxAge, d.expire)
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

// fakeControl is a conn whose control connection replies with script and
// records what is sent; its data connections are pipes.
func fakeControl(script string) (*conn, *strings.Builder) {
	sent := &strings.Builder{}
	tp := textproto.NewConn(struct {
		*bufio.Reader
		*strings.Builder
		nopCloser
	}{bufio.NewReader(strings.NewReader(script)), sent, nopCloser{}})
	sc := &ftp.ServerConn{}
	*(**textproto.Conn)(unsafePointerToConn(sc)) = tp
	c := &conn{sc: sc, vsftpd3: true, openData: func(string, bool) net.Conn {
		mine, _ := net.Pipe()
		return mine
	}}
	c.sockets.raw = fakeAddrConn{remote: &net.TCPAddr{IP: net.IPv6loopback, Port: 21}}
	return c, sent
}

// finishDownload sends EPSV before the final reply and takes the 229
// behind it; it drops the connection (aheadErr) and stops asking on a
// 229 before the final reply (a server that answers during transfers) or
// on a 5xx (vsftpd ending the session: "500 OOPS"), asks nothing while
// aheadMaxHeld ports are held, and leaves a refused or failed transfer's
// verdict as it was.
func TestFinishDownloadAsksAhead(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		held         int32 // ports held before
		sent         bool  // EPSV sent
		final        int   // the final reply's code (0: success)
		addr         string
		drop, off    bool
	}{
		{"in turn", "226 ok\r\n229 Entering Extended Passive Mode (|||40001|)\r\n", 0, true, 0, "[::1]:40001", false, false},
		{"after a failed transfer", "426 cut\r\n229 Entering Extended Passive Mode (|||40001|)\r\n", 0, true, 426, "[::1]:40001", false, false},
		{"out of turn", "229 Entering Extended Passive Mode (|||40001|)\r\n226 ok\r\n", 0, true, 0, "", true, true},
		{"500 OOPS", "226 ok\r\n500 OOPS: vsf_sysutil_bind\r\n", 0, true, 0, "", true, true},
		{"4xx", "226 ok\r\n425 no port\r\n", 0, true, 0, "", false, false},
		{"no port in the 229", "226 ok\r\n229 Entering Extended Passive Mode\r\n", 0, true, 0, "", false, false},
		{"stray 2xx", "226 ok\r\n200 what\r\n", 0, true, 0, "", true, true},
		{"421", "226 ok\r\n421 bye\r\n", 0, true, 0, "", true, false},
		{"held by others", "226 ok\r\n", aheadMaxHeld, false, 0, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pool{cfg: Config{Timeout: time.Minute}}
			p.ahead.held.Store(tc.held)
			c, sent := fakeControl(tc.script)
			tp, _ := libraryConn(c.sc)
			err, aheadErr := p.finishDownload(c, func() error {
				_, _, err := tp.ReadResponse(226)
				return err
			})
			defer c.clearAhead()
			if got := strings.Contains(sent.String(), "EPSV"); got != tc.sent {
				t.Errorf("EPSV sent: %v, want %v", got, tc.sent)
			}
			if replyCode(err) != tc.final {
				t.Errorf("final reply: %v, want code %d", err, tc.final)
			}
			if (aheadErr != nil) != tc.drop {
				t.Errorf("aheadErr %v, want the connection dropped: %v", aheadErr, tc.drop)
			}
			if c.ahead.addr != tc.addr || (c.ahead.data != nil) != (tc.addr != "") || tc.addr != "" && !c.ahead.keep {
				t.Errorf("ahead %+v, want %q with its data connection, kept", c.ahead, tc.addr)
			}
			if p.ahead.off.Load() != tc.off {
				t.Errorf("asking ahead turned off: %v, want %v", p.ahead.off.Load(), tc.off)
			}
			wantHeld := tc.held
			if tc.sent && (tc.addr != "" || tc.drop || tc.name == "no port in the 229") {
				wantHeld++ // counted until the connection's next transfer or its end
			}
			if got := p.ahead.held.Load(); got != wantHeld {
				t.Errorf("ports held: %d, want %d", got, wantHeld)
			}
			c.releaseListener()
			c.releaseListener() // twice: counted once
			if got := p.ahead.held.Load(); got != tc.held {
				t.Errorf("ports held after the connection's end: %d, want %d", got, tc.held)
			}
		})
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// A download takes the idle connection holding a port asked ahead, even
// under others in the stack: left there, it would never be lent again and
// its count would stop every other connection from asking ahead. Anything
// else leaves a fresh port to a download. Closing the pool closes an idle
// connection's pre-opened data connection.
func TestIdleHolderLentFirst(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 3 })
	ctx := ctxT(t)
	var cs []*conn
	for range 3 {
		c, err := p.get(ctx, useOp, false)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	p.ahead.held.Store(1)
	cs[0].listener = &p.ahead
	for _, c := range cs {
		p.put(c, false)
	}
	c, err := p.getFor(ctx, useOp, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if c != cs[0] {
		t.Errorf("a download was lent the connection used last, not the one whose listener is counted")
	}
	c.releaseListener()
	var far net.Conn
	c.ahead, far = aheadFor(time.Now(), true, time.Hour)
	p.put(c, false) // cs[0], with a fresh port, on top

	if c, err = p.get(ctx, useOp, false); err != nil {
		t.Fatal(err)
	}
	if c == cs[0] {
		t.Errorf("a command was lent the connection with a fresh port asked ahead")
	}
	p.put(c, false) // now on top of cs[0]
	if c, err = p.getFor(ctx, useOp, false, true); err != nil {
		t.Fatal(err)
	}
	if c != cs[0] || c.ahead.addr == "" {
		t.Errorf("a download was not lent the connection with a fresh port asked ahead")
	}
	p.put(c, false) // a lend that did not use it: cleared
	if !closedSoon(far) {
		t.Error("the unused port's data connection is still open")
	}
	if c, err = p.get(ctx, useOp, false); err != nil {
		t.Fatal(err)
	}
	if c != cs[0] {
		t.Errorf("with no port asked ahead, lent another connection than the one used last")
	}
	c.ahead, far = aheadFor(time.Now(), true, time.Hour)
	p.put(c, false)
	_ = p.Close()
	if !closedSoon(far) {
		t.Error("closing the pool left an idle connection's pre-opened data connection open")
	}
	if got := p.ahead.held.Load(); got != 0 {
		t.Errorf("%d ports counted as held after the pool closed", got)
	}
}

// Downloads and commands taking turns on two open connections: the
// commands leave the ports asked ahead to the downloads.
func TestCommandsLeavePortsAskedAheadToDownloads(t *testing.T) {
	files := map[string][]byte{"/a": []byte("alpha"), "/b": []byte("bravo!"), "/c": []byte("charlie"), "/d": []byte("delta")}
	h := startHostile(t, func(h *hostile) {
		vsftpdLike(h)
		maps.Copy(h.files, files)
	})
	p := h.pool(func(c *Config) { c.MaxConns = 2 })
	var warm []*conn // both connections open and idle
	for range 2 {
		c, err := p.get(ctxT(t), useOp, false)
		if err != nil {
			t.Fatal(err)
		}
		warm = append(warm, c)
	}
	for _, c := range warm {
		p.put(c, false)
	}
	for _, name := range []string{"/a", "/b", "/c", "/d"} {
		readWhole(t, p, name, files[name])
		_, _ = p.Stat(ctxT(t), name) // a command between downloads
	}
	if got := p.Metrics.PassivesAhead.Load(); got != 3 {
		t.Errorf("%d of the 3 downloads after the first used a port asked ahead", got)
	}
}

// vsftpdLike makes h greet as vsftpd 3 does; like vsftpd, h reads commands
// only between transfers.
func vsftpdLike(h *hostile) {
	h.greet = func(w net.Conn) error {
		_, err := io.WriteString(w, "220 (vsFTPd 3.0.3)\r\n")
		return err
	}
}

// readWhole reads a file of n bytes through a fresh Reader.
func readWhole(t *testing.T, p *Pool, path string, want []byte) {
	t.Helper()
	r := p.OpenReader(path)
	defer func() { _ = r.Close() }()
	r.ExpectSize(int64(len(want)))
	buf := make([]byte, len(want)+1)
	n, err := r.ReadAt(ctxT(t), buf, 0)
	if !errors.Is(err, io.EOF) || string(buf[:n]) != string(want) {
		t.Fatalf("%s: read %d bytes, %v; want its %d bytes and EOF", path, n, err, len(want))
	}
}

// Downloads one after another from a server that greets as vsftpd 3:
// each sends the next EPSV before its final reply, and each after the
// first sends RETR without an EPSV of its own.
func TestDownloadsUsePortsAskedAhead(t *testing.T) {
	var mu sync.Mutex
	var verbs []string
	var sentBeforeFinal []int
	files := map[string][]byte{"/a": []byte("alpha"), "/b": []byte("bravo!"), "/c": []byte("charlie")}
	h := startHostile(t, func(h *hostile) {
		vsftpdLike(h)
		h.seen = func(verb string, _ int) { mu.Lock(); verbs = append(verbs, verb); mu.Unlock() }
		h.beforeFinal = func(verb string, ahead int) {
			mu.Lock()
			sentBeforeFinal = append(sentBeforeFinal, ahead)
			mu.Unlock()
		}
		maps.Copy(h.files, files)
	})
	p := h.pool(func(c *Config) { c.MaxConns = 1 })
	for _, name := range []string{"/a", "/b", "/c"} {
		readWhole(t, p, name, files[name])
	}
	mu.Lock()
	defer mu.Unlock()
	var transfers []string
	for _, v := range verbs {
		if v == "EPSV" || v == "RETR" {
			transfers = append(transfers, v)
		}
	}
	if got, want := strings.Join(transfers, " "), "EPSV RETR EPSV RETR EPSV RETR EPSV"; got != want {
		t.Errorf("commands %q, want %q", got, want)
	}
	for i, n := range sentBeforeFinal {
		if n == 0 {
			t.Errorf("download %d: nothing sent before its final reply, want the next EPSV", i+1)
		}
	}
	if got := p.Metrics.PassivesAhead.Load(); got != 2 {
		t.Errorf("%d downloads on a port asked ahead, want 2", got)
	}
}

// A server that greets as vsftpd but answers the EPSV sent during a
// transfer before the transfer's final reply: the download still succeeds,
// its connection is dropped, and the pool asks ahead no more.
func TestPortAnsweredBeforeFinalReply(t *testing.T) {
	files := map[string][]byte{"/a": []byte("alpha"), "/b": []byte("bravo!")}
	var once sync.Once
	h := startHostile(t, func(h *hostile) {
		vsftpdLike(h)
		h.final = func(w net.Conn, verb, arg string) error {
			early := ""
			once.Do(func() { early = "229 Entering Extended Passive Mode (|||1|)\r\n" })
			_, err := io.WriteString(w, early+"226 done\r\n")
			return err
		}
		maps.Copy(h.files, files)
	})
	p := h.pool(func(c *Config) { c.MaxConns = 1 })
	readWhole(t, p, "/a", files["/a"])
	if !p.ahead.off.Load() {
		t.Error("asking ahead still on after a 229 before the final reply")
	}
	if got := p.Metrics.Discards.Load(); got != 1 {
		t.Errorf("%d connections dropped, want 1 (its replies can no longer be trusted)", got)
	}
	readWhole(t, p, "/b", files["/b"])
	if got := p.Metrics.PassivesAhead.Load(); got != 0 {
		t.Errorf("%d downloads on a port asked ahead", got)
	}
}

// vsftpd answers "500 OOPS" and ends the session when it finds no free
// passive port: the spare's connection is dropped, not put back idle, so
// the next operation, one that is not retried, gets a live connection.
func TestSpareEPSVOopsDropsConnection(t *testing.T) {
	var oops sync.Once
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, arg string) bool {
			switch verb {
			case "EPSV":
				done := false
				oops.Do(func() {
					_, _ = io.WriteString(w, "500 OOPS: vsf_sysutil_bind\r\n")
					_ = w.Close()
					done = true
				})
				return done
			case "MKD":
				_, _ = fmt.Fprintf(w, "257 \"%s\" created\r\n", arg)
				return true
			}
			return false
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = spareMinConns })
	if _, err := p.Stat(ctxT(t), "/"); err != nil { // one idle connection
		t.Fatal(err)
	}
	p.refillSpare()
	p.spares.mu.Lock()
	ready := p.spares.ready
	p.spares.mu.Unlock()
	<-ready
	if err := p.MakeDir(ctxT(t), "/new"); err != nil {
		t.Errorf("MKD after the spare's EPSV got 500 OOPS: %v", err)
	}
	if got := p.Metrics.Discards.Load(); got != 1 {
		t.Errorf("%d connections dropped, want 1 (the one vsftpd ended)", got)
	}
}
