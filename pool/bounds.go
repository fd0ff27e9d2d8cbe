package pool

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// Bounds on what a server may make the client hold (issue 13): a server
// that keeps sending must cost bounded memory and time. Deadlines bound the
// time (conn.bind, dial); these bound the bytes.

var (
	// ErrReplyTooLarge: the server sent more on the control connection than
	// any reply needs, without being asked anything (an endless greeting or
	// multi-line reply). The connection is dropped.
	ErrReplyTooLarge = fmt.Errorf("the server sent more than %d KiB on the control connection without being asked (an endless reply?)", maxReplyBytes>>10)
	// ErrListingTooLarge: a directory's listing is larger than max_listing
	// allows; it was cut while it arrived.
	ErrListingTooLarge = errors.New("directory listing too large")
)

// maxReplyBytes bounds what the control connection may deliver between two
// writes of the client: far above any greeting, FEAT reply or TLS handshake
// (a long certificate chain is some 10 KiB), far below what hurts.
const maxReplyBytes = 256 << 10

// budgetConn is a control connection that fails a read once the server has
// sent maxReplyBytes since the client last wrote. It sits under TLS, so the
// handshake and record overhead count too.
type budgetConn struct {
	net.Conn
	read atomic.Int64
}

func (c *budgetConn) Read(b []byte) (int, error) {
	left := maxReplyBytes - c.read.Load()
	if left <= 0 {
		return 0, ErrReplyTooLarge
	}
	if int64(len(b)) > left {
		b = b[:left]
	}
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (c *budgetConn) Write(b []byte) (int, error) {
	c.read.Store(0)
	return c.Conn.Write(b)
}

// retryable reports whether an operation that failed with err may be tried
// again on a fresh connection: a transient failure, but not a server that
// answered with more than the client accepts, which it would do again.
func retryable(err error) bool {
	return transient(err) && !errors.Is(err, ErrReplyTooLarge) && !errors.Is(err, ErrListingTooLarge) && !errors.Is(err, errSlowListing)
}
