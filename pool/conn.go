package pool

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
)

// conn is one logged-in control connection. One goroutine owns it at a time.
type conn struct {
	sc       *ftp.ServerConn
	raw      net.Conn // the TCP connection, to drop a broken session without talking to it
	lastUsed time.Time
	mlsd     bool // the server lists with MLSD (precise times)
	stream   bool // lent to a Reader
	// sniff, while a listing runs, sees its data connection's bytes (see
	// listingSniffer); set and cleared by the connection's owner.
	sniff *listingSniffer
	// openData dials a data connection as the library's transfers do (for
	// a spare; see spare.go).
	openData func(addr string) net.Conn

	// interrupted is set when an operation's context ended while it used the
	// connection: the socket was closed under it, so it is never lent again.
	interrupted atomic.Bool
}

// bind watches ctx while c talks to the server. When ctx's deadline passes,
// the control connection is closed under the operation, so that it ends now
// instead of after another network timeout (in the middle of a command, the
// connection could not be trusted afterwards anyway). A cancellation does
// not cut the connection: go-fuse cancels on every FUSE INTERRUPT, which the
// kernel sends for any signal (Go's preemption signal, SIGWINCH, SIGCHLD), and
// an upload or a read aborted for that would fail with EINTR for nothing; the
// operation goes on, bounded by timeout per network read or write. Either
// way, stalled hears how long the server has been silent, so that a server
// that does not answer is noticed (see Pool.opContext). The returned stop
// must be called when the operation is over; it reports whether c is still
// usable.
func (c *conn) bind(ctx context.Context, stalled func(since time.Time)) (stop func() (usable bool)) {
	if ctx.Done() == nil {
		return func() bool { return !c.interrupted.Load() }
	}
	start := time.Now()
	unwatch := context.AfterFunc(ctx, func() {
		stalled(start)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.interrupt()
		}
	})
	return func() bool {
		unwatch()
		return !c.interrupted.Load()
	}
}

// interrupt closes the socket under whatever is using c; safe from any
// goroutine.
func (c *conn) interrupt() {
	c.interrupted.Store(true)
	if c.raw != nil {
		_ = c.raw.Close()
	}
}

// close ends the session politely (QUIT).
func (c *conn) close() {
	_ = c.sc.Quit()
}

// drop cuts a connection that can no longer be trusted.
func (c *conn) drop() {
	if c.raw != nil {
		_ = c.raw.Close()
	}
	_ = c.sc.Quit()
}
