package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// The scheduler: every get has a class. Foreground is work a program
// waits for; background is work done ahead of need (read-ahead lanes,
// prefetch, the spare). The rules, so that background never holds what a
// program waits for:
//   - background is served only while no foreground get waits, in the
//     order it asked (FIFO, so one file's lanes cannot starve another's),
//     and holds at most bgLimit connections: those foreground does not
//     hold, less one, which is always left for foreground;
//   - a background get that is promoted while it waits (a program began
//     waiting for its result; see package priority) competes as foreground
//     from then on;
//   - a foreground get that finds nothing free takes the spare back, then
//     closes an idle reader's stream (a background reader's first), then
//     waits at most bgGrace for a background holder to give its connection
//     back (lane readers do so before their next read, see contended), and
//     then preempts one whose context carries its class (so that it would
//     have been promoted had a program waited for it): its sockets are
//     closed, and its operation fails at once with ErrPreempted.

// ErrPreempted: a background operation's connection was taken for work a
// program waits for. It is never retried; the work is fetched again by
// whoever needs it.
var ErrPreempted = errors.New("background work preempted by a foreground request")

// background reports whether a get of kind under ctx is background: the
// context says so (package priority), or, for a context that carries no
// class, the kind does (read-ahead lanes and the spare).
func background(ctx context.Context, kind use) bool {
	if priority.Promoted(ctx) != nil {
		return priority.IsBackground(ctx)
	}
	return kind == useLane || kind == useSpare
}

// bgLimitLocked is how many connections background work may hold: what
// programs do not hold, less one, so a program's next request finds one
// without waiting (or, with a single connection, that one, which a
// foreground get then preempts). While programs keep all but one busy
// (eight readers on eight connections), background starts nothing: its
// work would only be preempted, at the price of a new login each time.
func (p *Pool) bgLimitLocked() int {
	if p.max <= 1 {
		return p.max
	}
	return max(0, p.max-1-p.fgHeldLocked())
}

// fgHeldLocked is how many connections foreground work holds or dials,
// not counting programs' streams idle between reads: a program's next
// request parks those (makeRoom), so they leave room for background as an
// idle connection does (a file held open while its read-ahead runs).
func (p *Pool) fgHeldLocked() int {
	held := p.open - len(p.idle) - p.bgLent
	for _, i := range p.readers {
		if !i.bg {
			held--
		}
	}
	return max(0, held)
}

// bgGrace is how long a foreground get waits for background holders to
// give a connection back before it preempts one: a few round trips, for a
// lane to finish the block it reads and abort its stream politely.
func (p *Pool) bgGrace() time.Duration {
	return max(4*p.RoundTrip(), p.minGrace)
}

// minBgGrace is bgGrace's floor (a loopback round trip is microseconds;
// an abort still takes a few scheduling delays).
const minBgGrace = 20 * time.Millisecond

// bgTicket is a background get's place in the queue. It is not empty:
// pointers to distinct zero-size values may be equal.
type bgTicket struct{ _ byte }

// roomLocked reports whether a get of kind and class may take a connection
// now, if one is idle or may be dialled. t is a background get's ticket
// (it counts once the get is in line).
func (p *Pool) roomLocked(kind use, bg bool, t *bgTicket) bool {
	if !bg {
		// Foreground streams leave one connection for commands; background
		// streams do not count, since they give theirs back on demand.
		return kind == useOp || p.streams-p.bgStreams < p.streamLimitLocked()
	}
	if p.waiting > 0 || p.bgLent >= p.bgLimitLocked() {
		return false
	}
	if len(p.bgQueue) > 0 && p.bgQueue[0] != t {
		return false // an earlier background get goes first
	}
	return kind != useStream || p.streams < p.streamLimitLocked()
}

// queueLocked puts a background get in line, once.
func (p *Pool) queueLocked(t *bgTicket) {
	if !slices.Contains(p.bgQueue, t) {
		p.bgQueue = append(p.bgQueue, t)
	}
}

// leaveQueue takes t out of line, if it is in it, and lets the next go.
func (p *Pool) leaveQueue(t *bgTicket) {
	p.mu.Lock()
	p.leaveQueueLocked(t)
	p.mu.Unlock()
}

func (p *Pool) leaveQueueLocked(t *bgTicket) {
	if i := slices.Index(p.bgQueue, t); i >= 0 {
		p.bgQueue = slices.Delete(p.bgQueue, i, i+1)
		p.signalLocked()
	}
}

// preemptableLocked is a connection lent to background work that is still
// background and not an idle reader's (those are parked instead), or nil.
// Only work whose context carries its class is preempted: that work is
// promoted when a program starts waiting for it (package priority), so a
// program never gets ErrPreempted for its own read. A lane without a class
// may have a program waiting on its result; it yields before its next read
// instead.
func (p *Pool) preemptableLocked() *conn {
	for c := range p.lent {
		if c.bg && !c.idleReader && c.holder != nil && priority.Promoted(c.holder) != nil && priority.IsBackground(c.holder) {
			return c
		}
	}
	return nil
}

