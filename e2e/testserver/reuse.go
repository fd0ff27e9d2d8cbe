package testserver

import (
	"crypto/tls"
	"errors"
	"net"
)

// makeTLSConfig builds the server config. Control and data connections share
// it (and so its session-ticket keys, which is what lets a data connection
// resume); GetConfigForClient hands data connections a copy that checks
// resumption, the way vsftpd's require_ssl_reuse does.
func (e *Embedded) makeTLSConfig() *tls.Config {
	base := &tls.Config{
		Certificates: []tls.Certificate{e.Opts.Cert.TLS},
		MinVersion:   e.Opts.MinTLS,
		MaxVersion:   e.Opts.MaxTLS,
		// Go's server ignores the order but honours the set.
		CurvePreferences: e.Opts.Curves,
	}
	if e.Opts.ClientCAs != nil {
		base.ClientCAs = e.Opts.ClientCAs
		base.ClientAuth = tls.RequireAndVerifyClientCert
	}
	data := base.Clone()
	data.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.DidResume {
			return nil
		}
		e.resumeFailures.Add(1)
		e.Opts.Logger.Warn("data connection did not resume the control connection's TLS session",
			"rejected", e.Opts.RequireReuse)
		if e.Opts.RequireReuse {
			return errors.New("TLS session reuse required on data connections")
		}
		return nil
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if a, ok := hello.Conn.LocalAddr().(*net.TCPAddr); ok && a.Port == e.Port {
			return nil, nil // control connection: base config
		}
		return data, nil
	}
	return base
}
