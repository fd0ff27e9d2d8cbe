package pool

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// TLSOptions say how the server is authenticated and how we authenticate.
type TLSOptions struct {
	CAFile       string     // PEM roots replacing the system ones
	Fingerprints [][32]byte // SHA-256 pins of acceptable leaf certificates
	Insecure     bool       // skip verification entirely
	ClientCert   string     // PEM certificate (may also hold the key)
	ClientKey    string     // PEM key; empty when ClientCert holds it
	MinVersion   uint16
	MaxVersion   uint16
}

// CertError is a server certificate that failed verification. It carries what
// a person needs to decide whether to trust the certificate.
type CertError struct {
	Host        string
	Reason      string
	Subject     string
	Issuer      string
	NotBefore   time.Time
	NotAfter    time.Time
	Fingerprint [32]byte
}

func (e *CertError) Error() string {
	fp := FormatFingerprint(e.Fingerprint)
	return fmt.Sprintf("server certificate of %s not trusted: %s (subject %q, issuer %q, valid %s to %s, fingerprint %s); if you trust it, add -o fingerprint=%s",
		e.Host, e.Reason, e.Subject, e.Issuer, e.NotBefore.UTC().Format(time.DateOnly), e.NotAfter.UTC().Format(time.DateOnly), fp, fp)
}

// FormatFingerprint renders a SHA-256 fingerprint as SHA256:AB:CD:…, the
// form the fingerprint= option accepts.
func FormatFingerprint(fp [32]byte) string {
	var b strings.Builder
	b.WriteString("SHA256:")
	for i, v := range fp {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", v)
	}
	return b.String()
}

// baseTLSConfig builds the configuration every connection of one pool
// starts from. Verification is done by hand in VerifyConnection so that pins
// can accept self-signed certificates and failures can explain themselves.
func baseTLSConfig(o TLSOptions, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         serverName, // also the session cache key: data connections need it to resume
		InsecureSkipVerify: true,       // replaced by verifyConnection below
		MinVersion:         tls.VersionTLS12,
		MaxVersion:         tls.VersionTLS13,
	}
	if o.MinVersion != 0 {
		cfg.MinVersion = o.MinVersion
	}
	if o.MaxVersion != 0 {
		cfg.MaxVersion = o.MaxVersion
	}
	var roots *x509.CertPool
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading cafile: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cafile %s holds no PEM certificate", o.CAFile)
		}
	}
	if o.ClientCert != "" {
		key := o.ClientKey
		if key == "" {
			key = o.ClientCert
		}
		pair, err := tls.LoadX509KeyPair(o.ClientCert, key)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s: %w", o.ClientCert, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if !o.Insecure {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyServer(cs, serverName, roots, o.Fingerprints)
		}
	}
	return cfg, nil
}

func verifyServer(cs tls.ConnectionState, host string, roots *x509.CertPool, pins [][32]byte) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	fp := sha256.Sum256(leaf.Raw)
	certErr := func(reason string) error {
		return &CertError{Host: host, Reason: reason, Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
			NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Fingerprint: fp}
	}
	if len(pins) > 0 {
		// A pin is the user's explicit trust in this exact certificate, as in
		// WinSCP: it stands in for the chain and the name, not for expiry.
		for _, pin := range pins {
			if pin == fp {
				if now := time.Now(); now.After(leaf.NotAfter) {
					return certErr("pinned certificate expired on " + leaf.NotAfter.UTC().Format(time.DateOnly))
				}
				return nil
			}
		}
		return certErr("fingerprint does not match the pinned fingerprint")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	if err != nil {
		return certErr(explainVerify(err, host))
	}
	return nil
}

func explainVerify(err error, host string) string {
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return "signed by an unknown authority (self-signed, or its CA is not in the system roots or cafile=)"
	case errors.As(err, &name):
		return fmt.Sprintf("issued for %s, not for %s", certNames(name.Certificate), host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "expired or not yet valid (" + invalid.Detail + ")"
	default:
		return err.Error()
	}
}

func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return c.Subject.CommonName
	}
	return strings.Join(names, ", ")
}
