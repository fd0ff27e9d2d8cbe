package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// Slow listings. A listing the server drips (or that is simply huge on a
// slow link) holds its connection for as long as it runs; a few of them
// in different directories would hold every connection, and every other
// operation of the mount would wait behind them until its own timeout.
// So a listing that has run for slowListingAfter (or ten round trips, if
// longer) counts as slow, and at most slowLimitLocked of them hold
// connections at once. A listing that turns slow while that many are
// slow already is stopped (its connections cut) and waits, holding no
// connection, for a slot; then it starts again holding one. Fast listings
// and every other operation always find the rest of the connections. A
// caller sees no error from this, only its own timeout if the slots stay
// taken that long.

// slowListingAfter is how long a listing runs before it counts as slow: far
// more than a normal directory takes, short beside timeout.
const slowListingAfter = 2 * time.Second

// errSlowListing: a listing was stopped because too many slow ones hold
// connections; List waits for a slot and starts it again.
var errSlowListing = errors.New("listing stopped: too many slow listings hold connections")

// slowBackgroundError is what a background listing that turned slow fails
// with: it was given up for the programs' sake, like preempted work.
func slowBackgroundError(dir string) error {
	return fmt.Errorf("LIST %s: slow listing not kept up in the background: %w", dir, ErrPreempted)
}

// slowLimitLocked is how many slow listings may hold connections: half of
// them, at least one.
func (p *Pool) slowLimitLocked() int {
	return max(1, p.max/2)
}

// listingWatch turns a running listing slow once it has run long enough:
// it takes a slot if one is free, and otherwise cuts the listing. A
// background listing (a prefetch nobody has joined) never takes a slot:
// it is cut and fails, so speculative work cannot fill the slots a
// program's own slow listing needs.
type listingWatch struct {
	p     *Pool
	c     *conn
	ctx   context.Context // the listing's, for its class when it turns slow
	timer *time.Timer

	mu      sync.Mutex
	over    bool // the listing ended; the timer does nothing any more
	slot    bool // took a slow slot, which the listing now holds
	stopped bool // found no slot and cut the listing
	dropped bool // cut because it was background work: it fails, it does not wait
}

// watchListing starts watching a listing on c; nil when it already holds a
// slot (it may run as long as it needs).
func (p *Pool) watchListing(ctx context.Context, c *conn, holding bool) *listingWatch {
	if holding {
		return nil
	}
	w := &listingWatch{p: p, c: c, ctx: ctx}
	w.timer = time.AfterFunc(max(p.slowAfter, 10*p.RoundTrip()), w.turnSlow)
	return w
}

func (w *listingWatch) turnSlow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.over {
		return
	}
	p := w.p
	if priority.IsBackground(w.ctx) {
		w.stopped, w.dropped = true, true
		p.Metrics.SlowListingsStopped.Add(1)
		p.log.Debug("a background listing turned slow; dropped")
		w.c.interrupt()
		return
	}
	p.mu.Lock()
	if p.slowListings < p.slowLimitLocked() {
		p.slowListings++
		w.slot = true
	} else {
		w.stopped = true
	}
	p.mu.Unlock()
	if w.stopped {
		p.Metrics.SlowListingsStopped.Add(1)
		p.log.Debug("too many slow listings hold connections; one waits for a slot")
		w.c.interrupt() // under w.mu: end reports stopped only once it is cut
	}
}

// end stops watching; it reports whether the watch took a slot (which the
// caller must release), whether it cut the listing, and whether that cut
// drops it (background work) rather than making it wait for a slot.
func (w *listingWatch) end() (slot, stopped, dropped bool) {
	if w == nil {
		return false, false, false
	}
	w.timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.over = true
	return w.slot, w.stopped, w.dropped
}

// waitSlowSlot waits, holding no connection, until a slow slot is free and
// takes it.
func (p *Pool) waitSlowSlot(ctx context.Context, dir string) error {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return ErrClosed
		}
		if p.slowListings < p.slowLimitLocked() {
			p.slowListings++
			p.mu.Unlock()
			return nil
		}
		wake := p.changed
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctxError("LIST", dir, ctx)
		}
	}
}

func (p *Pool) releaseSlowSlot() {
	p.mu.Lock()
	p.slowListings--
	p.signalLocked()
	p.mu.Unlock()
}
