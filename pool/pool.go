package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Pool lends logged-in control connections. At most MaxConns exist at once;
// read streams a program waits for may hold at most MaxConns-1 of them
// (when MaxConns > 1) so metadata operations always find one (a stream
// that ends within the read opening it, a small file read whole, counts
// as an operation), and an idle stream is closed to free its connection
// when anyone is waiting. Background work (read-ahead lanes, prefetch, the
// spare) holds at most what programs do not hold, less one, is served only
// while no program's request waits, and gives its connection back, or has
// it taken (ErrPreempted), within a few round trips of one starting to
// wait (see sched.go).
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

	mu      sync.Mutex
	idle    []*conn            // most recently used last
	lent    map[*conn]struct{} // connections lent out, interrupted by Close
	open    int                // connections lent, idle or being dialled
	size                       // how many connections the server allows (health.go)
	streams int                // connections lent (or being dialled) for readers, foreground and background
	waiting int                // foreground gets waiting for a connection
	// Background work (see sched.go): what it holds, and its queue.
	bgLent    int                   // connections lent (or being dialled) for background gets
	bgStreams int                   // of which streams
	bgQueue   []*bgTicket           // background gets waiting, in the order they asked
	readers   map[*Reader]idleSince // readers holding a stream while not reading
	changed   chan struct{}         // closed and replaced whenever a connection or a slow slot is freed
	// slowListings hold a slow slot (see slowlist.go).
	slowListings int
	closed       bool

	health                  // whether the server answers (health.go)
	slowAfter time.Duration // slowListingAfter; tests shorten it
	minGrace  time.Duration // minBgGrace; tests lengthen it
	spares    spareSlot     // a data connection opened ahead (spare.go)
	ahead     aheadState    // passive ports asked ahead (passive.go)
}

// Backoff between attempts while the server refuses every connection with
// 421 (its connection limit is taken by sessions the pool does not hold).
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 2 * time.Second
)

// New prepares a pool; it does not connect (see Check).
func New(cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	p := &Pool{cfg: cfg, log: cfg.Logger, lent: map[*conn]struct{}{},
		readers: map[*Reader]idleSince{}, changed: make(chan struct{}),
		size:      size{max: cfg.MaxConns, regrowAfter: regrowAfter},
		health:    health{log: cfg.Logger, budget: min(cfg.Timeout, unresponsiveBudget)},
		slowAfter: slowListingAfter, minGrace: minBgGrace}
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

// streamLimitLocked is how many foreground streams may be open. They
// leave one connection for commands, so a listing never waits behind open
// transfers. Background streams (lanes) are bounded apart (see sched.go):
// they give theirs back whenever a program's request waits.
func (p *Pool) streamLimitLocked() int {
	if p.max <= 1 {
		return p.max
	}
	return p.max - 1
}

// contended reports whether a foreground get waits for a connection:
// background readers then give their stream back before their next read.
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
	return max(p.streamLimitLocked(), min(p.max, 2))
}

func (p *Pool) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
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

// lendLocked records c, taken from the idle list, as lent for kind under
// ctx, of class bg.
func (p *Pool) lendLocked(c *conn, ctx context.Context, kind use, bg bool) {
	p.countLocked(kind, bg, 1)
	p.bindLocked(c, ctx, kind, bg)
}

// bindLocked marks c lent for kind under ctx, of class bg, counted already
// (by lendLocked, or by the dial's reservation in get).
func (p *Pool) bindLocked(c *conn, ctx context.Context, kind use, bg bool) {
	p.lent[c] = struct{}{}
	c.stream, c.bg, c.idleReader = kind != useOp, bg, false
	c.holder = nil
	if kind != useSpare { // the spare is reclaimed, never preempted
		c.holder = ctx
	}
}

// countLocked adds n to the counts a lend of kind and class bg is bounded
// by (streams, bgLent, bgStreams). A dial counts from the moment it takes
// its slot in open: gets that start together on a cold pool would all pass
// roomLocked otherwise, and background, or streams, take every connection.
func (p *Pool) countLocked(kind use, bg bool, n int) {
	stream := kind != useOp
	if stream {
		p.streams += n
	}
	if bg {
		p.bgLent += n
		if stream {
			p.bgStreams += n
		}
	}
}

// put returns a lent connection; a broken one is dropped, and so is one
// cut, one marked preempted (read under Pool.mu, so a cut still on its way
// never reaches the idle list), and one whose session the server ended.
func (p *Pool) put(c *conn, isBroken bool) {
	c.lastUsed = time.Now()
	if !c.ahead.keep {
		c.clearAhead() // the lend's commands may have replaced its listener
	}
	c.ahead.keep = false
	p.mu.Lock()
	isBroken = isBroken || c.interrupted.Load() || c.preempted.Load() || c.ended
	delete(p.lent, c)
	kind := useOp // countLocked tells only streams from the rest
	if c.stream {
		kind = useStream
	}
	p.countLocked(kind, c.bg, -1)
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
		_, err = p.run(ctx, c, op, path, func() error { return fn(c) })
		isBroken := broken(err)
		p.put(c, isBroken)
		p.report(op, path, start, err)
		if isBroken && idempotent && attempt == 0 && retryable(err) && ctx.Err() == nil {
			p.Metrics.Retries.Add(1)
			p.log.Debug("retrying on a fresh connection", "op", op, "path", path, "err", err)
			fresh = true
			continue
		}
		return err
	}
}

// idleSince is when a reader's stream went idle, and whether its last
// read was background work.
type idleSince struct {
	at time.Time
	bg bool
}

// readerBusy records that r starts a read under ctx: its stream, if any,
// is no longer idle and carries this read's class, both under one hold of
// Pool.mu, so that a preemption never sees it busy under the last read's
// class (a program's read on a stream a background read opened).
func (p *Pool) readerBusy(r *Reader, ctx context.Context) {
	p.mu.Lock()
	delete(p.readers, r)
	if r.c != nil {
		p.reclassLocked(r.c, ctx)
		r.c.idleReader = false
	}
	p.mu.Unlock()
}

// keptAsStream counts c, lent as a command for a read that was to reach
// the end of the file as listed (openLocked's toEnd), as the stream it
// turned out to be: the file grew on the server, and the stream stays
// open after the read.
func (p *Pool) keptAsStream(c *conn) {
	p.mu.Lock()
	if !c.stream {
		// What countLocked adds for a stream beside the lend itself.
		c.stream = true
		p.streams++
		if c.bg {
			p.bgStreams++
		}
	}
	p.mu.Unlock()
}

// readerIdle records that r holds a stream but is not reading.
func (p *Pool) readerIdle(r *Reader, idle bool) {
	p.mu.Lock()
	if idle {
		// r.mu is held: r.c is r's, and its holder the last read's context.
		bg := r.c != nil && r.c.holder != nil && background(r.c.holder, r.kind)
		p.readers[r] = idleSince{at: time.Now(), bg: bg}
		p.signalLocked() // a waiter may now evict it
	} else {
		delete(p.readers, r)
	}
	if r.c != nil {
		r.c.idleReader = idle // an idle reader is parked, not preempted
	}
	p.mu.Unlock()
}
