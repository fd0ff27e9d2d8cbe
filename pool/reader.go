package pool

import (
	"context"
	"errors"
	"io"
	"net/textproto"
	"sync"

	"github.com/jlaffaye/ftp"
)

// Reader reads one remote file through a RETR stream that it keeps open
// between calls, so sequential reads cost no round trips. A read at another
// offset reopens the stream there (REST + RETR). A stream cut by the network
// is resumed once at the exact offset on a fresh connection. While not
// reading, the stream may be closed by the pool to free its connection; the
// next read reopens it.
type Reader struct {
	pool *Pool
	path string

	mu   sync.Mutex
	c    *conn
	resp *ftp.Response
	pos  int64 // offset of the next byte resp yields
}

// OpenReader returns a reader for path; nothing is sent until the first read.
func (p *Pool) OpenReader(path string) *Reader {
	return &Reader{pool: p, path: path}
}

// ReadAt fills buf from offset off. It returns len(buf) and nil, or fewer
// bytes and io.EOF when the server's file ends first, or an error.
func (r *Reader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	if err := checkPath(r.path); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pool.readerIdle(r, false)
	defer func() {
		if r.resp != nil {
			r.pool.readerIdle(r, true)
		}
	}()
	if r.resp != nil && r.pos != off {
		r.abortLocked()
	}
	total := 0
	retried := false
	for total < len(buf) {
		if r.resp == nil {
			if err := r.openLocked(ctx, off+int64(total), retried); err != nil {
				if !retried && transient(err) && ctx.Err() == nil {
					retried = true
					r.pool.Metrics.Retries.Add(1)
					continue
				}
				return total, err
			}
		}
		n, err := io.ReadFull(r.resp, buf[total:])
		total += n
		r.pos += int64(n)
		if err == nil {
			break
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The server closed the data connection: its final reply says
			// whether that was the end of the file or a failed transfer.
			if ferr := r.finishLocked(); ferr != nil {
				if !retried && transient(ferr) && ctx.Err() == nil {
					retried = true
					r.pool.Metrics.Resumes.Add(1)
					continue
				}
				return total, replyError("RETR", r.path, ferr)
			}
			return total, io.EOF
		}
		// The data connection failed: resume at the exact offset once.
		r.dropLocked()
		if retried || ctx.Err() != nil {
			return total, replyError("RETR", r.path, err)
		}
		retried = true
		r.pool.Metrics.Resumes.Add(1)
		r.pool.log.Debug("read stream broke; resuming", "path", r.path, "offset", r.pos, "err", err)
	}
	return total, nil
}

func (r *Reader) openLocked(ctx context.Context, off int64, fresh bool) error {
	c, err := r.pool.get(ctx, true, fresh)
	if err != nil {
		return err
	}
	resp, err := c.sc.RetrFrom(r.path, uint64(off))
	if err != nil {
		r.pool.put(c, broken(err))
		return replyError("RETR", r.path, err)
	}
	r.c, r.resp, r.pos = c, resp, off
	return nil
}

// finishLocked reads the final reply of a stream the server ended and
// returns the connection.
func (r *Reader) finishLocked() error {
	err := r.resp.Close()
	r.pool.put(r.c, broken(err))
	r.c, r.resp = nil, nil
	return err
}

// abortLocked ends a stream early. The server answers 426 (or 550, or 226)
// on the control connection; the connection is kept only if a NOOP after
// that proves it is still in step (proftpd sometimes drops it instead).
func (r *Reader) abortLocked() {
	err := r.resp.Close()
	var te *textproto.Error
	ok := err == nil || errors.As(err, &te) && te.Code != 421
	if ok {
		ok = r.c.sc.NoOp() == nil
	}
	r.pool.put(r.c, !ok)
	r.c, r.resp = nil, nil
}

func (r *Reader) dropLocked() {
	r.pool.put(r.c, true)
	r.c, r.resp = nil, nil
}

// park closes the stream if the reader is idle; it reports whether a
// connection was freed.
func (r *Reader) park() bool {
	if !r.mu.TryLock() {
		return false
	}
	defer r.mu.Unlock()
	if r.resp == nil {
		return false
	}
	r.pool.readerIdle(r, false)
	r.abortLocked()
	return true
}

// Close ends the stream, if any.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pool.readerIdle(r, false)
	if r.resp != nil {
		r.abortLocked()
	}
	return nil
}
