package pool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/faultproxy"
	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// behindProxy serves the usual files with the embedded server behind a
// fault proxy on 127.0.0.2 (control and data connections both pass through
// it) and returns a pool that connects through the proxy.
func behindProxy(t *testing.T, mutate func(*Config)) (*Pool, *faultproxy.Proxy, *testserver.Embedded, map[string][]byte) {
	t.Helper()
	pr, err := testserver.ReservePassiveRange(8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pr.Release)
	srv, files := startServer(t, testserver.EmbeddedOptions{Passive: &pr})
	px, err := faultproxy.Start(faultproxy.Config{Routes: []faultproxy.Route{
		{Listen: srv.Port, Target: srv.Port},
		{Listen: pr.Advertised, Target: pr.Listened, Count: pr.Count},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	cfg := Config{
		Host: px.Host(), Port: srv.Port, User: srv.Opts.User, Password: srv.Opts.Password, Mode: Explicit,
		TLS: TLSOptions{Fingerprints: [][32]byte{srv.Opts.Cert.Fingerprint}}, MaxConns: 3, Timeout: 5 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, px, srv, files
}

// timedOut: what an operation that ran out of time returns (fusefs maps
// both to ETIMEDOUT).
func timedOut(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Before the fix an operation ended only when one network read ran into
// timeout (5 s here), whatever its context said.
func TestOperationEndsWithItsContext(t *testing.T) {
	checkGoroutines(t)
	p, px, _, _ := behindProxy(t, nil)
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	px.SetMode(faultproxy.Stall)
	start := time.Now()
	_, err := p.List(ctxFor(t, 300*time.Millisecond), "/")
	if took := time.Since(start); took > time.Second {
		t.Errorf("List on a stalled server took %v with a 300 ms context", took)
	}
	if !timedOut(err) {
		t.Errorf("List on a stalled server: %v, want a timeout", err)
	}
	px.SetMode(faultproxy.Pass)
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List after the stall: %v", err)
	}
	_ = p.Close()
}

func TestReadEndsWithItsContextAndResumes(t *testing.T) {
	p, px, _, files := behindProxy(t, nil)
	r := p.OpenReader("/big.bin")
	defer r.Close()
	buf := make([]byte, 64<<10)
	if _, err := r.ReadAt(ctxT(t), buf, 0); err != nil {
		t.Fatal(err)
	}
	px.SetMode(faultproxy.Stall)
	start := time.Now()
	big := make([]byte, 2<<20) // more than the socket buffers hold
	_, err := r.ReadAt(ctxFor(t, 300*time.Millisecond), big, int64(len(buf)))
	if took := time.Since(start); took > time.Second || !timedOut(err) {
		t.Errorf("read of a stalled stream: %v after %v, want a timeout within 1s", err, took)
	}
	px.SetMode(faultproxy.Pass)
	n, err := r.ReadAt(ctxT(t), big, int64(len(buf)))
	if err != nil || !bytes.Equal(big[:n], files["big.bin"][len(buf):len(buf)+n]) || n != len(big) {
		t.Fatalf("read after the stall: %d bytes, %v (content ok: %v)", n, err, bytes.Equal(big[:n], files["big.bin"][len(buf):len(buf)+n]))
	}
}

// A stream cut several times inside one ReadAt resumes each time it made
// progress; before the fix a second cut in one call failed the read.
func TestReadResumesAfterEveryCut(t *testing.T) {
	p, px, _, files := behindProxy(t, nil)
	r := p.OpenReader("/big.bin")
	defer r.Close()
	want := files["big.bin"]
	r.ExpectSize(int64(len(want)))
	done := make(chan struct{})
	var cuts atomic.Int32
	go func() {
		base := px.Stats().BytesDown
		for _, at := range []int64{500 << 10, 1200 << 10, 2000 << 10} {
			for px.Stats().BytesDown-base < at {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
			if cuts.Add(1) == 2 {
				px.Hangup()
			} else {
				px.Cut()
			}
		}
	}()
	px.SetRate(0, 8<<20) // slow enough for the cuts to land inside the read
	got := make([]byte, len(want))
	n, err := r.ReadAt(ctxT(t), got, 0)
	close(done)
	if n != len(want) || !bytes.Equal(got, want) {
		t.Fatalf("read %d of %d bytes through %d cuts: %v (content ok: %v)", n, len(want), cuts.Load(), err, bytes.Equal(got[:n], want[:n]))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read through cuts: %v", err)
	}
	if c := cuts.Load(); c < 3 {
		t.Errorf("only %d cuts happened during the read", c)
	}
	if m := p.Metrics.Resumes.Load(); m < 3 {
		t.Errorf("%d resumes counted, want at least 3", m)
	}
}

// Once an operation ran into its deadline, the next ones wait only a short
// budget for a server that still does not answer, so that a syscall the
// kernel retries (readahead, then the page) fails in about one timeout;
// the first answer lifts the limit.
func TestUnresponsiveServerFailsFastUntilItAnswers(t *testing.T) {
	p, px, _, _ := behindProxy(t, nil)
	p.budget = 200 * time.Millisecond
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	px.SetMode(faultproxy.Stall)
	if _, err := p.List(ctxFor(t, 500*time.Millisecond), "/"); err == nil {
		t.Fatal("List on a stalled server succeeded")
	}
	start := time.Now()
	_, err := p.List(ctxFor(t, 10*time.Second), "/dir")
	if took := time.Since(start); took > 400*time.Millisecond || !timedOut(err) {
		t.Errorf("second List on a server known not to answer: %v after %v, want a deadline error within the budget", err, took)
	}
	px.SetMode(faultproxy.Pass)
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List once the server answers: %v", err)
	}
	if p.unresponsive.Load() {
		t.Error("still marked unresponsive after an answer")
	}
}

// A dial whose caller gave up completes in the background and its
// connection serves the next operation, without another login.
func TestAbandonedDialJoinsTheIdleList(t *testing.T) {
	p, px, srv, _ := behindProxy(t, nil)
	px.SetMode(faultproxy.Stall) // the greeting never comes
	start := time.Now()
	if _, err := p.List(ctxFor(t, 200*time.Millisecond), "/"); !timedOut(err) {
		t.Fatalf("List while the greeting is stalled: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("gave up after %v with a 200 ms context", took)
	}
	px.SetMode(faultproxy.Pass)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		idle := len(p.idle)
		p.mu.Unlock()
		if idle == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned dial never joined the idle list (%d open)", p.OpenConns())
		}
		time.Sleep(5 * time.Millisecond)
	}
	logins := srv.Logins()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	if srv.Logins() != logins {
		t.Error("the next operation logged in again instead of using the finished dial")
	}
}

func TestCloseInterruptsLentConnections(t *testing.T) {
	p, px, _, _ := behindProxy(t, nil)
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	px.SetMode(faultproxy.Stall)
	errc := make(chan error, 1)
	go func() {
		_, err := p.List(ctxT(t), "/")
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	_ = p.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("List succeeded on a stalled server")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("List still blocked 2s after Close")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("List ended %v after Close", took)
	}
	px.SetMode(faultproxy.Pass)
}

// limiter stands in front of srv like vsftpd's max_per_ip: beyond limit
// open connections (or while refuseAll is set) it answers 421 at the
// greeting and closes.
type limiter struct {
	ln        net.Listener
	limit     int32
	active    atomic.Int32
	refuseAll atomic.Bool
	refused   atomic.Int32
	wg        sync.WaitGroup
}

func startLimiter(t *testing.T, target string, limit int32) *limiter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &limiter{ln: ln, limit: limit}
	var conns sync.Map
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if l.refuseAll.Load() || l.active.Add(1) > l.limit {
				if !l.refuseAll.Load() {
					l.active.Add(-1)
				}
				l.refused.Add(1)
				_, _ = c.Write([]byte("421 There are too many connections from your internet address.\r\n"))
				_ = c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				l.active.Add(-1)
				_ = c.Close()
				continue
			}
			conns.Store(c, s)
			l.wg.Add(2)
			go func() { defer l.wg.Done(); _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() {
				defer l.wg.Done()
				_, _ = io.Copy(c, s)
				_ = c.Close()
				conns.Delete(c)
				l.active.Add(-1)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Range(func(k, v any) bool { _ = k.(net.Conn).Close(); _ = v.(net.Conn).Close(); return true })
		l.wg.Wait()
	})
	return l
}

func poolThrough(t *testing.T, srv *testserver.Embedded, l *limiter, maxConns int) *Pool {
	t.Helper()
	cfg := Config{
		Host: "127.0.0.1", Port: l.ln.Addr().(*net.TCPAddr).Port, User: srv.Opts.User, Password: srv.Opts.Password,
		Mode: Explicit, TLS: TLSOptions{Fingerprints: [][32]byte{srv.Opts.Cert.Fingerprint}},
		MaxConns: maxConns, Timeout: 5 * time.Second,
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Sixteen readers and a lister through a server that allows two
// connections: the pool shrinks to two, everyone gets the right bytes, and
// after a while it tries one connection more.
func TestConnectionLimitShrinksThePoolAndQueues(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	l := startLimiter(t, srv.Addr, 2)
	p := poolThrough(t, srv, l, 4)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"/big.bin", "/one", "/dir/inner.txt", "/with space #%é"}[i%4]
			r := p.OpenReader(name)
			defer r.Close()
			got := readAll(t, r, 256<<10)
			if !bytes.Equal(got, files[name[1:]]) {
				t.Errorf("reader %d: %s read %d bytes, differs", i, name, len(got))
			}
		}()
	}
	for range 8 {
		if _, err := p.List(ctxT(t), "/"); err != nil {
			t.Errorf("List during the reads: %v", err)
		}
	}
	wg.Wait()
	if l.refused.Load() == 0 {
		t.Fatal("the limiter never refused: the test proves nothing")
	}
	p.mu.Lock()
	shrunk := p.max
	p.regrowAfter = 50 * time.Millisecond
	p.mu.Unlock()
	if shrunk > 2 {
		t.Errorf("pool limit %d after 421s from a server allowing 2", shrunk)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	regrown := p.max
	p.mu.Unlock()
	if regrown != shrunk+1 {
		t.Errorf("pool limit %d after the regrow interval, want %d", regrown, shrunk+1)
	}
}

// When the server refuses every connection with 421 (its limit taken by
// sessions the pool does not hold), operations back off and wait instead
// of failing at once.
func TestRefusedEverywhereBacksOffAndWaits(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	l := startLimiter(t, srv.Addr, 2)
	p := poolThrough(t, srv, l, 2)
	l.refuseAll.Store(true)
	time.AfterFunc(400*time.Millisecond, func() { l.refuseAll.Store(false) })
	start := time.Now()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List while the server refused for 400 ms: %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("succeeded after %v, before the server accepted", took)
	}
	if n := l.refused.Load(); n < 2 || n > 20 {
		t.Errorf("%d refused attempts in 400 ms: want a few, with back-off", n)
	}
	// Refused for longer than the context: the 421 comes back in time.
	l.refuseAll.Store(true)
	_ = p.Close()
	p = poolThrough(t, srv, l, 2)
	start = time.Now()
	_, err := p.List(ctxFor(t, 500*time.Millisecond), "/")
	if err == nil || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("List against a server refusing for good: %v after %v", err, time.Since(start))
	}
}

