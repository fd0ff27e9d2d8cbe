package pool

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineConn renews a deadline before every read and write, so a server
// that stalls (or accepts and never greets) fails the operation after
// timeout instead of blocking forever. jlaffaye/ftp's own timeouts cover only
// the connect.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// sessionCache is one control connection's TLS session cache as its data
// connections see it: they may resume the control connection's session but
// never replace it, because servers like vsftpd and proftpd require every
// data connection to resume the control connection's own session.
type readOnlySessionCache struct{ tls.ClientSessionCache }

func (readOnlySessionCache) Put(string, *tls.ClientSessionState) {}

// dataConn is a TLS data connection that closes carefully after an upload:
// with TLS 1.3 the server sends session tickets on the data connection;
// closing with them unread makes Linux send RST, and vsftpd then loses the
// tail of the upload (seen on every 16 MiB TLS 1.3 upload to vsftpd). So: close_notify, drain until the
// server closes, then close.
type dataConn struct {
	*tls.Conn
	timeout  time.Duration
	wrote    bool
	checked  atomic.Bool
	onTLS    func(tls.ConnectionState)
	once     sync.Once
	closeErr error
}

func (c *dataConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.report()
	return n, err
}

func (c *dataConn) Write(b []byte) (int, error) {
	c.wrote = true
	n, err := c.Conn.Write(b)
	c.report()
	return n, err
}

// Handshake is called by jlaffaye/ftp for empty uploads (no Write happens).
func (c *dataConn) Handshake() error {
	err := c.Conn.Handshake()
	c.report()
	return err
}

func (c *dataConn) report() {
	if c.checked.Load() || c.onTLS == nil {
		return
	}
	st := c.Conn.ConnectionState()
	if st.HandshakeComplete && c.checked.CompareAndSwap(false, true) {
		c.onTLS(st)
	}
}

func (c *dataConn) Close() error {
	c.once.Do(func() {
		if !c.wrote {
			c.closeErr = c.Conn.Close()
			return
		}
		// Drain errors are not the upload's verdict: the server's final reply
		// on the control connection is.
		if c.Conn.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
			_, _ = io.Copy(io.Discard, c.Conn)
		}
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}
