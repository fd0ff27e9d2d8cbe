package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Pool lends logged-in control connections. At most MaxConns exist at once;
// read streams may hold at most MaxConns-1 of them (when MaxConns > 1) so
// metadata operations always find one, and an idle stream is closed to free
// its connection when anyone is waiting. Read-ahead lanes may use every
// connection but give theirs back as soon as anything else waits.
//
// Faults: every wait ends with the operation's context (the sockets are
// closed under an operation whose context ends; see conn.bind), and slow
// listings hold at most half the connections (see slowlist.go). A broken
// connection is dropped and an idempotent operation retried once on a
// fresh one. A server that refuses more connections (421 at the greeting)
// shrinks the pool, and work queues for the connections it allows; one that
// refuses all is retried with back-off for up to timeout. A server that let
// an operation run into its deadline gets only a short wait per operation
// until it answers again (see opContext).
type Pool struct {
	cfg     Config
	log     *slog.Logger
	dialer  *dialer
	Metrics Metrics

	mu       sync.Mutex
	idle     []*conn            // most recently used last
	lent     map[*conn]struct{} // connections lent out, interrupted by Close
	open     int                // connections lent, idle or being dialled
	max      int                // MaxConns, lowered when the server refuses more
	shrunkAt time.Time          // when max was last lowered (or raised again)
	streams  int                // connections lent to readers (foreground and background)
	waiting  int                // foreground gets waiting for a connection
	// Background work (see sched.go): what it holds, and its queue.
	bgLent    int                   // connections lent to background gets
	bgStreams int                   // of which streams
	bgQueue   []*bgTicket           // background gets waiting, in the order they asked
	readers   map[*Reader]time.Time // readers holding a stream while not reading, by last use
	changed   chan struct{}         // closed and replaced whenever a connection or a slow slot is freed
	// slowListings hold a slow slot (see slowlist.go).
	slowListings int
	closed       bool

	// unresponsive is set when the server let an operation run into its
	// deadline, and cleared by the next answer: see opContext.
	unresponsive atomic.Bool
	budget       time.Duration // min(timeout, unresponsiveBudget); tests shorten it
	regrowAfter  time.Duration // regrowAfter; tests shorten it
	slowAfter    time.Duration // slowListingAfter; tests shorten it
	minGrace     time.Duration // minBgGrace; tests lengthen it
	spares       spareSlot     // a data connection opened ahead (spare.go)
}

// regrowAfter is how long the pool keeps to the size a server imposed (421
// at the greeting) before it tries one connection more: the limit may have
// been someone else's connections, or sessions the server had not reaped.
const regrowAfter = time.Minute

// Backoff between attempts while the server refuses every connection with
// 421 (its connection limit is taken by sessions the pool does not hold).
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
)

// New prepares a pool; it does not connect (see Check).
func New(cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	p := &Pool{cfg: cfg, log: cfg.Logger, max: cfg.MaxConns, lent: map[*conn]struct{}{},
		readers: map[*Reader]time.Time{}, changed: make(chan struct{}),
		budget: min(cfg.Timeout, unresponsiveBudget), regrowAfter: regrowAfter, slowAfter: slowListingAfter,
		minGrace: minBgGrace}
	d, err := newDialer(cfg, &p.Metrics)
	if err != nil {
		return nil, err
	}
	p.dialer = d
	return p, nil
}

// Check logs in once (so bad credentials or certificates fail before
// mounting) and verifies that dir exists; the connection stays in the pool.
func (p *Pool) Check(ctx context.Context, dir string) error {
	return p.do(ctx, "check", dir, false, func(c *conn) error {
		if err := c.sc.ChangeDir(dir); err != nil {
			return replyError("start directory", dir, err)
		}
		return nil
	})
}

// Close quits every idle connection and interrupts the lent ones, whose
// operations then fail at once; they are closed when returned. Waiting
// operations fail with ErrClosed. A dial still in progress closes its
// connection when it completes.
func (p *Pool) Close() error {
	p.closeSpare()
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	lent := make([]*conn, 0, len(p.lent))
	for c := range p.lent {
		lent = append(lent, c)
	}
	p.signalLocked()
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
	for _, c := range lent {
		c.interrupt()
	}
	return nil
}

// OpenConns is the number of control connections currently open or dialling.
func (p *Pool) OpenConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// use says what a connection is lent for.
type use int

const (
	useOp     use = iota // one command or listing
	useStream            // a transfer that may stay open between reads
	useLane              // parallel read-ahead (see OpenLaneReader)
)

