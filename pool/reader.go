package pool

import (
	"context"
	"errors"
	"io"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"
)

// maxResumeFailures is how many attempts in a row may fail, without a byte
// read in between, before a read gives up. Each success resets the count,
// so a stream cut many times resumes each time it makes progress.
const maxResumeFailures = 2

// Reader reads one remote file through a RETR stream that it keeps open
// between calls, so sequential reads cost no round trips. A read at another
// offset reopens the stream there (REST + RETR). A stream cut by the network
// (or that the server reports failed: 425, 426) is resumed at the exact
// offset on a fresh connection. A read never returns fewer bytes than the
// server's file has because of a failure: it returns an error instead, and
// io.EOF only when the server confirmed the end of the file (226). While not
// reading, the stream may be closed by the pool to free its connection; the
// next read reopens it.
type Reader struct {
	pool *Pool
	path string
	kind use // useStream, or useLane for read-ahead (background by default)

	mu     sync.Mutex
	c      *conn
	resp   transfer
	pos    int64 // offset of the next byte resp yields
	opened int64 // offset resp started at
	size   int64 // expected size (ExpectSize), or -1
}

// OpenReader returns a reader for path; nothing is sent until the first read.
func (p *Pool) OpenReader(path string) *Reader {
	return &Reader{pool: p, path: path, kind: useStream, size: -1}
}

// OpenLaneReader returns a reader for parallel read-ahead: one of several
// streams fetching ranges of one file. It is background work unless its
// read's context says otherwise (see sched.go): it waits its turn, and
// gives its stream up before a read whenever a program's request waits
// for a connection.
func (p *Pool) OpenLaneReader(path string) *Reader {
	return &Reader{pool: p, path: path, kind: useLane, size: -1}
}

// ExpectSize tells the reader the file's size as listed. A stream that ends
// before it with a successful reply (226) is then resumed instead of taken
// for the end of the file: when a data connection is cut after the server
// has sent its last bytes into the network, the server reports success and
// the client sees a plain EOF (TLS accepts a close without close_notify at
// a record boundary), so only the size tells a cut from the end. A file
// that really is shorter ends when the resumed stream yields nothing.
func (r *Reader) ExpectSize(n int64) {
	r.mu.Lock()
	r.size = n
	r.mu.Unlock()
}

