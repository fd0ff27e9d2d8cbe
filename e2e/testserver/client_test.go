package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// clientOpts describes how the test client connects; the zero value is
// explicit TLS with data connections resuming the control session.
type clientOpts struct {
	implicit       bool
	noTLS          bool
	minTLS, maxTLS uint16
	roots          *x509.CertPool
	cert           *tls.Certificate // client certificate
	freshDataCache bool             // data connections get an empty cache: no resumption
	tryAuthTLS     bool             // noTLS, but send AUTH TLS anyway (to see it refused)
}

// client is a jlaffaye/ftp connection dialled the way ftpsfs must dial: each
// control connection has its own session cache, and data connections offer
// the control connection's session without ever storing theirs.
type client struct {
	*ftp.ServerConn
	mu        sync.Mutex
	control   tls.ConnectionState
	dataState []tls.ConnectionState
}

// noPutCache lets data connections resume the control session while the
// tickets they receive are dropped, so they never replace it.
type noPutCache struct{ tls.ClientSessionCache }

func (noPutCache) Put(string, *tls.ClientSessionState) {}

func dialClient(t testing.TB, addr string, o clientOpts) (*client, error) {
	t.Helper()
	c := &client{}
	host, _, _ := net.SplitHostPort(addr)
	ctrlCfg := &tls.Config{
		ServerName:         host, // the session cache key: data connections go to other ports
		RootCAs:            o.roots,
		MinVersion:         o.minTLS,
		MaxVersion:         o.maxTLS,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
		VerifyConnection: func(cs tls.ConnectionState) error {
			c.mu.Lock()
			c.control = cs
			c.mu.Unlock()
			return nil
		},
	}
	if o.cert != nil {
		ctrlCfg.Certificates = []tls.Certificate{*o.cert}
	}
	dataCfg := ctrlCfg.Clone()
	dataCfg.ClientSessionCache = noPutCache{ctrlCfg.ClientSessionCache}
	if o.freshDataCache {
		dataCfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	dataCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		c.mu.Lock()
		c.dataState = append(c.dataState, cs)
		c.mu.Unlock()
		return nil
	}

	first := true
	dial := func(network, address string) (net.Conn, error) {
		conn, err := net.DialTimeout(network, address, 5*time.Second)
		if err != nil {
			return nil, err
		}
		// Bounds every test: a server that stops answering fails it instead of hanging it.
		if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
			return nil, err
		}
		isControl := first
		first = false
		switch {
		case o.noTLS:
			return conn, nil
		case isControl && o.implicit:
			return tls.Client(conn, ctrlCfg), nil
		case isControl:
			return conn, nil // the library sends AUTH TLS and wraps it with ctrlCfg
		}
		// No handshake here: vsftpd starts TLS on a data connection only after
		// the transfer command, so an eager handshake would deadlock.
		return &dataConn{tls.Client(conn, dataCfg)}, nil
	}
	opts := []ftp.DialOption{ftp.DialWithDialFunc(dial)}
	switch {
	case o.noTLS && o.tryAuthTLS:
		opts = append(opts, ftp.DialWithExplicitTLS(ctrlCfg))
	case o.noTLS:
	case o.implicit:
		opts = append(opts, ftp.DialWithTLS(ctrlCfg))
	default:
		opts = append(opts, ftp.DialWithExplicitTLS(ctrlCfg))
	}
	sc, err := ftp.Dial(addr, opts...)
	if err != nil {
		return nil, err
	}
	c.ServerConn = sc
	return c, nil
}

func (c *client) controlState() tls.ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.control
}

func (c *client) dataStates() []tls.ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tls.ConnectionState(nil), c.dataState...)
}

// dataConn closes the way uploads survive TLS 1.3 (unread session tickets
// would turn the close into an RST that truncates the upload): close_notify, read until the server closes, then close.
type dataConn struct{ *tls.Conn }

func (d *dataConn) Close() error {
	if d.ConnectionState().HandshakeComplete {
		_ = d.CloseWrite()
		_ = d.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, d.Conn)
	}
	return d.Conn.Close()
}

// replyCode extracts the FTP reply code from a jlaffaye/ftp error.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func tlsName(v uint16) string { return tls.VersionName(v) }