// streamLimitLocked is how many streams may be open when one of kind asks.
// Streams leave one connection for commands, so a listing never waits
// behind open transfers. Read-ahead lanes may also take that one, because
// they give it back between blocks whenever anything waits (contended).
func (p *Pool) streamLimitLocked(kind use) int {
	if kind == useLane || p.max <= 1 {
		return p.max
	}
	return p.max - 1
}

// contended reports whether an operation or a reader waits for a
// connection.
func (p *Pool) contended() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting > 0
}

// RoundTrip is the shortest command round trip seen on a fresh
// connection: about the network's round-trip time.
func (p *Pool) RoundTrip() time.Duration {
	return time.Duration(p.dialer.minRTT.Load())
}

// ReadLanes is how many streams one sequential reader may use at once:
// every stream slot, and at least two when there are two connections.
func (p *Pool) ReadLanes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.streamLimitLocked(useStream), min(p.max, 2))
}

func (p *Pool) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// opContext bounds one operation. While the server is known not to answer
// (an operation ran into its deadline and nothing answered since), it gets
// a short budget instead of a whole timeout: the kernel retries a failed
// read (readahead, then the page itself) and serialises lookups of one name,
// so a syscall would otherwise wait one timeout per attempt. Any answer
// from the server lifts the limit.
func (p *Pool) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if !p.unresponsive.Load() {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.budget)
}

// unresponsiveBudget is how long an operation may wait for a server that
// is not answering (or timeout, if shorter); dials it abandons go on in the
// background.
const unresponsiveBudget = 2 * time.Second

// noteStalled records that an operation gave up on the server after
// waiting since then without an answer; a wait of at least the short budget
// (whether its deadline or a cancellation ended it) means the server is not
// answering. The zero time means a network read or write timed out.
func (p *Pool) noteStalled(since time.Time) {
	if time.Since(since) >= p.budget && !p.unresponsive.Swap(true) {
		p.log.Warn("server not answering; operations give up after a short wait until it answers again", "wait", p.budget)
	}
}

// noteTimeout records a network read or write that ran into timeout: the
// server has been silent that long.
func (p *Pool) noteTimeout(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p.noteStalled(time.Time{})
	}
}

// noteAnswered records that the server answered on a control connection
// (a reply, a login). Bytes read from a data stream do not count: they may
// have been in the socket's buffers since before the server went silent.
func (p *Pool) noteAnswered() {
	if p.unresponsive.Load() && p.unresponsive.Swap(false) {
		p.log.Info("server answering again")
	}
}

// warmOne logs in one more connection for the idle list if the pool has
// room, without waiting for one to come free (Warm must not hold
// connections while waiting for more: a server limit below connections=
// would then stall every operation until Warm gives up). It reports
// whether a connection was added.
func (p *Pool) warmOne(ctx context.Context) bool {
	p.mu.Lock()
	if p.closed || p.open >= p.max {
		p.mu.Unlock()
		return false
	}
	p.open++
	p.mu.Unlock()
	// Nobody waits for it: the login ends with ctx (the warm-up's deadline).
	c, err := p.dialer.dial(ctx)
	if err != nil {
		p.Metrics.DialFailures.Add(1)
		p.refused(err)
		return false
	}
	p.noteAnswered()
	p.put(c, false)
	return true
}

// errAbandoned: the caller of dial stopped waiting; the dial goes on and its
// connection joins the idle list.
var errAbandoned = errors.New("dial abandoned")

// dial logs in one connection, counted in open by the caller. The login
// is bounded by one timeout from its start, not by ctx; when ctx ends first
// the caller gets errAbandoned at once and the dial finishes in the
// background, within that timeout still: a connection that succeeds then
// joins the idle list (it is the next caller's), and one that fails gives
// its slot back.
func (p *Pool) dial(ctx context.Context) (*conn, error) {
	type result struct {
		c   *conn
		err error
	}
	ch := make(chan result, 1)
	var mu sync.Mutex
	abandoned := false
	go func() {
		c, err := p.dialer.dial(context.WithoutCancel(ctx))
		if err == nil {
			p.noteAnswered()
		}
		mu.Lock()
		defer mu.Unlock()
		if !abandoned {
			ch <- result{c, err}
			return
		}
		if err != nil {
			p.Metrics.DialFailures.Add(1)
			p.refused(err)
			return
		}
		p.put(c, false)
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return r.c, nil
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		select {
		case r := <-ch: // it finished just now
			return r.c, r.err
		default:
			abandoned = true
			return nil, errAbandoned
		}
	}
}

