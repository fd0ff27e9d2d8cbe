package testserver

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tracker remembers every connection and passive listener the embedded
// server has open, because ftpserverlib's Stop closes only the main listener:
// without this, client goroutines would outlive Close.
type tracker struct {
	mu        sync.Mutex
	closed    bool
	conns     map[*trackedConn]struct{}
	listeners map[*trackedListener]struct{}
	live      int // connections not yet closed by ftpserverlib
}

func newTracker() *tracker {
	return &tracker{conns: map[*trackedConn]struct{}{}, listeners: map[*trackedListener]struct{}{}}
}

// listener wraps l so that each accepted connection is tracked; count, when
// not nil, is incremented per accepted connection.
func (t *tracker) listener(l net.Listener, count *atomic.Int64) net.Listener {
	tl := &trackedListener{Listener: l, t: t, count: count}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		l.Close()
	}
	t.listeners[tl] = struct{}{}
	return tl
}

func (t *tracker) conn(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close() // ftpserverlib still calls Close, which balances live
	}
	t.conns[tc] = struct{}{}
	t.live++
	return tc
}

// closeAll closes every socket underneath ftpserverlib (so its goroutines
// see errors and finish) and waits up to timeout for it to close each
// connection itself, which happens at the very end of its goroutines.
func (t *tracker) closeAll(timeout time.Duration) bool {
	t.mu.Lock()
	t.closed = true
	for l := range t.listeners {
		l.Listener.Close()
	}
	for c := range t.conns {
		c.Conn.Close()
	}
	t.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		t.mu.Lock()
		live := t.live
		t.mu.Unlock()
		if live == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type trackedListener struct {
	net.Listener
	t     *tracker
	count *atomic.Int64
	open  *atomic.Int64 // connections accepted and not yet closed, when set
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err // unwrapped: ftpserverlib recognises "use of closed network connection"
	}
	if l.count != nil {
		l.count.Add(1)
	}
	tc := l.t.conn(c).(*trackedConn)
	if l.open != nil {
		l.open.Add(1)
		tc.open = l.open
	}
	return tc, nil
}

func (l *trackedListener) Close() error {
	l.t.mu.Lock()
	delete(l.t.listeners, l)
	l.t.mu.Unlock()
	return l.Listener.Close()
}

type trackedConn struct {
	net.Conn
	t    *tracker
	once sync.Once
	open *atomic.Int64 // decremented at Close, when set
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.live--
		c.t.mu.Unlock()
		if c.open != nil {
			c.open.Add(-1)
		}
	})
	return c.Conn.Close()
}