// warmOne fills the idle list without waiting for a free connection:
// Warm built on it cannot hold connections while waiting for more.
func TestWarmOneNeverWaits(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	l := startLimiter(t, srv.Addr, 2)
	p := poolThrough(t, srv, l, 4)
	var added atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.warmOne(ctxT(t)) {
				added.Add(1)
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("warmOne ×6 took %v", took)
	}
	if a, o := added.Load(), p.OpenConns(); a != 2 || o != 2 {
		t.Errorf("%d added, %d open; want 2 and 2 under a limit of 2", a, o)
	}
	if _, err := p.List(ctxFor(t, time.Second), "/"); err != nil {
		t.Errorf("List after warming: %v", err)
	}
}

// A cancellation cuts a read under way as a deadline does: the read ends
// at once and its connection is freed (fusefs passes contexts without
// cancellation where a stray signal must not abort a transfer). Before,
// a cancelled read went on until the whole buffer had arrived.
func TestCancellationCutsARead(t *testing.T) {
	p, px, _, files := behindProxy(t, nil)
	r := p.OpenReader("/big.bin")
	defer r.Close()
	if _, err := r.ReadAt(ctxT(t), make([]byte, 1000), 0); err != nil {
		t.Fatal(err)
	}
	px.SetRate(0, 256<<10)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	buf := make([]byte, 2<<20) // eight seconds at this rate
	n, err := r.ReadAt(ctx, buf, 1000)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("read cancelled midway: %d bytes, %v after %v; want context.Canceled at once", n, err, time.Since(start))
	}
	if !waitFor(2*time.Second, func() bool { return p.OpenConns() == 0 }) {
		t.Errorf("%d connections open after the cancelled read", p.OpenConns())
	}
	px.SetRate(0, 0)
	got := make([]byte, 1000)
	if n, err := r.ReadAt(ctxT(t), got, 5000); err != nil || !bytes.Equal(got[:n], files["big.bin"][5000:6000]) {
		t.Fatalf("read after the cancellation: %d bytes, %v", n, err)
	}
}