// abandonedError is what a caller that stopped waiting for a dial gets: a
// deadline reads as a DialError that timed out ("no answer from HOST in
// time", ETIMEDOUT), a cancellation as the context's error.
func (p *Pool) abandonedError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &DialError{Addr: p.dialer.addr, Err: fmt.Errorf("no answer in time: %w", os.ErrDeadlineExceeded)}
	}
	return ctxError("connecting", "", ctx)
}

// sleepCtx waits for d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// lendLocked records c as lent for kind under ctx, of class bg.
func (p *Pool) lendLocked(c *conn, ctx context.Context, kind use, bg bool) {
	p.lent[c] = struct{}{}
	c.stream, c.bg, c.kind, c.idleReader = kind != useOp, bg, kind, false
	c.holder = nil
	if kind != useSpare { // the spare is reclaimed, never preempted
		c.holder = ctx
	}
	if c.stream {
		p.streams++
	}
	if bg {
		p.bgLent++
		if c.stream {
			p.bgStreams++
		}
	}
}

// refused gives back the slot of a failed dial (counted in open) and
// reports whether the server refused one more connection (421 at the
// greeting, as vsftpd's max_per_ip and max_clients do). Then, while others
// are open, the pool shrinks to what the server allows.
func (p *Pool) refused(err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open--
	p.signalLocked()
	if replyCode(err) != 421 {
		return false
	}
	if p.open > 0 && p.max > p.open {
		p.log.Warn("server refused another connection; using fewer", "connections", p.open, "reply", err)
		p.max = p.open
		p.shrunkAt = time.Now()
	}
	return true
}

// regrowLocked lets a pool that shrank try one connection more now and then.
func (p *Pool) regrowLocked() {
	if p.max < p.cfg.MaxConns && time.Since(p.shrunkAt) > p.regrowAfter {
		p.max++
		p.shrunkAt = time.Now()
		p.log.Debug("trying one connection more", "connections", p.max)
	}
}

// put returns a lent connection; a broken one is dropped.
func (p *Pool) put(c *conn, isBroken bool) {
	c.lastUsed = time.Now()
	isBroken = isBroken || c.interrupted.Load()
	p.mu.Lock()
	delete(p.lent, c)
	if c.stream {
		p.streams--
	}
	if c.bg {
		p.bgLent--
		if c.stream {
			p.bgStreams--
		}
	}
	c.stream, c.bg, c.holder, c.idleReader = false, false, nil, false
	if isBroken || p.closed {
		p.open--
		p.signalLocked()
		p.mu.Unlock()
		if isBroken {
			p.Metrics.Discards.Add(1)
			c.drop()
		} else {
			c.close()
		}
		return
	}
	p.idle = append(p.idle, c)
	p.signalLocked()
	p.mu.Unlock()
}

// do runs fn on a lent connection, interrupted when ctx ends. When the
// connection breaks and the operation is idempotent, it is retried once on a
// fresh connection.
func (p *Pool) do(ctx context.Context, op, path string, idempotent bool, fn func(*conn) error) error {
	if err := checkPath(path); err != nil {
		return err
	}
	ctx, cancel := p.opContext(ctx)
	defer cancel()
	fresh := false
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx, useOp, fresh)
		if err != nil {
			return err
		}
		start := time.Now()
		stop := c.bind(ctx, p.noteStalled)
		err = fn(c)
		switch {
		case !stop():
			if err != nil && !errors.Is(err, errSlowListing) {
				err = interruptedError(c, op, path, ctx)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			p.noteTimeout(err)
		case err == nil || replyCode(err) != 0:
			p.noteAnswered()
		}
		isBroken := broken(err)
		p.put(c, isBroken)
		p.log.Debug("remote op", "op", op, "path", path, "took", time.Since(start).Round(time.Microsecond), "err", err)
		if p.cfg.OnOp != nil && !errors.Is(err, errSlowListing) { // List starts it again
			p.cfg.OnOp(op, time.Since(start), err)
		}
		if isBroken && idempotent && attempt == 0 && retryable(err) && ctx.Err() == nil {
			p.Metrics.Retries.Add(1)
			p.log.Debug("retrying on a fresh connection", "op", op, "path", path, "err", err)
			fresh = true
			continue
		}
		return err
	}
}

// readerIdle records that r holds a stream but is not reading.
func (p *Pool) readerIdle(r *Reader, idle bool) {
	p.mu.Lock()
	if idle {
		p.readers[r] = time.Now()
		p.signalLocked() // a waiter may now evict it
	} else {
		delete(p.readers, r)
	}
	if r.c != nil {
		r.c.idleReader = idle // an idle reader is parked, not preempted
	}
	p.mu.Unlock()
}
