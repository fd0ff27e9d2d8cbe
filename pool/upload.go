package pool

import (
	"context"
	"fmt"
	"io"
	"time"
)

// StoreStream uploads whatever src yields until it returns io.EOF, while the
// data is still being produced (a file written sequentially through the
// mount), and checks that the server holds every byte. It holds a stream
// slot for as long as src takes, and is not retried: the caller still has
// the data and falls back to Store. It ends when ctx ends; each
// control-channel phase is bounded by timeout (see phase.go), the data
// phase per network write.
func (p *Pool) StoreStream(ctx context.Context, target string, src io.Reader) (int64, error) {
	if err := checkPath(target); err != nil {
		return 0, err
	}
	c, err := p.get(ctx, useStream, false)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	var sent int64
	_, err = p.run(ctx, c, "STOR", target, func() error {
		var held int64
		var err error
		sent, held, err = p.storeSized(c, target, src)
		if err == nil && held != sent {
			err = fmt.Errorf("STOR %s: %w (sent %d, server has %d)", target, ErrSizeMismatch, sent, held)
		}
		return err
	})
	p.put(c, broken(err))
	p.report("STOR", target, start, err)
	return sent, err
}

// storeSized uploads src to target on c and asks the server how many bytes
// it holds; sent is how many src yielded. The wait from STOR until the
// data flows, and from the data's end through the final reply and SIZE,
// are each bounded by timeout.
func (p *Pool) storeSized(c *conn, target string, src io.Reader) (sent, held int64, err error) {
	ph := c.startPhase(p.cfg.Timeout)
	body := &phasedSource{r: src, ph: ph}
	err = replyError("STOR", target, c.sc.Stor(target, body))
	if err == nil {
		held, err = remoteSize(c, target)
	}
	if ph.end() {
		// The cut's own error (a closed connection) would hide why.
		return body.n, 0, fmt.Errorf("STOR %s: %w", target, ph.err("the upload's replies"))
	}
	return body.n, held, err
}
