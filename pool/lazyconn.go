package pool

import (
	"context"
	"net"
	"time"
)

// lazyConn is a data connection whose TCP connect runs in the background
// while the transfer command (RETR, STOR, LIST) is sent: jlaffaye/ftp dials
// first and sends the command after, so connecting lazily saves one round
// trip per transfer. Every method waits for the connect; its error surfaces
// on first use.
type lazyConn struct {
	ready  chan struct{}
	conn   net.Conn
	err    error
	cancel context.CancelFunc
}

func dialLazy(d *net.Dialer, network, addr string, timeout time.Duration, connected func(net.Conn)) *lazyConn {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	l := &lazyConn{ready: make(chan struct{}), cancel: cancel}
	go func() {
		defer cancel() // an established connection outlives its dial context
		l.conn, l.err = d.DialContext(ctx, network, addr)
		if l.err == nil && connected != nil {
			connected(l.conn)
		}
		close(l.ready)
	}()
	return l
}

func (l *lazyConn) wait() (net.Conn, error) {
	<-l.ready
	return l.conn, l.err
}

func (l *lazyConn) Read(b []byte) (int, error) {
	c, err := l.wait()
	if err != nil {
		return 0, err
	}
	return c.Read(b)
}

func (l *lazyConn) Write(b []byte) (int, error) {
	c, err := l.wait()
	if err != nil {
		return 0, err
	}
	return c.Write(b)
}

// Close abandons a connect still under way.
func (l *lazyConn) Close() error {
	l.cancel()
	c, err := l.wait()
	if err != nil {
		return nil
	}
	return c.Close()
}

func (l *lazyConn) LocalAddr() net.Addr {
	if c, err := l.wait(); err == nil {
		return c.LocalAddr()
	}
	return &net.TCPAddr{}
}

func (l *lazyConn) RemoteAddr() net.Addr {
	if c, err := l.wait(); err == nil {
		return c.RemoteAddr()
	}
	return &net.TCPAddr{}
}

func (l *lazyConn) SetDeadline(t time.Time) error {
	c, err := l.wait()
	if err != nil {
		return err
	}
	return c.SetDeadline(t)
}

func (l *lazyConn) SetReadDeadline(t time.Time) error {
	c, err := l.wait()
	if err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (l *lazyConn) SetWriteDeadline(t time.Time) error {
	c, err := l.wait()
	if err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
