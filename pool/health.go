package pool

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// Health: what the pool knows about the server apart from lending: whether
// it answers (unresponsive, and the short budget operations get while it
// does not), and how many connections it allows (421 at the greeting
// shrinks the pool; it regrows by one now and then).

// health tracks whether the server answers. Its fields are safe from any
// goroutine; it takes no lock.
type health struct {
	log *slog.Logger
	// unresponsive is set when the server let an operation run into its
	// deadline, and cleared by the next answer: see opContext.
	unresponsive atomic.Bool
	budget       time.Duration // min(timeout, unresponsiveBudget); tests shorten it
}

// unresponsiveBudget is how long an operation may wait for a server that
// is not answering (or timeout, if shorter); dials it abandons go on in the
// background.
const unresponsiveBudget = 2 * time.Second

// opContext bounds one operation. While the server is known not to answer
// (an operation ran into its deadline and nothing answered since), it gets
// a short budget instead of a whole timeout: the kernel retries a failed
// read (readahead, then the page itself) and serialises lookups of one name,
// so a syscall would otherwise wait one timeout per attempt. Any answer
// from the server lifts the limit.
func (h *health) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if !h.unresponsive.Load() {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.budget)
}

// noteStalled records that an operation gave up on the server after
// waiting since then without an answer; a wait of at least the short budget
// (whether its deadline or a cancellation ended it) means the server is not
// answering. The zero time means a network read or write timed out.
func (h *health) noteStalled(since time.Time) {
	if time.Since(since) >= h.budget && !h.unresponsive.Swap(true) {
		h.log.Warn("server not answering; operations give up after a short wait until it answers again", "wait", h.budget)
	}
}

// noteTimeout records a network read or write that ran into timeout: the
// server has been silent that long.
func (h *health) noteTimeout(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		h.noteStalled(time.Time{})
	}
}

// noteAnswered records that the server answered on a control connection
// (a reply, a login). Bytes read from a data stream do not count: they may
// have been in the socket's buffers since before the server went silent.
func (h *health) noteAnswered() {
	if h.unresponsive.Load() && h.unresponsive.Swap(false) {
		h.log.Info("server answering again")
	}
}

// size is how many connections the server allows, under Pool.mu.
type size struct {
	max         int           // MaxConns, lowered when the server refuses more
	shrunkAt    time.Time     // when max was last lowered (or raised again)
	regrowAfter time.Duration // regrowAfter; tests shorten it
}

// regrowAfter is how long the pool keeps to the size a server imposed (421
// at the greeting) before it tries one connection more: the limit may have
// been someone else's connections, or sessions the server had not reaped.
const regrowAfter = time.Minute

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
