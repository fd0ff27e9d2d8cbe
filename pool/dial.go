package pool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jlaffaye/ftp"
)

// dialer makes logged-in control connections for one pool.
type dialer struct {
	cfg     Config
	base    *tls.Config // nil in Plain mode
	trust   *trust      // what base's VerifyConnection asks; nil in Plain mode
	addr    string
	metrics *Metrics
	// onDataConn, when set (by tests), sees every raw data connection.
	onDataConn func(net.Conn)
	// minRTT is the shortest command round trip seen, in nanoseconds; 0
	// before the first login.
	minRTT atomic.Int64
	// mlst is set once a login found MLSD (and so MLST) on the server.
	mlst atomic.Bool
	// watch, when set, sees each login as it happens: Probe reports on the
	// mount's own login through it. Nil for a pool.
	watch *loginWatch
}

// loginWatch lets Probe see a login step by step, so that `ftpsfs check`
// reports on the very code a mount logs in with, not on a copy of it. Its
// functions are called by the goroutine that dials.
type loginWatch struct {
	// tls adjusts each control connection's TLS configuration before its
	// handshake (to record the certificate and whether one was asked for).
	tls func(ctrl *tls.Config)
	// connected hears that the control connection's TCP connection is up.
	connected func(raw net.Conn)
	// transcript gets the control conversation, both directions, as
	// jlaffaye/ftp's debug output gives it (the password included).
	transcript io.Writer
}

func newDialer(cfg Config, m *Metrics) (*dialer, error) {
	d := &dialer{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), metrics: m}
	if cfg.Mode != Plain {
		base, t, err := newTLSConfig(cfg.TLS, cfg.Host)
		if err != nil {
			return nil, err
		}
		d.base, d.trust = base, t
	}
	return d, nil
}

// dial connects, secures and logs in one control connection, all within
// one timeout from now (a server that greets or answers a byte at a time
// never trips the per-read timeout) and only while ctx lasts: either cuts
// the connection under the login.
func (d *dialer) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	c := &conn{maxListing: d.cfg.MaxListing}
	stop := c.bind(ctx, func(time.Time) {})
	sc, err := d.login(ctx, c)
	if !stop() {
		if sc != nil {
			_ = sc.Quit()
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &DialError{Addr: d.addr, Err: fmt.Errorf("login not complete within timeout (%v): %w", d.cfg.Timeout, os.ErrDeadlineExceeded)}
		}
		return nil, &DialError{Addr: d.addr, Err: fmt.Errorf("login abandoned: %w", context.Cause(ctx))}
	}
	if err != nil {
		return nil, err
	}
	c.sc = sc
	c.lastUsed = time.Now()
	c.mlsd = sc.IsTimePreciseInList()
	if c.mlsd {
		d.mlst.Store(true) // Stat uses MLST on such connections (see stat.go)
	}
	return c, nil
}

