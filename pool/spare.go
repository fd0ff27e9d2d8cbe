package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Pieces: short ranged reads (REST + RETR, aborted where the range ends)
// for reads that are not part of a sequential run. Such a read pays the
// whole setup of a transfer: EPSV, the data connection's TCP connect, the
// RETR, its TLS handshake. The first two need no offset, so the pool keeps
// one spare ready: a control connection that has already sent EPSV and
// opened (and begun the TLS handshake of) its data connection. A piece on
// the spare sends REST and RETR together and reads at once; the abort
// (426 and a NOOP to prove the connection still in step) runs in the
// background, and another spare is prepared meanwhile. Without a spare, or
// when the spare fails, a piece is an ordinary Reader's read.
//
// A spare holds a stream's connection, so only a pool of spareMinConns or
// more keeps one, and only from an idle connection or a new one: preparing
// never waits for a connection nor evicts a reader, and a get that would
// wait takes the spare's connection back first. No spare is kept longer
// than maxSpareAge (servers and our handshake give up on an idle data
// connection eventually).
const (
	spareMinConns = 4
	spareMaxAge   = 5 * time.Second
)

// useSpare is get's kind for a spare: a stream that is lent only when a
// connection is free or may be dialled now (errNoSpareRoom otherwise).
const useSpare = useLane + 1

// errNoSpareRoom: no connection is free for a spare without waiting.
var errNoSpareRoom = errors.New("no free connection for a spare")

// errEPSVRefused: the server refused EPSV (5xx), so no spare can be had.
var errEPSVRefused = errors.New("EPSV refused")

// maxSpareAge is how long a spare may wait. Its data connection's TLS
// handshake, begun when the spare was made, reads under timeout; a spare
// older than that would fail and cost its control connection.
func (p *Pool) maxSpareAge() time.Duration {
	return min(spareMaxAge, p.cfg.Timeout/2)
}

// spareRoomLocked reports whether a spare may take a connection now:
// nobody waits, a stream slot stays free for a reader, and a connection is
// idle or may be dialled.
func (p *Pool) spareRoomLocked() bool {
	return !p.closed && p.max >= spareMinConns && p.waiting == 0 &&
		p.streams < p.streamLimitLocked()-1 && (len(p.idle) > 0 || p.open < p.max)
}

// spare is a control connection with its passive data connection open.
type spare struct {
	c    *conn
	data net.Conn
	made time.Time
}

// spareSlot holds the pool's one spare, under mu (never held with Pool.mu, nor
// around network I/O).
type spareSlot struct {
	mu        sync.Mutex
	s         *spare
	preparing bool
	ready     chan struct{} // closed when the preparation under way ends
	off       bool          // the server refused EPSV: no spares on this pool
}

// errSpare: the spare could not serve the piece; the Reader path retries it.
var errSpare = errors.New("spare data connection failed")

// ReadPiece reads len(buf) bytes at off, like a Reader's ReadAt on a reader
// that is then closed, but faster for a read that does not continue a
// stream: see the Pieces comment. size is the file's size as listed (-1
// when unknown).
func (p *Pool) ReadPiece(ctx context.Context, path string, buf []byte, off, size int64) (int, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	ctx, cancel := p.opContext(ctx)
	defer cancel()
	s := p.takeSpare(ctx)
	p.refillSpare() // for the next piece, while this one is read
	if s != nil {
		n, err := p.readOnSpare(ctx, s, path, buf, off, size)
		if !errors.Is(err, errSpare) {
			return n, err
		}
		p.log.Debug("spare data connection failed; reading on a fresh stream", "path", path, "offset", off, "err", err)
	}
	r := p.OpenReader(path)
	if size >= 0 {
		r.ExpectSize(size)
	}
	n, err := r.ReadAt(ctx, buf, off)
	go func() { _ = r.Close() }() // the abort is nobody's wait
	return n, err
}

// takeSpare returns the spare if it is fresh enough; a stale one is let go.
// A spare being prepared is waited for: a read without it would send the
// same EPSV and connect the same way, only later.
func (p *Pool) takeSpare(ctx context.Context) *spare {
	p.spares.mu.Lock()
	if p.spares.s == nil && p.spares.preparing {
		ready := p.spares.ready
		p.spares.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
		}
		p.spares.mu.Lock()
	}
	if ctx.Err() != nil {
		// The piece fails anyway: a spare used now would only be cut.
		p.spares.mu.Unlock()
		return nil
	}
	s := p.spares.s
	p.spares.s = nil
	p.spares.mu.Unlock()
	return p.freshSpare(s)
}

// freshSpare returns s, just taken from the slot, if it is fresh enough;
// a stale one is let go.
func (p *Pool) freshSpare(s *spare) *spare {
	if s != nil && time.Since(s.made) > p.maxSpareAge() {
		go p.releaseSpare(s)
		return nil
	}
	return s
}

