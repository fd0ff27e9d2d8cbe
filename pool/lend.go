package pool

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// The lend protocol, written once: a connection lent by get is bound to
// the operation's context while it talks to the server (run: a context
// that ends closes the sockets under it, see conn.bind), what the server
// did is noted (an answer lifts unresponsive, a network timeout sets it;
// see health.go), and the connection goes back to the idle list or is
// dropped (put), with the outcome reported (report).

// run lets fn talk to the server on c, which the caller holds, bound to
// ctx. err is fn's, or, when the connection was cut under fn, the cut's
// (the context's end, or ErrPreempted); usable says whether c may be lent
// again.
//
// Background work (pool/priority) does not judge the server's health: a
// prefetched listing that a server drips into its deadline says nothing a
// program waited for, and must not put the whole mount on short waits.
func (p *Pool) run(ctx context.Context, c *conn, op, path string, fn func() error) (usable bool, err error) {
	background := priority.IsBackground(ctx)
	stalled := p.noteStalled
	if background {
		stalled = func(time.Time) {}
	}
	stop := c.bind(ctx, stalled)
	err = fn()
	usable = stop()
	switch {
	case !usable:
		if err != nil && !errors.Is(err, errSlowListing) { // a listing cut to wait keeps its error
			err = interruptedError(c, op, path, ctx)
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !background {
			p.noteTimeout(err)
		}
	case err == nil || replyCode(err) != 0:
		p.noteAnswered()
	}
	return usable, err
}

// runPhased is run for a transfer's control-channel step (a context
// without deadline): the step has timeout of its own (see phase.go); what
// names it in the error when that runs out.
func (p *Pool) runPhased(ctx context.Context, c *conn, op, path, what string, fn func() error) (usable bool, err error) {
	return p.run(ctx, c, op, path, func() error {
		ph := c.startPhase(p.cfg.Timeout)
		err := fn()
		if ph.end() {
			err = ph.err(what) // the cut's own error (a closed socket) would hide why
		}
		return err
	})
}

// report logs an operation run on a lent connection and tells Config.OnOp.
func (p *Pool) report(op, path string, start time.Time, err error) {
	p.log.Debug("remote op", "op", op, "path", path, "took", time.Since(start).Round(time.Microsecond), "err", err)
	if p.cfg.OnOp != nil && !errors.Is(err, errSlowListing) { // List starts it again
		p.cfg.OnOp(op, time.Since(start), err)
	}
}