// An operation given up on after the server was silent for the short
// budget, because its callers' deadlines passed (the listing cache cancels a
// load with its waiters' error as the cause), marks the server unresponsive
// at once, before the operation itself ends with its network timeout: the
// kernel's retry that follows then waits only the budget. A plain
// cancellation (a file closed, a listing nobody wants) does not.
func TestGivingUpOnASilentServerMarksItUnresponsive(t *testing.T) {
	p, px, _, _ := behindProxy(t, func(c *Config) { c.Timeout = 2 * time.Second })
	p.budget = 200 * time.Millisecond
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	px.SetMode(faultproxy.Stall)
	plain, cancelPlain := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancelPlain)
	if _, err := p.List(plain, "/"); err == nil {
		t.Fatal("List on a stalled server succeeded")
	}
	if p.unresponsive.Load() {
		t.Error("a plain cancellation marked the server unresponsive")
	}
	ctx, cancelCause := context.WithCancelCause(context.Background())
	cancel := func() { cancelCause(context.DeadlineExceeded) }
	time.AfterFunc(300*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() { _, err := p.List(ctx, "/"); done <- err }()
	deadline := time.Now().Add(time.Second)
	for !p.unresponsive.Load() {
		if time.Now().After(deadline) {
			t.Fatal("not marked unresponsive 1s after giving up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-done; err == nil {
		t.Error("List on a stalled server succeeded")
	}
	px.SetMode(faultproxy.Pass)
}

// A reply that comes late must not leave the connection out of step: a
// timed-out EPSV makes jlaffaye/ftp fall back to PASV, which then reads the
// EPSV reply; PASV's own reply would answer the next command. Such a
// connection is dropped.
func TestLateReplyDoesNotDesynchronise(t *testing.T) {
	p, px, _, _ := behindProxy(t, func(c *Config) { c.Timeout = 300 * time.Millisecond; c.MaxConns = 1 })
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	px.SetMode(faultproxy.Stall)
	time.AfterFunc(450*time.Millisecond, func() { px.SetMode(faultproxy.Pass) })
	_, _ = p.List(context.Background(), "/") // EPSV times out; PASV reads its reply
	for i := range 3 {
		if _, err := p.List(ctxT(t), "/dir"); err != nil {
			t.Fatalf("List %d after a late reply: %v", i, err)
		}
	}
}

func TestBrokenClassifiesReplies(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&textproto.Error{Code: 550, Msg: "no"}, false},
		{&textproto.Error{Code: 452, Msg: "full"}, false},
		{&textproto.Error{Code: 421, Msg: "bye"}, true},
		{&textproto.Error{Code: 229, Msg: "Entering Extended Passive Mode"}, true},
		{&ReplyError{Op: "LIST", Code: 227}, true},
		{&ReplyError{Op: "RETR", Code: 426}, false},
		{io.ErrUnexpectedEOF, true},
		{context.Canceled, false},
	} {
		if got := broken(c.err); got != c.want {
			t.Errorf("broken(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
