package pool

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
)

// conn is one logged-in control connection. One goroutine owns it at a time.
type conn struct {
	sc       *ftp.ServerConn
	lastUsed time.Time
	mlsd     bool // the server lists with MLSD (precise times)
	stream   bool // lent to a Reader
	// The lend's class, under Pool.mu (see sched.go): bg for a background
	// get, holder the context its holder works under now (nil when it may
	// not be preempted), idleReader while a Reader holds it between reads.
	bg         bool
	holder     context.Context
	idleReader bool
	// sniff, while a listing runs, sees its data connection's bytes (see
	// listingSniffer); set and cleared by the connection's owner.
	sniff *listingSniffer
	// receiveOnly, while a download (RETR, LIST, MLSD) is started, makes
	// its data connection send close_notify as soon as its handshake ends
	// when vsftpd3 (see dialData); set and cleared by the connection's
	// owner.
	receiveOnly bool
	// vsftpd3: the server greeted as vsftpd 3 or later, which reads the
	// client's close_notify on every data connection before closing it
	// (dialData), and answers a command sent during a transfer only after
	// the transfer's final reply, so a download asks the next passive
	// port before that reply (passive.go).
	vsftpd3 bool
	// ahead is the port so asked, until the next lend's first command;
	// it belongs to the connection's owner.
	ahead passiveAhead
	// listener, while set, counts c in the pool's aheadState.held: the
	// server may still hold the listener of an EPSV c sent ahead.
	listener *aheadState
	// ended is set by the owner when the server ended the session (421)
	// in a reply that did not fail the operation (see pipeline): put drops
	// the connection.
	ended bool
	// maxListing caps one listing (Config.MaxListing).
	maxListing int
	// openData dials a data connection as the library's transfers do (for
	// a spare, spare.go, or a port asked ahead, passive.go); receiveOnly
	// as for conn.receiveOnly.
	openData func(addr string, receiveOnly bool) net.Conn

	// sockets are what interrupt closes, from any goroutine: the TCP control
	// connection (to drop a broken session without talking to it) and the
	// current data connection (closing the control connection does not stop
	// the library reading a data stream that never ends).
	sockets struct {
		sync.Mutex
		raw, data net.Conn
	}
	// interrupted is set when an operation's context ended while it used the
	// connection: the socket was closed under it, so it is never lent again.
	interrupted atomic.Bool
	// preempted is set, under Pool.mu, when the scheduler closes it under
	// background work for a program's request (ErrPreempted); put drops a
	// connection so marked, so it is never lent again.
	preempted atomic.Bool
}

// setRaw records the control connection's socket; one set after an
// interrupt is closed at once.
func (c *conn) setRaw(nc net.Conn) {
	c.sockets.Lock()
	c.sockets.raw = nc
	c.sockets.Unlock()
	if c.interrupted.Load() {
		_ = nc.Close()
	}
}

// setData records the data connection now open (the latest replaces the
// last, which has been closed by then); one set after an interrupt is
// closed at once.
func (c *conn) setData(nc net.Conn) {
	c.sockets.Lock()
	c.sockets.data = nc
	c.sockets.Unlock()
	if c.interrupted.Load() {
		_ = nc.Close()
	}
}

// bind watches ctx while c talks to the server. When ctx ends (deadline or
// cancellation), the control connection and the data connection are closed
// under the operation, so that it ends now instead of after another network
// timeout, or never, for a server that keeps sending (in the middle of a
// command, the connection could not be trusted afterwards anyway). Callers
// that must not stop for a stray signal pass a context without
// cancellation: go-fuse cancels on every FUSE INTERRUPT, which the kernel
// sends for any signal (Go's preemption signal, SIGWINCH, SIGCHLD), so
// fusefs hands the pool context.WithoutCancel contexts with their own
// deadline. stalled hears how long the server has been silent, so that a
// server that does not answer is noticed (see Pool.opContext). The returned
// stop must be called when the operation is over; it reports whether c is
// still usable.
func (c *conn) bind(ctx context.Context, stalled func(since time.Time)) (stop func() (usable bool)) {
	if ctx.Done() == nil {
		return func() bool { return !c.interrupted.Load() }
	}
	start := time.Now()
	done := make(chan struct{})
	unwatch := context.AfterFunc(ctx, func() {
		defer close(done)
		// Only a deadline says the server kept the operation waiting; a
		// cancellation (a file closed, a listing nobody wants) says nothing.
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			stalled(start)
		}
		c.interrupt()
	})
	return func() bool {
		if !unwatch() {
			<-done // it ran or is running: wait for the cut to be complete
		}
		return !c.interrupted.Load()
	}
}

// interrupt closes the sockets under whatever is using c; safe from any
// goroutine.
func (c *conn) interrupt() {
	c.interrupted.Store(true)
	c.closeSockets()
}

// close ends the session politely (QUIT).
func (c *conn) close() {
	c.clearAhead()
	c.releaseListener()
	_ = c.sc.Quit()
}

// drop cuts a connection that can no longer be trusted.
func (c *conn) drop() {
	c.clearAhead()
	c.releaseListener()
	c.interrupt()
	if c.sc != nil {
		_ = c.sc.Quit()
	}
}

// rawConn is the control connection's socket, or nil before it is dialled.
func (c *conn) rawConn() net.Conn {
	c.sockets.Lock()
	defer c.sockets.Unlock()
	return c.sockets.raw
}