// preempt cuts a background holder's connection so its operation fails at
// once with ErrPreempted, and reports whether there was one to cut. The
// mark is set under Pool.mu, where put looks for it: a holder that gives
// the connection back before the cut lands drops it instead of leaving it
// idle for a program's next operation to meet the cut.
func (p *Pool) preempt() bool {
	p.mu.Lock()
	c := p.preemptableLocked()
	if c != nil {
		c.holder = nil // preempted once
		c.preempted.Store(true)
	}
	p.mu.Unlock()
	if c == nil {
		return false
	}
	p.Metrics.Preemptions.Add(1)
	p.log.Debug("background work preempted for a program's request")
	c.interrupt()
	return true
}

// reclass records the context under which the holder of c works now (a
// reader's stream outlives the read that opened it); nil while it gives c
// back (an abort), when preempting would only cost the connection.
func (p *Pool) reclass(c *conn, ctx context.Context) {
	p.mu.Lock()
	p.reclassLocked(c, ctx)
	p.mu.Unlock()
}

func (p *Pool) reclassLocked(c *conn, ctx context.Context) {
	if !c.preempted.Load() {
		c.holder = ctx
	}
}

// interruptedError is the error of an operation whose connection was
// closed under it: ErrPreempted when the scheduler took it, else the
// context's end.
func interruptedError(c *conn, op, path string, ctx context.Context) error {
	if c.preempted.Load() {
		return fmt.Errorf("%s %s: %w", op, path, ErrPreempted)
	}
	return ctxError(op, path, ctx)
}

// get lends a connection. fresh skips idle connections that were not
// checked, after an operation failed on one. Everything it waits for (a free
// connection, a NOOP, a dial) ends with ctx.
func (p *Pool) get(ctx context.Context, kind use, fresh bool) (*conn, error) {
	return p.getFor(ctx, kind, fresh, false)
}

// getFor is get for a download (download set) or anything else: an idle
// connection with a port asked ahead goes to a download (takeIdleLocked).
func (p *Pool) getFor(ctx context.Context, kind use, fresh, download bool) (*conn, error) {
	bg := background(ctx, kind)
	var ticket *bgTicket
	if bg {
		ticket = &bgTicket{}
		defer p.leaveQueue(ticket)
	}
	backoff := backoffMin
	refusedSince := time.Time{}
	var graceEnd time.Time // when a foreground get stops waiting for background holders
	// A foreground get counts in waiting from its first wait until it takes
	// a connection or gives up, not per wait: background must not slip in
	// between its wake-up and its next look.
	waited := false
	defer func() {
		if waited {
			p.mu.Lock()
			p.stopWaitingLocked(&waited)
			p.mu.Unlock()
		}
	}()
	for {
		if ctx.Err() != nil {
			return nil, ctxError("waiting for a free connection", "", ctx)
		}
		if bg && !background(ctx, kind) {
			bg = false // promoted: from now on a program waits for it
			p.leaveQueue(ticket)
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		p.regrowLocked()
		if kind == useSpare && !(p.spareRoomLocked() && p.roomLocked(kind, bg, ticket)) {
			p.mu.Unlock()
			return nil, errNoSpareRoom
		}
		if p.roomLocked(kind, bg, ticket) && (len(p.idle) > 0 || p.open < p.max) {
			// It has its connection (or dials it): out of waiting, out of line.
			p.stopWaitingLocked(&waited)
			p.leaveQueueLocked(ticket)
			if len(p.idle) > 0 {
				c := p.takeIdleLocked(download)
				p.lendLocked(c, ctx, kind, bg)
				p.mu.Unlock()
				if fresh || time.Since(c.lastUsed) > p.cfg.IdleCheck {
					if !p.check(ctx, c) {
						continue
					}
				}
				return c, nil
			}
			if p.open < p.max {
				// The dial counts as what it is for from now (countLocked),
				// and gives that back unless it ends lent.
				p.open++
				p.countLocked(kind, bg, 1)
				p.mu.Unlock()
				start := time.Now()
				c, err := p.dial(ctx)
				if err != nil {
					p.mu.Lock()
					p.countLocked(kind, bg, -1)
					p.signalLocked() // a get held back by the counts may go on
					p.mu.Unlock()
				}
				// Background dials do not judge the server's health (see run).
				if errors.Is(err, errAbandoned) {
					if !bg {
						p.noteStalled(start)
					}
					return nil, p.abandonedError(ctx)
				}
				if err != nil {
					p.Metrics.DialFailures.Add(1)
					if !bg {
						p.noteTimeout(err)
					}
					if p.refused(err) && kind != useSpare {
						// The server is at its connection limit: wait for one of
						// ours to come free, or, holding none, back off and retry
						// for up to timeout instead of failing the operation.
						if refusedSince.IsZero() {
							refusedSince = time.Now()
						}
						if p.OpenConns() > 0 {
							continue
						}
						if time.Since(refusedSince) < p.cfg.Timeout && sleepCtx(ctx, backoff) {
							backoff = min(2*backoff, backoffMax)
							continue
						}
					}
					return nil, err
				}
				p.mu.Lock()
				if p.closed {
					p.open--
					p.countLocked(kind, bg, -1)
					p.mu.Unlock()
					c.close()
					return nil, ErrClosed
				}
				p.bindLocked(c, ctx, kind, bg)
				p.mu.Unlock()
				return c, nil
			}
		}
		wake := p.changed
		if bg {
			// Background waits its turn; it takes no connection from a
			// program's request, only from background readers idle for
			// longer than the grace (a lane done with its chunk keeps its
			// stream while it waits for the next: lanes must yield to each
			// other; one merely between two reads must not be parked).
			p.queueLocked(ticket)
			victim, since := p.idleBgReaderLocked()
			p.mu.Unlock()
			parkIn := time.Duration(-1) // never
			if victim != nil {
				if parkIn = max(0, p.bgGrace()-time.Since(since)); parkIn == 0 && victim.park(ctx) {
					p.Metrics.Evictions.Add(1)
					continue
				}
			}
			p.waitBackground(ctx, wake, parkIn)
			continue
		}
		victim := p.idleReaderLocked()
		// Preempting helps only if a freed connection would let this get
		// go on (a stream may wait for foreground streams instead).
		holder := p.preemptableLocked() != nil && p.roomLocked(kind, false, nil)
		if !waited {
			waited = true
			p.waiting++
		}
		p.mu.Unlock()
		p.makeRoom(ctx, wake, victim, holder, &graceEnd)
	}
}

// waitBackground waits for a change, the end of ctx, a promotion, or d
// (when d >= 0; with d == 0, one that could not park its victim waits
// for a change like the others).
func (p *Pool) waitBackground(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	var at <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		at = t.C
	}
	select {
	case <-wake:
	case <-ctx.Done():
	case <-priority.Promoted(ctx):
	case <-at:
	}
}