// ReadAt fills buf from offset off. It returns len(buf) and nil, or fewer
// bytes and io.EOF when the server's file ends first, or an error. When ctx
// ends, the read stops at once with an error wrapping ctx.Err().
func (r *Reader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	if err := checkPath(r.path); err != nil {
		return 0, err
	}
	ctx, cancel := r.pool.opContext(ctx)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pool.readerBusy(r, ctx) // this read's class, not the opening one's
	defer func() {
		if r.resp != nil {
			r.pool.keptAsStream(r.c)
			r.pool.readerIdle(r, true)
		}
	}()
	// Background readers give their stream back before a read whenever a
	// program's request waits for a connection (see sched.go).
	if r.resp != nil && (r.pos != off || background(ctx, r.kind) && r.pool.contended()) {
		r.abortLocked(ctx)
	}
	total := 0
	failures := 0
	// retry decides whether to try again after err; it counts the attempt.
	retry := func(err error, counter int64Counter) bool {
		if failures >= maxResumeFailures || ctx.Err() != nil || !resumable(err) {
			return false
		}
		failures++
		counter.Add(1)
		r.pool.log.Debug("read stream failed; resuming", "path", r.path, "offset", off+int64(total), "err", err)
		return true
	}
	for total < len(buf) {
		if ctx.Err() != nil {
			return total, ctxError("RETR", r.path, ctx) // the stream, if any, is still in step
		}
		if r.resp == nil {
			if err := r.openLocked(ctx, off+int64(total), r.endsLocked(off+int64(len(buf))), failures > 0); err != nil {
				if retry(err, &r.pool.Metrics.Retries) {
					continue
				}
				return total, err
			}
		}
		n, err := r.readLocked(ctx, buf[total:])
		total += n
		r.pos += int64(n)
		if n > 0 {
			failures = 0
		}
		if err == nil {
			break
		}
		if c := r.c; c.interrupted.Load() {
			r.dropLocked() // its connection was cut: free it now
			return total, interruptedError(c, "RETR", r.path, ctx)
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return total, ctxError("RETR", r.path, ctx) // stopped between reads: still in step
		}
		if !background(ctx, r.kind) { // background does not judge the server (see run)
			r.pool.noteTimeout(err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The server closed the data connection: its final reply says
			// whether that was the end of the file or a failed transfer.
			cutShort := r.size >= 0 && r.pos < r.size && r.pos > r.opened
			ferr := r.finishLocked(ctx)
			if ferr == nil && cutShort {
				ferr = errCutShort
			}
			if ferr == nil {
				return total, io.EOF
			}
			if retry(ferr, &r.pool.Metrics.Resumes) {
				continue
			}
			if ctx.Err() != nil {
				return total, ctxError("RETR", r.path, ctx)
			}
			return total, replyError("RETR", r.path, ferr)
		}
		// The data connection failed: resume at the exact offset.
		r.dropLocked()
		if !retry(err, &r.pool.Metrics.Resumes) {
			return total, replyError("RETR", r.path, err)
		}
	}
	return total, nil
}

// errCutShort: a stream ended with success before the expected size.
var errCutShort = errors.New("transfer ended before the listed size (cut after the server finished?)")

// int64Counter is the part of atomic.Int64 that retry needs.
type int64Counter = interface{ Add(int64) int64 }

// readLocked reads from the stream until buf is full or it fails. When ctx
// ends (deadline or cancellation; see conn.bind), the control and data
// connections are closed and the data connection's deadline set in the
// past, so that a read stalled or fed forever returns at once. The pool
// hears how long the stream had been silent, unless the read is background.
func (r *Reader) readLocked(ctx context.Context, buf []byte) (int, error) {
	c, resp := r.c, r.resp
	var last atomic.Int64 // when the last byte came, in Unix nanoseconds
	last.Store(time.Now().UnixNano())
	judge := !background(ctx, r.kind) // background does not judge the server (see run)
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		if judge {
			r.pool.noteStalled(time.Unix(0, last.Load()))
		}
		c.interrupt()
		_ = resp.SetDeadline(time.Now())
	})
	defer func() {
		if !stop() {
			<-done
		}
	}()
	n := 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := resp.Read(buf[n:])
		if m > 0 {
			n += m
			last.Store(time.Now().UnixNano())
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// endsLocked reports whether a read up to end runs into the end of the
// file as listed: its stream then ends within the read.
func (r *Reader) endsLocked(end int64) bool {
	return r.size >= 0 && end > r.size
}

// openLocked opens the stream at off. One that will end within the read
// asking for it (toEnd: a small file read whole) holds its connection no
// longer than a command does, so it takes one as a command would, not a
// stream slot: eight programs reading small files use all eight
// connections, not seven.
func (r *Reader) openLocked(ctx context.Context, off int64, toEnd, fresh bool) error {
	kind := r.kind
	if toEnd && kind == useStream {
		kind = useOp
	}
	c, err := r.pool.getFor(ctx, kind, fresh, true)
	if err != nil {
		return err
	}
	// A whole-file download's ctx has no deadline: RETR's reply gets its own.
	var resp transfer
	usable, err := r.pool.runPhased(ctx, c, "RETR", r.path, "RETR's reply", func() error {
		if data := c.takeAhead(r.pool.maxSpareAge()); data != nil {
			var err error
			resp, err = retrAhead(c, data, r.path, off)
			if err == nil {
				r.pool.Metrics.PassivesAhead.Add(1)
			}
			return err
		}
		c.receiveOnly = true
		lresp, err := c.sc.RetrFrom(r.path, uint64(off))
		c.receiveOnly = false
		if lresp != nil { // never a nil *ftp.Response in the interface
			resp = lresp
		}
		return err
	})
	if !usable {
		if resp != nil {
			_ = resp.Close() // fails at once: its control connection is closed
		}
		r.pool.put(c, true)
		return interruptedError(c, "RETR", r.path, ctx)
	}
	if err != nil {
		if resp != nil {
			_ = resp.Close()
		}
		r.pool.put(c, broken(err))
		return replyError("RETR", r.path, err)
	}
	r.c, r.resp, r.pos, r.opened = c, resp, off, off
	return nil
}

// finishLocked reads the final reply of a stream the server ended and
// returns the connection.
func (r *Reader) finishLocked(ctx context.Context) error {
	c := r.c
	var aheadErr error
	usable, err := r.pool.runPhased(ctx, c, "RETR", r.path, "the transfer's final reply", func() error {
		var err error
		err, aheadErr = r.pool.finishDownload(c, r.resp.Close)
		return err
	})
	if aheadErr != nil {
		r.pool.log.Debug("EPSV sent ahead failed", "path", r.path, "err", aheadErr)
	}
	r.pool.put(c, broken(err) || aheadErr != nil || !usable)
	r.c, r.resp = nil, nil
	return err
}

// abortLocked ends a stream early. The server answers 426 (or 550, or 226)
// on the control connection; the connection is kept only if a NOOP after
// that proves it is still in step (proftpd sometimes drops it instead).
func (r *Reader) abortLocked(ctx context.Context) {
	r.pool.reclass(r.c, nil) // giving it back already: not to be preempted
	usable, err := r.pool.runPhased(ctx, r.c, "RETR", r.path, "the aborted transfer's reply", func() error {
		err := r.resp.Close()
		var te *textproto.Error
		if err != nil && errors.As(err, &te) && te.Code != 421 {
			// Only an abort needs proof that the connection is still in
			// step; a 226 means the transfer had ended normally.
			err = r.c.sc.NoOp()
		}
		return err
	})
	r.pool.put(r.c, err != nil || !usable)
	r.c, r.resp = nil, nil
}

// dropLocked abandons a stream that failed: the control connection is
// closed first, so closing the data connection does not wait for a reply.
func (r *Reader) dropLocked() {
	c, resp := r.c, r.resp
	r.c, r.resp = nil, nil
	c.interrupt()
	_ = resp.Close()
	r.pool.put(c, true)
}

// park closes the stream if the reader is idle; it reports whether a
// connection was freed. ctx is the waiting operation's.
func (r *Reader) park(ctx context.Context) bool {
	if !r.mu.TryLock() {
		return false
	}
	defer r.mu.Unlock()
	if r.resp == nil {
		return false
	}
	r.pool.readerIdle(r, false)
	r.abortLocked(ctx)
	return true
}

// Close ends the stream, if any, within the pool's timeout.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pool.readerIdle(r, false)
	if r.resp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.pool.cfg.Timeout)
		defer cancel()
		r.abortLocked(ctx)
	}
	return nil
}