// login does dial's work on c; the caller watches ctx.
func (d *dialer) login(ctx context.Context, c *conn) (*ftp.ServerConn, error) {
	var ctrlTLS, dataTLS *tls.Config
	if d.base != nil {
		// Each control connection gets its own session cache: proftpd rejects
		// a data connection that resumes another control connection's session.
		ctrlTLS = d.base.Clone()
		ctrlTLS.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		dataTLS = d.base.Clone()
		dataTLS.ClientSessionCache = readOnlySessionCache{ctrlTLS.ClientSessionCache}
		if d.watch != nil && d.watch.tls != nil {
			d.watch.tls(ctrlTLS) // before preferControlCurve, which wraps its VerifyConnection
		}
		preferControlCurve(ctrlTLS, dataTLS)
	}
	netDialer := &net.Dialer{Timeout: d.cfg.Timeout, KeepAlive: 30 * time.Second}
	c.openData = func(addr string, receiveOnly bool) net.Conn {
		dc, sock := d.dialData(netDialer, "tcp", addr, dataTLS, receiveOnly && c.vsftpd3)
		c.setData(sock) // an interrupt closes a spare's data connection too
		return dc
	}
	first := true
	dialFunc := func(network, address string) (net.Conn, error) {
		if !first {
			c.releaseListener() // the library's EPSV replaced the listener of one sent ahead
			dc, sock := d.dialData(netDialer, network, address, dataTLS, c.receiveOnly && c.vsftpd3)
			c.setData(sock)
			if c.sniff != nil {
				return &sniffConn{Conn: dc, sniff: c.sniff}, nil
			}
			return dc, nil
		}
		first = false
		raw, err := netDialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		c.setRaw(raw)
		if d.watch != nil && d.watch.connected != nil {
			d.watch.connected(raw)
		}
		nc := net.Conn(&budgetConn{Conn: &deadlineConn{Conn: raw, timeout: d.cfg.Timeout}})
		if d.cfg.Mode != Implicit {
			return nc, nil // explicit: jlaffaye/ftp wraps it after AUTH TLS
		}
		tc := tls.Client(nc, ctrlTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return tc, nil
	}
	opts := []ftp.DialOption{
		ftp.DialWithDialFunc(dialFunc),
		ftp.DialWithDisabledEPSV(false),
		// vsftpd has no MFMT; it sets times with "MDTM time path".
		ftp.DialWithWritingMDTM(true),
	}
	switch d.cfg.Mode {
	case Explicit:
		opts = append(opts, ftp.DialWithExplicitTLS(ctrlTLS))
	case Implicit:
		// With a dial func the library no longer wraps connections itself; this
		// only makes Login send PBSZ 0 / PROT P.
		opts = append(opts, ftp.DialWithTLS(ctrlTLS))
	}
	greeting := &greetingSniffer{}
	if w := d.conversationOutput(); w != nil {
		opts = append(opts, ftp.DialWithDebugOutput(io.MultiWriter(greeting, w)))
	} else {
		opts = append(opts, ftp.DialWithDebugOutput(greeting))
	}
	start := time.Now()
	sc, err := ftp.Dial(d.addr, opts...)
	if err != nil {
		return nil, d.explainDial(err)
	}
	c.vsftpd3 = greeting.vsftpd()
	if err := sc.Login(d.cfg.User, d.cfg.Password); err != nil {
		_ = sc.Quit()
		return nil, d.explainLogin(err)
	}
	// One NOOP measures the round trip, which decides whether parallel
	// streams can pay (see RoundTrip).
	sent := time.Now()
	if err := sc.NoOp(); err != nil {
		_ = sc.Quit()
		return nil, d.explainLogin(err)
	}
	d.noteRTT(time.Since(sent))
	d.metrics.Dials.Add(1)
	d.cfg.Logger.Debug("connected", "server", d.addr, "mode", d.cfg.Mode.String(), "mlsd", sc.IsTimePreciseInList(), "took", time.Since(start).Round(time.Millisecond))
	return sc, nil
}

// conversationOutput is where one control connection's conversation goes:
// the debug log (-d), a watching Probe, both, or nowhere (nil).
func (d *dialer) conversationOutput() io.Writer {
	var out []io.Writer
	if d.cfg.Debug {
		out = append(out, newProtocolLog(d.cfg.Logger, d.addr))
	}
	if d.watch != nil && d.watch.transcript != nil {
		out = append(out, d.watch.transcript)
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return io.MultiWriter(out...)
}

// dialData opens a data connection. It belongs to no caller's context (it
// outlives the request that started the transfer) and connects in the
// background while the transfer command is sent. The TLS handshake starts
// in the background too, as soon as the connection is up: the ClientHello
// waits in the server's socket buffer until the server starts TLS on the
// data port (proftpd and pure-ftpd do so only after RETR/STOR), so the
// handshake overlaps the command's round trip instead of following its
// reply. Reads and writes wait for it; a failure surfaces there. sock is
// the socket underneath, which closes it at once from any goroutine.
//
// With receiveOnly (a download, RETR, LIST or MLSD, from vsftpd: see
// conn.vsftpd3) the data connection sends its close_notify as
// soon as the handshake ends instead of after the data: vsftpd, having
// sent the file and its own close_notify, waits for the client's before
// its final reply, a round trip per download that the early one, already
// in its socket buffer, saves. Only vsftpd: a server that closes without
// reading the client's close_notify (Go's, ftpserverlib) leaves it unread,
// and Linux then resets the connection, which can lose the data's tail.
func (d *dialer) dialData(nd *net.Dialer, network, address string, dataTLS *tls.Config, receiveOnly bool) (dc, sock net.Conn) {
	d.metrics.DataConns.Add(1)
	sock = dialLazy(nd, network, address, d.cfg.Timeout, d.onDataConn)
	nc := net.Conn(&deadlineConn{Conn: sock, timeout: d.cfg.Timeout})
	if dataTLS == nil {
		return nc, sock
	}
	tc := &dataConn{Conn: tls.Client(nc, dataTLS), timeout: d.cfg.Timeout, onTLS: d.noteHandshake}
	go func() {
		if tc.Handshake() == nil && receiveOnly {
			_ = tc.Conn.CloseWrite()
		}
	}()
	return tc, sock
}

func (d *dialer) noteRTT(rtt time.Duration) {
	for {
		old := d.minRTT.Load()
		if old != 0 && old <= int64(rtt) || d.minRTT.CompareAndSwap(old, int64(rtt)) {
			return
		}
	}
}

func (d *dialer) noteHandshake(st tls.ConnectionState) {
	if !st.DidResume {
		d.metrics.ResumeMisses.Add(1)
	}
	if st.HelloRetryRequest {
		d.metrics.HelloRetries.Add(1)
	}
	d.cfg.Logger.Debug("data connection", "server", d.addr, "tls_resumed", st.DidResume, "hello_retry", st.HelloRetryRequest)
}

// explainDial turns connect and greeting failures into one-line reasons.
func (d *dialer) explainDial(err error) error {
	var certErr *CertError
	if errors.As(err, &certErr) {
		return &DialError{Addr: d.addr, Err: certErr}
	}
	var te *textproto.Error
	if errors.As(err, &te) && d.cfg.Mode == Explicit && te.Code >= 500 {
		return &DialError{Addr: d.addr, Err: fmt.Errorf("%w: the server answered AUTH TLS with %d %s; it does not offer TLS (use -o tls=none only if plain FTP is acceptable)", ErrNoTLS, te.Code, te.Msg)}
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return &DialError{Addr: d.addr, Err: fmt.Errorf("%w: the server did not answer with TLS (is it an implicit FTPS port? try ftpes:// for explicit TLS on port 21)", ErrNoTLS)}
	}
	if e := closedAfterHandshake(err, d.cfg); e != nil {
		return &DialError{Addr: d.addr, Err: e}
	}
	return &DialError{Addr: d.addr, Err: explainTLS(err, d.cfg.TLS)}
}

func (d *dialer) explainLogin(err error) error {
	var certErr *CertError
	if errors.As(err, &certErr) {
		return &DialError{Addr: d.addr, Err: certErr}
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code == ftp.StatusNotLoggedIn {
			return &DialError{Addr: d.addr, Err: fmt.Errorf("%w: login as %q refused: %d %s", ErrLogin, d.cfg.User, te.Code, te.Msg)}
		}
		return &DialError{Addr: d.addr, Err: replyError("login", "", err)}
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return &DialError{Addr: d.addr, Err: fmt.Errorf("%w: the server did not continue in TLS after AUTH TLS", ErrNoTLS)}
	}
	if e := closedAfterHandshake(err, d.cfg); e != nil {
		return &DialError{Addr: d.addr, Err: e}
	}
	return &DialError{Addr: d.addr, Err: explainTLS(err, d.cfg.TLS)}
}

// closedAfterHandshake explains a connection the server reset or closed
// during the login of a TLS session. Under TLS 1.3 the client's side of the
// handshake ends before the server has checked the client's certificate:
// a server that refuses it (or wants one) sends its alert and closes, and
// the RST that follows the next write discards the alert unread, so the
// reset is all there is to go by. Nil when err is something else.
func closedAfterHandshake(err error, cfg Config) error {
	if cfg.Mode == Plain || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF)) {
		return nil
	}
	if cfg.TLS.ClientCert == "" {
		return fmt.Errorf("%w: the server closed the connection right after it (%v); it may require a client certificate (-o client_cert=PATH)", ErrHandshake, err)
	}
	return fmt.Errorf("%w: the server closed the connection right after it (%v): it probably did not accept the client certificate %s (it must be issued by a CA the server trusts, and be valid)", ErrHandshake, err, cfg.TLS.ClientCert)
}