// readOnSpare sends REST and RETR at once on s and reads buf from its data
// connection. Failures of the spare itself (not the server's answer about
// the file) come back wrapping errSpare.
func (p *Pool) readOnSpare(ctx context.Context, s *spare, path string, buf []byte, off, size int64) (int, error) {
	tp, err := libraryConn(s.c.sc)
	if err != nil || tp.R.Buffered() > 0 {
		p.dropSpare(s)
		return 0, fmt.Errorf("%w: %v", errSpare, err)
	}
	p.adopt(s.c, ctx, true)
	// Pipelined: REST's answer is checked before RETR's, so a refused REST
	// (the transfer would start at 0) is never taken for the piece.
	var restErr, retrErr error
	usable, err := p.run(ctx, s.c, "RETR", path, func() error {
		err := tp.PrintfLine("REST %d", off)
		if err == nil {
			err = tp.PrintfLine("RETR %s", path)
		}
		if err == nil {
			_, _, restErr = tp.ReadResponse(350)
			_, _, retrErr = tp.ReadResponse(1)
		}
		for _, rerr := range []error{restErr, retrErr} {
			if err == nil && rerr != nil && !isReply(rerr) {
				err = rerr // no answer: the server was not heard
			}
		}
		return err
	})
	if err != nil || !usable || restErr != nil && !isReply(restErr) || retrErr != nil && !isReply(retrErr) {
		p.dropSpare(s)
		if ctx.Err() != nil {
			return 0, ctxError("RETR", path, ctx)
		}
		return 0, fmt.Errorf("%w: %v", errSpare, errors.Join(err, restErr, retrErr))
	}
	if restErr != nil {
		// RETR started at 0 unless it failed: either way this connection's
		// state is not worth untangling.
		p.dropSpare(s)
		return 0, fmt.Errorf("%w: REST: %v", errSpare, restErr)
	}
	if retrErr != nil {
		// The control connection is in step. 425 and 426 are about the
		// data connection (a server may give up on one left waiting):
		// the Reader path tries again; anything else (550 and the like)
		// is the server's verdict on the file.
		_ = s.data.Close()
		p.noteAnswered()
		p.countListener(s.c) // a refused RETR leaves vsftpd's listener
		p.put(s.c, false)
		if code := replyCode(retrErr); code == 425 || code == 426 {
			return 0, fmt.Errorf("%w: RETR: %v", errSpare, retrErr)
		}
		return 0, replyError("RETR", path, retrErr)
	}
	p.noteAnswered()
	p.Metrics.SparePieces.Add(1)
	// A deadline would not stop the read: deadlineConn renews it before
	// every socket read, which a TLS read makes many of. Closing does.
	halt := context.AfterFunc(ctx, s.c.interrupt)
	n, rerr := io.ReadFull(s.data, buf)
	halt()
	switch {
	case rerr == nil:
		go p.abortSpare(s) // read all we wanted; the rest is not
		return n, nil
	case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
		// The file ended: the final reply says whether the transfer did.
		_ = s.data.Close()
		usable, ferr := p.run(ctx, s.c, "RETR", path, func() error {
			_, _, err := tp.ReadResponse(2)
			return err
		})
		p.put(s.c, !usable || ferr != nil && !isReply(ferr))
		if ferr != nil || !usable {
			return n, fmt.Errorf("%w: %v", errSpare, ferr)
		}
		if size >= 0 && off+int64(n) < size {
			// Ended before the listed size: a cut the server took for
			// the end, or a shorter file; the Reader tells them apart.
			return n, fmt.Errorf("%w: transfer ended at %d of %d", errSpare, off+int64(n), size)
		}
		return n, io.EOF
	default:
		p.dropSpare(s)
		if ctx.Err() != nil {
			return n, ctxError("RETR", path, ctx)
		}
		return n, fmt.Errorf("%w: %v", errSpare, rerr)
	}
}

func isReply(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te)
}

// abortSpare ends a transfer read far enough, as Reader.abortLocked does:
// the connection is kept only if the server's reply and a NOOP after it
// show it in step.
func (p *Pool) abortSpare(s *spare) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	_ = s.data.Close()
	tp, err := libraryConn(s.c.sc)
	if err != nil {
		p.put(s.c, true)
		return
	}
	usable, err := p.run(ctx, s.c, "ABOR", "", func() error {
		_, _, err := tp.ReadResponse(0)
		var te *textproto.Error
		if err != nil && !(errors.As(err, &te) && te.Code != 421) {
			return err
		}
		// Exactly 200, and nothing after it: a server that answers the
		// abort twice (426, then 226) has NOOP read the second answer, and
		// NOOP's own 200 would answer the next command.
		code, _, err := s.c.command(200, "NOOP")
		if err == nil && (code != 200 || tp.R.Buffered() != 0) {
			err = fmt.Errorf("NOOP after an abort answered %d, or more after it", code)
		}
		return err
	})
	p.put(s.c, err != nil || !usable)
}

// releaseSpare gives back an unused spare: its EPSV left no reply pending.
func (p *Pool) releaseSpare(s *spare) {
	_ = s.data.Close()
	p.countListener(s.c) // vsftpd keeps the listener of the unused EPSV
	p.put(s.c, false)
}

