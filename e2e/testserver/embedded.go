package testserver

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// EmbeddedOptions configures StartEmbedded. Zero values give an explicit-TLS
// server (TLS mandatory) for user "test", password "secret", with a fresh
// self-signed certificate, on a free port of 127.0.0.1.
type EmbeddedOptions struct {
	Root           string // directory served (required)
	User, Password string // default "test" / "secret"
	Implicit       bool   // TLS from the first byte; otherwise explicit with TLS mandatory
	NoTLS          bool   // a plain FTP server that refuses AUTH TLS
	Cert           *KeyPair
	// RequireReuse emulates vsftpd's require_ssl_reuse: a data connection whose
	// TLS session does not resume fails its handshake. ftpserverlib then
	// answers the transfer with its own error (550/426), not vsftpd's 522.
	RequireReuse bool
	ClientCAs    *x509.CertPool // when set, client certificates are required and verified
	MinTLS       uint16         // default TLS 1.2
	MaxTLS       uint16         // default: Go's maximum (TLS 1.3)
	Curves       []tls.CurveID  // key exchanges accepted; default Go's (vsftpd accepts P-256 only)
	Logger       *slog.Logger   // nil → discard
	Listen       string         // control address, default "127.0.0.1:0"
	Passive      *PassiveRange  // fixed passive ports (for a proxy in front); default: any free port
	// ListOnly turns MLSD and MLST off, so the server lists with LIST, whose
	// lines carry each file's mode (its MLSD has no UNIX.mode fact).
	ListOnly bool
	// Listings are synthetic listings by directory ("/slow"): LIST and MLSD
	// of it send them instead of its entries. StartEmbedded creates each
	// directory under Root.
	Listings map[string]Synthetic
	// Greeting, when set, puts a front on the control port that sends a
	// slow or endless greeting (see GreetingFault).
	Greeting *GreetingFault
}

// Embedded is a running in-process FTP(S) server.
type Embedded struct {
	Addr string // "127.0.0.1:port"
	Host string
	Port int
	Opts EmbeddedOptions // with defaults filled in

	server    *ftpserver.FtpServer
	tlsConfig *tls.Config
	track     *tracker
	served    chan struct{} // closed when Serve returns
	fault     atomic.Int32

	dataConns, resumeFailures, logins atomic.Int64
	dataOpen                          atomic.Int64 // data connections not yet closed
	listed                            listings
	front                             *front // the greeting front, if any

	closeOnce sync.Once
	closeErr  error
}

// StartEmbedded starts serving opts.Root and returns once the port accepts.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.Root == "" {
		return nil, errors.New("testserver: EmbeddedOptions.Root is required")
	}
	if st, err := os.Stat(opts.Root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("testserver: root %q is not a directory (%v)", opts.Root, err)
	}
	if opts.NoTLS && (opts.Implicit || opts.RequireReuse || opts.ClientCAs != nil) {
		return nil, errors.New("testserver: NoTLS excludes Implicit, RequireReuse and ClientCAs")
	}
	if opts.User == "" {
		opts.User = "test"
	}
	if opts.Password == "" {
		opts.Password = "secret"
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.MinTLS == 0 {
		opts.MinTLS = tls.VersionTLS12
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Cert == nil && !opts.NoTLS {
		kp, err := SelfSigned(CertSpec{})
		if err != nil {
			return nil, err
		}
		opts.Cert = kp
	}

	if err := makeSynthetic(opts); err != nil {
		return nil, err
	}
	e := &Embedded{Opts: opts, track: newTracker(), served: make(chan struct{})}
	listen := opts.Listen
	if opts.Greeting != nil {
		listen = "127.0.0.1:0" // the front takes opts.Listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("testserver: listen: %w", err)
	}
	e.Addr = ln.Addr().String()
	if opts.Greeting != nil {
		if e.front, err = startFront(opts.Listen, e.Addr, *opts.Greeting); err != nil {
			ln.Close()
			return nil, err
		}
		e.Addr = e.front.addr
	}
	e.Host, e.Port, _ = hostPort(e.Addr)
	if !opts.NoTLS {
		e.tlsConfig = e.makeTLSConfig()
	}
	// Our own listener so Close can reach every connection (see tracker).
	var control net.Listener = &trackedListener{Listener: ln, t: e.track}
	if opts.Implicit {
		// ftpserverlib wraps only listeners it creates itself.
		control = tls.NewListener(control, e.tlsConfig)
	}

	e.server = ftpserver.NewFtpServer(&driver{e: e, listener: control})
	e.server.Logger = opts.Logger
	if err := e.server.Listen(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("testserver: %w", err)
	}
	go func() {
		defer close(e.served)
		if err := e.server.Serve(); err != nil {
			opts.Logger.Error("embedded FTP server stopped", "err", err)
		}
	}()
	return e, nil
}

// Close stops listening, closes every client connection and waits for the
// server's goroutines to finish.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		if err := e.server.Stop(); err != nil && !errors.Is(err, ftpserver.ErrNotListening) {
			e.closeErr = err
		}
		select {
		case <-e.served:
		case <-time.After(5 * time.Second):
			e.closeErr = errors.Join(e.closeErr, errors.New("testserver: Serve did not return"))
		}
		if !e.track.closeAll(5 * time.Second) {
			e.closeErr = errors.Join(e.closeErr, errors.New("testserver: client connections still open after 5s"))
		}
		if e.front != nil {
			e.front.close()
		}
	})
	return e.closeErr
}

