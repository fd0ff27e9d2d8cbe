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
// the data and falls back to Store.
func (p *Pool) StoreStream(ctx context.Context, target string, src io.Reader) (int64, error) {
	if err := checkPath(target); err != nil {
		return 0, err
	}
	c, err := p.get(ctx, useStream, false)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	counted := &countingReader{r: src}
	err = c.sc.Stor(target, counted)
	if err != nil {
		err = replyError("STOR", target, err)
	} else if got, serr := remoteSize(c, target); serr != nil {
		err = serr
	} else if got != counted.n {
		err = fmt.Errorf("STOR %s: %w (sent %d, server has %d)", target, ErrSizeMismatch, counted.n, got)
	}
	p.put(c, broken(err))
	if p.cfg.OnOp != nil {
		p.cfg.OnOp("STOR", time.Since(start), err)
	}
	return counted.n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
