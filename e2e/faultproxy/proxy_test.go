package faultproxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every connection on 127.0.0.1:port (0: any) until EOF,
// then half-closes, as a server finishing a reply does.
func echoServer(t *testing.T, port int) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().(*net.TCPAddr).Port
}

// freeRange finds n consecutive ports free on both loopback addresses.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		first := 20000 + mrand.IntN(10000)
		ok := true
		for p := first; p < first+n && ok; p++ {
			for _, h := range []string{"127.0.0.1", "127.0.0.2"} {
				l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(p)))
				if err != nil {
					ok = false
					break
				}
				l.Close()
			}
		}
		if ok {
			return first
		}
	}
	t.Fatal("no free port range")
	return 0
}

// start runs a proxy over one route to target and checks, at cleanup,
// that Close leaves no goroutine behind.
func start(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	before := runtime.NumGoroutine()
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines outlived Close:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
	return p
}

// oneRoute proxies a fresh port of 127.0.0.2 to an echo server.
func oneRoute(t *testing.T, mutate func(*Config)) (*Proxy, string) {
	t.Helper()
	target := echoServer(t, 0)
	listen := freeRange(t, 1)
	cfg := Config{Routes: []Route{{Listen: listen, Target: target}}}
	if mutate != nil {
		mutate(&cfg)
	}
	p := start(t, cfg)
	return p, p.Addr(listen)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back within d.
func roundTrip(c net.Conn, msg []byte, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPassForwardsBytesAndHalfClose(t *testing.T) {
	p, addr := oneRoute(t, nil)
	c := dial(t, addr)
	msg := random(t, 8<<20)
	if err := roundTrip(c, msg, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Half-close: the server sees EOF, finishes, and its EOF comes back.
	if err := roundTrip(c, []byte("last"), time.Second); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after half-close: %d bytes, %v; want EOF", n, err)
	}
	st := p.Stats()
	if st.BytesUp != 8<<20+4 || st.BytesDown != 8<<20+4 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
	waitFor(t, "the finished connection to be forgotten", func() bool { return p.Stats().Active == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRoutesMapPortRanges(t *testing.T) {
	const n = 3
	target := freeRange(t, n)
	for i := range n {
		echoServer(t, target+i)
	}
	listen := freeRange(t, n)
	p := start(t, Config{Routes: []Route{{Listen: listen, Target: target, Count: n}}})
	for i := range n {
		c := dial(t, p.Addr(listen+i))
		if err := roundTrip(c, []byte("port "+strconv.Itoa(i)), time.Second); err != nil {
			t.Errorf("port %d: %v", listen+i, err)
		}
	}
}

func TestCutResetsEveryConnection(t *testing.T) {
	for _, how := range []string{"Cut", "Hangup"} {
		t.Run(how, func(t *testing.T) {
			p, addr := oneRoute(t, nil)
			var conns []net.Conn
			for range 3 {
				c := dial(t, addr)
				if err := roundTrip(c, []byte("hi"), time.Second); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			cut := p.Cut
			if how == "Hangup" {
				cut = p.Hangup
			}
			if n := cut(); n != 3 {
				t.Errorf("%s ended %d connections, want 3", how, n)
			}
			for i, c := range conns {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				_, err := c.Read(make([]byte, 1))
				var ne net.Error
				if err == nil || errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("conn %d after %s: %v, want it ended", i, how, err)
				}
				if how == "Hangup" && err != io.EOF {
					t.Errorf("conn %d after Hangup: %v, want EOF", i, err)
				}
			}
			if st := p.Stats(); st.Cut != 3 {
				t.Errorf("Stats.Cut = %d", st.Cut)
			}
			if err := roundTrip(dial(t, addr), []byte("again"), time.Second); err != nil {
				t.Errorf("a new connection after %s: %v", how, err)
			}
		})
	}
}

func TestStallFreezesAndPassResumes(t *testing.T) {
	p, addr := oneRoute(t, nil)
	old := dial(t, addr)
	if err := roundTrip(old, []byte("before"), time.Second); err != nil {
		t.Fatal(err)
	}
	p.SetMode(Stall)
	if err := roundTrip(old, []byte("during"), 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("existing connection while stalled: %v, want a timeout", err)
	}
	// New connections are accepted, and then nothing happens.
	fresh := dial(t, addr)
	if err := roundTrip(fresh, []byte("new"), 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection while stalled: %v, want a timeout", err)
	}
	p.SetMode(Pass)
	// What was written during the stall arrives now, in order.
	for _, c := range []struct {
		conn net.Conn
		want string
	}{{old, "during"}, {fresh, "new"}} {
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		got := make([]byte, len(c.want))
		if _, err := io.ReadFull(c.conn, got); err != nil || string(got) != c.want {
			t.Errorf("after Pass: %q %v, want %q", got, err, c.want)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestRefuseResetsNewConnectionsOnly(t *testing.T) {
	p, addr := oneRoute(t, nil)
	old := dial(t, addr)
	if err := roundTrip(old, []byte("first"), time.Second); err != nil {
		t.Fatal(err) // and the proxy has accepted it
	}
	p.SetMode(Refuse)
	expectEnded(t, addr, "a connection under Refuse")
	if err := roundTrip(old, []byte("still"), time.Second); err != nil {
		t.Errorf("existing connection under Refuse: %v", err)
	}
	p.SetMode(Pass)
	if err := roundTrip(dial(t, addr), []byte("back"), time.Second); err != nil {
		t.Errorf("after Pass: %v", err)
	}
}

func TestTargetDownResetsClient(t *testing.T) {
	dead := freeRange(t, 1) // nothing listens there
	listen := freeRange(t, 1)
	p := start(t, Config{Routes: []Route{{Listen: listen, Target: dead}}})
	expectEnded(t, p.Addr(listen), "a connection to a target that is down")
}

// expectEnded connects to addr and expects the connection to be reset or
// closed at once: in connect (when the reset beats it) or at the first read.
func expectEnded(t *testing.T, addr, what string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("%s: read gave %v, want EOF or a reset", what, err)
	}
}

func TestDelayAddsLatencyNotAThroughputCap(t *testing.T) {
	p, addr := oneRoute(t, nil)
	c := dial(t, addr)
	p.SetDelay(20*time.Millisecond, 20*time.Millisecond)
	start := time.Now()
	if err := roundTrip(c, []byte("ping"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 40*time.Millisecond || rtt > 500*time.Millisecond {
		t.Errorf("round trip %v with 20 ms each way", rtt)
	}
	start = time.Now()
	if err := roundTrip(c, random(t, 16<<20), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// One chunk per delay would take 16 MiB / 32 KiB × 20 ms = 10 s.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("16 MiB echoed in %v at 20 ms latency: the delay caps throughput", d)
	}
}

func TestRateCapsThroughput(t *testing.T) {
	p, addr := oneRoute(t, nil)
	c := dial(t, addr)
	p.SetRate(0, 1<<20) // 1 MiB/s back to the client
	start := time.Now()
	if err := roundTrip(c, random(t, 512<<10), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("512 KiB at 1 MiB/s took %v", d)
	}
	p.SetRate(0, 0)
	start = time.Now()
	if err := roundTrip(c, random(t, 512<<10), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("512 KiB uncapped took %v", d)
	}
}

func TestMaxConnsRefusesTheRest(t *testing.T) {
	p, addr := oneRoute(t, func(c *Config) { c.MaxConns = 2 })
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		if err := roundTrip(c, []byte("ok"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	expectEnded(t, addr, "a third connection with MaxConns=2")
	if st := p.Stats(); st.Active != 2 {
		t.Errorf("%d active", st.Active)
	}
}

// Close ends connections in every state (forwarding, stalled mid-stream,
// waiting to dial) and waits for all goroutines; start's cleanup checks
// that none is left.
func TestCloseEndsEverything(t *testing.T) {
	p, addr := oneRoute(t, func(c *Config) { c.MaxConns = 64 })
	var conns []net.Conn
	for range 5 {
		c := dial(t, addr)
		if err := roundTrip(c, []byte("x"), time.Second); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	p.SetDelay(time.Hour, 0) // chunks queued for an hour
	_, _ = conns[0].Write(random(t, 1<<20))
	p.SetMode(Stall)
	conns = append(conns, dial(t, addr), dial(t, addr))
	_, _ = conns[1].Write([]byte("frozen"))
	waitFor(t, "all 7 accepted", func() bool { return p.Stats().Accepted == 7 })
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return")
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && isTimeout(err) {
			t.Errorf("conn %d still open after Close", i)
		}
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still accepting after Close")
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	free := freeRange(t, 1)
	before := runtime.NumGoroutine()
	if _, err := Start(Config{Routes: []Route{{Listen: free, Target: 1}, {Listen: busy, Target: 1}}}); err == nil {
		t.Fatal("Start succeeded on a busy port")
	}
	// The first listener was closed again.
	l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(free)))
	if err != nil {
		t.Errorf("port %d left bound after a failed Start: %v", free, err)
	} else {
		l2.Close()
	}
	time.Sleep(20 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left by a failed Start", n-before)
	}
}