// DataConns is the number of data connections accepted.
func (e *Embedded) DataConns() int { return int(e.dataConns.Load()) }

// ResumeFailures is the number of TLS data connections that did not resume
// the control connection's session (rejected when RequireReuse is set).
func (e *Embedded) ResumeFailures() int { return int(e.resumeFailures.Load()) }

// Logins is the number of successful logins.
func (e *Embedded) Logins() int { return int(e.logins.Load()) }

// SetFault changes the fault injected into uploads from now on.
func (e *Embedded) SetFault(f Fault) { e.fault.Store(int32(f)) }

func (e *Embedded) currentFault() Fault { return Fault(e.fault.Load()) }

// driver is ftpserverlib's MainDriver, kept unexported so its methods do not
// clutter Embedded's API.
type driver struct {
	e        *Embedded
	listener net.Listener
}

var (
	_ ftpserver.MainDriver                        = (*driver)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper = (*driver)(nil)
)

func (d *driver) GetSettings() (*ftpserver.Settings, error) {
	s := &ftpserver.Settings{
		Listener:            d.listener,
		Banner:              "ftpsfs test server",
		TLSRequired:         ftpserver.MandatoryEncryption,
		ConnectionTimeout:   10,
		DisableActiveMode:   true, // loopback tests use passive mode only
		DefaultTransferType: ftpserver.TransferTypeBinary,
	}
	s.PassiveTransferPortRange = d.e.Opts.Passive.portGetter()
	s.DisableMLSD, s.DisableMLST = d.e.Opts.ListOnly, d.e.Opts.ListOnly
	switch {
	case d.e.Opts.NoTLS:
		s.TLSRequired = ftpserver.ClearOrEncrypted
	case d.e.Opts.Implicit:
		s.TLSRequired = ftpserver.ImplicitEncryption
	}
	return s, nil
}

func (d *driver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "ftpsfs test server ready", nil
}

func (d *driver) ClientDisconnected(ftpserver.ClientContext) {}

func (d *driver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	o := d.e.Opts
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(o.User)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(o.Password)) == 1
	if !okUser || !okPass {
		return nil, errors.New("wrong user or password")
	}
	d.e.logins.Add(1)
	return &faultFs{Fs: afero.NewBasePathFs(afero.NewOsFs(), o.Root), root: o.Root, fault: d.e.currentFault,
		synthetic: o.Listings, listed: &d.e.listed}, nil
}

func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.e.tlsConfig == nil {
		return nil, errors.New("TLS is not enabled on this server")
	}
	return d.e.tlsConfig, nil
}

// WrapPassiveListener counts and tracks data connections.
func (d *driver) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	tl := d.e.track.listener(l, &d.e.dataConns)
	tl.(*trackedListener).open = &d.e.dataOpen
	return tl, nil
}