// reclaimSpare gives the spare's connection back to the pool, for a get
// that would otherwise wait; it reports whether there was one.
func (p *Pool) reclaimSpare() bool {
	p.spares.mu.Lock()
	s := p.spares.s
	p.spares.s = nil
	p.spares.mu.Unlock()
	if s == nil {
		return false
	}
	p.releaseSpare(s)
	return true
}

func (p *Pool) dropSpare(s *spare) {
	_ = s.data.Close()
	s.c.interrupt()
	p.put(s.c, true)
}

// refillSpare prepares a spare in the background when the pool has room
// for one.
func (p *Pool) refillSpare() {
	p.mu.Lock()
	room := p.spareRoomLocked()
	p.mu.Unlock()
	p.spares.mu.Lock()
	if !room || p.spares.off || p.spares.s != nil || p.spares.preparing {
		p.spares.mu.Unlock()
		return
	}
	p.spares.preparing = true
	ready := make(chan struct{})
	p.spares.ready = ready
	p.spares.mu.Unlock()
	go func() {
		s, err := p.prepareSpare()
		p.spares.mu.Lock()
		p.spares.preparing = false
		close(ready)
		if err != nil {
			// Only EPSV refused is for good: a refused connection (421) or
			// a transient 4xx says nothing about the next attempt.
			p.spares.off = p.spares.off || errors.Is(err, errEPSVRefused)
			p.spares.mu.Unlock()
			p.log.Debug("no spare data connection", "err", err)
			return
		}
		if p.spares.off { // the pool closed meanwhile
			p.spares.mu.Unlock()
			p.dropSpare(s)
			return
		}
		old := p.spares.s
		p.spares.s = s
		p.spares.mu.Unlock()
		if old != nil {
			p.releaseSpare(old)
		}
		if p.contended() {
			// A get began waiting while this spare was prepared and found
			// none to reclaim: this one is its connection.
			p.reclaimSpare()
			return
		}
		time.AfterFunc(p.maxSpareAge(), func() {
			p.spares.mu.Lock()
			mine := p.spares.s == s
			if mine {
				p.spares.s = nil
			}
			p.spares.mu.Unlock()
			if mine {
				p.releaseSpare(s)
			}
		})
	}()
}

// prepareSpare sends EPSV on a free connection and opens its data
// connection.
func (p *Pool) prepareSpare() (*spare, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	c, err := p.get(ctx, useSpare, false)
	if err != nil {
		return nil, err
	}
	if c.openData == nil || c.rawConn() == nil {
		p.put(c, false)
		return nil, errors.New("no data connection dialer")
	}
	var code int
	var msg string
	usable, err := p.run(ctx, c, "EPSV", "", func() error {
		var err error
		code, msg, err = c.command(229, "EPSV")
		return err
	})
	if err != nil || !usable {
		// A 5xx drops the connection too: vsftpd answers "500 OOPS" as it
		// ends the session (no free passive port, say), so the connection
		// is dead. A server that does not know EPSV costs one connection,
		// once: spares stay off after it.
		p.put(c, !usable || !isReply(err) || code >= 500)
		if !usable {
			return nil, ctxError("EPSV", "", ctx) // never a nil spare without an error
		}
		if code >= 500 && code < 600 {
			return nil, fmt.Errorf("%w: %v", errEPSVRefused, err)
		}
		return nil, err
	}
	if code != 229 {
		// Another success is no answer to EPSV: a reply out of step.
		p.put(c, true)
		return nil, fmt.Errorf("EPSV answered %d %s", code, msg)
	}
	c.releaseListener() // this EPSV replaced the listener of one sent ahead
	addr, err := c.epsvAddr(msg)
	if err != nil {
		p.put(c, false)
		return nil, err
	}
	// Not receive-only: whether the piece is read or written is not known yet.
	return &spare{c: c, data: c.openData(addr, false), made: time.Now()}, nil
}

// epsvAddr is where to connect for an EPSV reply: its port on the control
// connection's host (EPSV names no host).
func (c *conn) epsvAddr(msg string) (string, error) {
	port, err := epsvPort(msg)
	if err != nil {
		return "", err
	}
	host, _, err := net.SplitHostPort(c.rawConn().RemoteAddr().String())
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// epsvPort reads the port of "229 Entering Extended Passive Mode (|||port|)".
func epsvPort(msg string) (int, error) {
	start := strings.Index(msg, "(")
	end := strings.LastIndex(msg, ")")
	if start < 0 || end < start {
		return 0, fmt.Errorf("EPSV reply without a port: %q", msg)
	}
	fields := strings.Split(msg[start+1:end], string(msg[start+1]))
	if len(fields) != 5 {
		return 0, fmt.Errorf("EPSV reply without a port: %q", msg)
	}
	port, err := strconv.Atoi(fields[3])
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("EPSV reply without a port: %q", msg)
	}
	return port, nil
}

// closeSpare lets the spare go when the pool closes.
func (p *Pool) closeSpare() {
	p.spares.mu.Lock()
	s := p.spares.s
	p.spares.s = nil
	p.spares.off = true
	p.spares.mu.Unlock()
	if s != nil {
		p.dropSpare(s)
	}
}
