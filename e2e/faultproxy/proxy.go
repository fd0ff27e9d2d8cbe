// Package faultproxy is a TCP proxy that puts network faults between an FTP(S)
// client and its server: it cuts every connection, stalls them (accepts and
// never answers), refuses them, or slows them down (latency and bandwidth per
// direction).
//
// FTPS hides the control channel, so no proxy can rewrite the passive replies
// that name data ports. This one instead listens on another loopback address
// (127.0.0.2 by default) on the server's control port and on every passive
// port, and forwards each to the server's address. A client that connects its
// data connections to the control connection's peer and the EPSV port (as
// ftpsfs does; PASV addresses are ignored) then passes every connection, control
// and data, through the proxy.
//
// Everything the proxy starts ends in Close: listeners, connections and
// goroutines. Memory is bounded by MaxConns connections with at most
// queueChunks chunks of chunkSize bytes queued per direction.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Route forwards Count consecutive ports: ListenHost:Listen+i to
// TargetHost:Target+i.
type Route struct {
	Listen, Target int
	Count          int // default 1
}

// Config says where the proxy listens and what it forwards to.
type Config struct {
	ListenHost string // default "127.0.0.2"
	TargetHost string // default "127.0.0.1"
	Routes     []Route
	// MaxConns bounds the connections open at once; more are closed at
	// accept. Default 256.
	MaxConns int
	// DialTimeout bounds each connection to the target. Default 5s.
	DialTimeout time.Duration
}

// Mode is what the proxy does with traffic.
type Mode int32

const (
	// Pass forwards everything (with the delay and rate set, if any).
	Pass Mode = iota
	// Stall accepts new connections but forwards nothing, and freezes the
	// existing ones: to both ends the server is there and never answers.
	// Back to Pass, frozen and waiting connections carry on.
	Stall
	// Refuse resets every new connection at once, as a host whose server is
	// down does; existing connections are not touched (Cut them too).
	Refuse
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Stall:
		return "stall"
	case Refuse:
		return "refuse"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Stats counts what the proxy did.
type Stats struct {
	Accepted  int64 // connections accepted
	Active    int   // connections open now
	Cut       int64 // connections ended by Cut or Hangup
	BytesUp   int64 // client → server, forwarded
	BytesDown int64 // server → client, forwarded
}

const (
	chunkSize   = 32 << 10
	queueChunks = 64 // per direction: 2 MiB in flight at most
)

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	cfg       Config
	listeners []net.Listener
	wg        sync.WaitGroup

	mu     sync.Mutex
	conns  map[*pair]struct{}
	mode   Mode
	open   chan struct{} // closed while not stalled
	closed bool

	delay [2]atomic.Int64 // nanoseconds, per direction (up, down)
	rate  [2]atomic.Int64 // bytes per second per connection, 0 = unlimited

	accepted, cuts atomic.Int64
	bytes          [2]atomic.Int64
}

const (
	up   = 0 // client → server
	down = 1 // server → client
)

// Start listens on every route's ports and starts forwarding.
func Start(cfg Config) (*Proxy, error) {
	if cfg.ListenHost == "" {
		cfg.ListenHost = "127.0.0.2"
	}
	if cfg.TargetHost == "" {
		cfg.TargetHost = "127.0.0.1"
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if len(cfg.Routes) == 0 {
		return nil, errors.New("faultproxy: no routes")
	}
	p := &Proxy{cfg: cfg, conns: map[*pair]struct{}{}, open: make(chan struct{})}
	close(p.open)
	for _, r := range cfg.Routes {
		n := max(r.Count, 1)
		for i := range n {
			addr := net.JoinHostPort(cfg.ListenHost, strconv.Itoa(r.Listen+i))
			l, err := net.Listen("tcp", addr)
			if err != nil {
				p.Close()
				return nil, fmt.Errorf("faultproxy: %w", err)
			}
			p.listeners = append(p.listeners, l)
			target := net.JoinHostPort(cfg.TargetHost, strconv.Itoa(r.Target+i))
			p.wg.Add(1)
			go p.accept(l, target)
		}
	}
	return p, nil
}

// Host is the address clients connect to.
func (p *Proxy) Host() string { return p.cfg.ListenHost }

// Addr is host:port of one listening port.
func (p *Proxy) Addr(port int) string {
	return net.JoinHostPort(p.cfg.ListenHost, strconv.Itoa(port))
}

// SetMode switches between Pass, Stall and Refuse.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.mode {
		return
	}
	if m == Stall {
		p.open = make(chan struct{})
	} else if p.mode == Stall {
		close(p.open)
	}
	p.mode = m
}

// Mode is the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Cut resets every open connection (both ends see ECONNRESET) and returns
// how many there were. New connections are accepted as the mode says.
func (p *Proxy) Cut() int { return p.cut(true) }

// Hangup closes every open connection politely (both ends see EOF) and
// returns how many there were.
func (p *Proxy) Hangup() int { return p.cut(false) }

func (p *Proxy) cut(reset bool) int {
	p.mu.Lock()
	pairs := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		pairs = append(pairs, c)
	}
	p.mu.Unlock()
	for _, c := range pairs {
		c.abort(reset)
	}
	p.cuts.Add(int64(len(pairs)))
	return len(pairs)
}