// stopWaitingLocked takes a foreground get out of waiting, if it was in.
func (p *Pool) stopWaitingLocked(waited *bool) {
	if !*waited {
		return
	}
	*waited = false
	if p.waiting--; p.waiting == 0 {
		p.signalLocked() // background held back may go on
	}
}

// makeRoom is what a foreground get that found nothing free does before it
// looks again: take the spare back, or park the idle reader victim, or,
// when background holds a connection it could use (holder), wait for it
// until graceEnd (set at the first such wait) and then preempt one; or
// wait for a change.
func (p *Pool) makeRoom(ctx context.Context, wake <-chan struct{}, victim *Reader, holder bool, graceEnd *time.Time) {
	// The spare goes first: it is speculative, a reader's stream is not.
	// (The get counts in waiting already, so a spare stored from now on is
	// reclaimed by its preparer.)
	switch {
	case p.reclaimSpare():
	case victim != nil && victim.park(ctx):
		p.Metrics.Evictions.Add(1)
	case holder:
		// Lanes see the get waiting and give their connection back before
		// their next read; one that does not within the grace is preempted.
		if graceEnd.IsZero() {
			*graceEnd = time.Now().Add(p.bgGrace())
		}
		t := time.NewTimer(time.Until(*graceEnd))
		defer t.Stop()
		select {
		case <-wake:
		case <-ctx.Done():
		case <-t.C:
			if p.preempt() {
				// One at a time: wait for its connection to come back
				// rather than cutting the next holder at once.
				select {
				case <-wake:
				case <-ctx.Done():
				}
			}
		}
	default:
		select {
		case <-wake:
		case <-ctx.Done():
		}
	}
}

// check sends a NOOP on an idle connection c just lent; a failed one is
// dropped and false returned.
func (p *Pool) check(ctx context.Context, c *conn) bool {
	// A transfer's context has no deadline; the check has one.
	cctx, cancel := p.bounded(ctx)
	usable, err := p.run(cctx, c, "NOOP", "", c.sc.NoOp)
	cancel() // after run: a cancel before it would cut the connection
	if err != nil || !usable {
		p.log.Debug("idle connection failed its check", "err", err)
		p.put(c, true)
		return false
	}
	return true
}

// idleBgReaderLocked is the background reader idle longest, and since
// when, or nil.
func (p *Pool) idleBgReaderLocked() (*Reader, time.Time) {
	var victim *Reader
	var oldest time.Time
	for r, i := range p.readers {
		if i.bg && (victim == nil || i.at.Before(oldest)) {
			victim, oldest = r, i.at
		}
	}
	return victim, oldest
}

// idleReaderLocked is the reader to park for a waiting get: an idle
// background reader if any, else the one idle longest.
func (p *Pool) idleReaderLocked() *Reader {
	var victim *Reader
	var best idleSince
	for r, i := range p.readers {
		if victim == nil || i.bg && !best.bg || i.bg == best.bg && i.at.Before(best.at) {
			victim, best = r, i
		}
	}
	return victim
}