// SetDelay adds latency to each direction: up is client → server, down is
// server → client; a round trip gains up+down. Throughput is not capped by
// it (chunks are queued, not sent one at a time).
func (p *Proxy) SetDelay(upDelay, downDelay time.Duration) {
	p.delay[up].Store(int64(upDelay))
	p.delay[down].Store(int64(downDelay))
}

// SetRate caps each connection's throughput per direction in bytes per
// second; 0 removes the cap.
func (p *Proxy) SetRate(upRate, downRate int64) {
	p.rate[up].Store(upRate)
	p.rate[down].Store(downRate)
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := len(p.conns)
	p.mu.Unlock()
	return Stats{
		Accepted: p.accepted.Load(), Active: active, Cut: p.cuts.Load(),
		BytesUp: p.bytes[up].Load(), BytesDown: p.bytes[down].Load(),
	}
}

// Close stops listening, closes every connection and waits until every
// goroutine of the proxy has returned.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.mode == Stall {
		close(p.open)
		p.mode = Pass
	}
	pairs := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		pairs = append(pairs, c)
	}
	p.mu.Unlock()
	for _, l := range p.listeners {
		_ = l.Close()
	}
	for _, c := range pairs {
		c.abort(true)
	}
	p.wg.Wait()
	return nil
}

func (p *Proxy) accept(l net.Listener, target string) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends: do not spin
			continue
		}
		p.accepted.Add(1)
		pc := &pair{p: p, client: c}
		pc.ctx, pc.cancel = context.WithCancel(context.Background())
		pc.done = pc.ctx.Done()
		p.mu.Lock()
		refuse := p.closed || p.mode == Refuse || len(p.conns) >= p.cfg.MaxConns
		if !refuse {
			p.conns[pc] = struct{}{}
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if refuse {
			pc.cancel()
			reset(c)
			continue
		}
		go pc.run(target)
	}
}

// gate returns a channel that is closed while the proxy is not stalled.
func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// pair is one proxied connection.
type pair struct {
	p      *Proxy
	client net.Conn

	ctx    context.Context // ends when the pair does
	cancel context.CancelFunc
	done   <-chan struct{} // ctx.Done()

	mu     sync.Mutex
	server net.Conn // nil until dialled
	ended  bool
}

// wait blocks while the proxy is stalled; false when the pair ended.
func (c *pair) wait() bool {
	select {
	case <-c.p.gate():
		select {
		case <-c.done:
			return false
		default:
			return true
		}
	case <-c.done:
		return false
	}
}

func (c *pair) run(target string) {
	defer c.p.wg.Done()
	defer c.finish()
	if !c.wait() {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.p.cfg.DialTimeout)
	s, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		c.abort(true) // the client sees a reset, as from a host with no server
		return
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		reset(s)
		return
	}
	c.server = s
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pump(up, c.client, s) }()
	go func() { defer wg.Done(); c.pump(down, s, c.client) }()
	wg.Wait()
}

type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst in one direction: a reader queues chunks stamped
// with their due time, a writer sends each when due, as fast as the rate
// allows. EOF is passed on as a half-close; any error ends the pair.
func (c *pair) pump(dir int, src, dst net.Conn) {
	q := make(chan chunk, queueChunks)
	go func() {
		defer close(q)
		for c.wait() {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case q <- chunk{buf[:n], time.Now().Add(time.Duration(c.p.delay[dir].Load()))}:
				case <-c.done:
					return
				}
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				c.abort(true)
				return
			}
		}
	}()
	var next time.Time // rate limiting: when the next byte may go
	for {
		var ch chunk
		var ok bool
		select {
		case ch, ok = <-q:
		case <-c.done:
			for range q { // let the reader see done and return
			}
			return
		}
		if !ok {
			// The source said EOF and everything before it was sent.
			if cw, isTCP := dst.(interface{ CloseWrite() error }); isTCP {
				_ = cw.CloseWrite()
			}
			return
		}
		if !c.sleepUntil(ch.due) || !c.wait() {
			continue // done: drained above on the next turn
		}
		if r := c.p.rate[dir].Load(); r > 0 {
			now := time.Now()
			if next.Before(now) {
				next = now
			}
			next = next.Add(time.Duration(float64(len(ch.data)) / float64(r) * float64(time.Second)))
			if !c.sleepUntil(next) {
				continue
			}
		}
		if _, err := dst.Write(ch.data); err != nil {
			c.abort(true)
			continue
		}
		c.p.bytes[dir].Add(int64(len(ch.data)))
	}
}

func (c *pair) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-c.done:
		return false
	}
}

// abort ends the pair at once; reset sends RST instead of FIN.
func (c *pair) abort(rst bool) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.cancel()
	s := c.server
	c.mu.Unlock()
	for _, conn := range []net.Conn{c.client, s} {
		if conn == nil {
			continue
		}
		if rst {
			reset(conn)
		} else {
			_ = conn.Close()
		}
	}
}

// finish closes both ends after both directions ended and forgets the pair.
func (c *pair) finish() {
	c.abort(false)
	c.p.mu.Lock()
	delete(c.p.conns, c)
	c.p.mu.Unlock()
}

// reset closes conn with RST.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
