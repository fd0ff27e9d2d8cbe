package pool

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strconv"
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
	MinVersion   uint16     // 0: TLS 1.2; below 1.2 is refused
	MaxVersion   uint16     // 0: TLS 1.3
}

// ErrHandshake: the TLS handshake failed for a reason other than the
// server's certificate (which is a *CertError).
var ErrHandshake = errors.New("TLS handshake failed")

// CertProblem is one reason a server certificate was refused; a CertError
// may carry several.
type CertProblem uint8

const (
	// CertUnknownAuthority: no trusted CA (system roots or cafile=) issued it.
	CertUnknownAuthority CertProblem = 1 << iota
	// CertSelfSigned: set with CertUnknownAuthority when it signed itself.
	CertSelfSigned
	// CertNameMismatch: it is not issued for the host name or address dialled.
	CertNameMismatch
	// CertExpired: its validity ended.
	CertExpired
	// CertNotYetValid: its validity has not begun.
	CertNotYetValid
	// CertPinMismatch: fingerprint= pins were given and none matches.
	CertPinMismatch
	// CertOther: any other chain problem (key usage, constraints, …).
	CertOther
)

// CertError is a server certificate that failed verification. It carries what
// a person needs to decide whether to trust the certificate.
type CertError struct {
	Host        string
	Reason      string      // every problem, "; "-separated
	Problems    CertProblem // the same, for programs
	Subject     string
	Issuer      string
	Names       []string // DNS names and addresses the certificate is issued for
	NotBefore   time.Time
	NotAfter    time.Time
	Fingerprint [32]byte
	Chain       []*x509.Certificate // as the server presented it, leaf first
}

func (e *CertError) Error() string {
	fp := FormatFingerprint(e.Fingerprint)
	var advice string
	switch {
	case e.Problems&CertPinMismatch != 0:
		advice = "if the server's certificate was replaced on purpose, pin the new one with -o fingerprint=" + fp
	case e.Problems&(CertExpired|CertNotYetValid) != 0:
		advice = "ask the server's administrator for a valid certificate"
	default:
		advice = "if you trust it, add -o fingerprint=" + fp
	}
	return fmt.Sprintf("server certificate of %s not trusted: %s (subject %q, issuer %q, valid %s to %s, fingerprint %s); %s",
		e.Host, e.Reason, e.Subject, e.Issuer, e.NotBefore.UTC().Format(time.DateOnly), e.NotAfter.UTC().Format(time.DateOnly), fp, advice)
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

// CertNames lists the DNS names and addresses a certificate is issued for,
// or its common name when it has neither.
func CertNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

// TLSVersionName is "1.2" or "1.3" (or the hex code of anything else).
func TLSVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// trust decides whether a server certificate is acceptable.
type trust struct {
	host     string
	roots    *x509.CertPool // nil: the system roots
	caFile   string
	pins     [][32]byte
	insecure bool
}

// newTLSConfig builds the configuration every connection of one pool
// starts from, and the trust that verifies the server's certificate.
// Verification is done by hand in VerifyConnection so that pins can accept
// self-signed certificates and failures can explain themselves.
func newTLSConfig(o TLSOptions, serverName string) (*tls.Config, *trust, error) {
	cfg := &tls.Config{
		ServerName:         serverName, // also the session cache key: data connections need it to resume
		InsecureSkipVerify: true,       // replaced by VerifyConnection below
		MinVersion:         tls.VersionTLS12,
		MaxVersion:         tls.VersionTLS13,
	}
	if o.MinVersion != 0 {
		cfg.MinVersion = o.MinVersion
	}
	if o.MaxVersion != 0 {
		cfg.MaxVersion = o.MaxVersion
	}
	if cfg.MinVersion < tls.VersionTLS12 || cfg.MaxVersion < tls.VersionTLS12 {
		return nil, nil, errors.New("TLS below 1.2 is not supported")
	}
	if cfg.MinVersion > cfg.MaxVersion {
		return nil, nil, fmt.Errorf("tls_min %s is above tls_max %s", TLSVersionName(cfg.MinVersion), TLSVersionName(cfg.MaxVersion))
	}
	t := &trust{host: serverName, caFile: o.CAFile, pins: o.Fingerprints, insecure: o.Insecure}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read cafile %s: %s", o.CAFile, pathErrText(err))
		}
		t.roots = x509.NewCertPool()
		if !t.roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("cafile %s holds no PEM certificate", o.CAFile)
		}
	}
	if o.ClientCert != "" {
		pair, err := loadClientCert(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if !o.Insecure {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return t.verify(cs.PeerCertificates)
		}
	}
	return cfg, t, nil
}

// loadClientCert reads a PEM certificate and its key; keyPath may be empty
// when certPath holds both (the combined form).
func loadClientCert(certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot read client_cert %s: %s", certPath, pathErrText(err))
	}
	keyPEM, keyName := certPEM, "client_cert "+certPath
	if keyPath != "" {
		if keyPEM, err = os.ReadFile(keyPath); err != nil {
			return tls.Certificate{}, fmt.Errorf("cannot read client_key %s: %s", keyPath, pathErrText(err))
		}
		keyName = "client_key " + keyPath
	}
	if !bytes.Contains(certPEM, []byte("CERTIFICATE-----")) {
		return tls.Certificate{}, fmt.Errorf("client_cert %s holds no PEM certificate", certPath)
	}
	if !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
		if keyPath == "" {
			return tls.Certificate{}, fmt.Errorf("client_cert %s holds no private key: add it to the file, or give it with client_key=PATH", certPath)
		}
		return tls.Certificate{}, fmt.Errorf("%s holds no PEM private key", keyName)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate %s with %s: %v", certPath, keyName, err)
	}
	return pair, nil
}

func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// verify accepts certs (leaf first) or says every reason it does not.
func (t *trust) verify(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("server presented no certificate")
	}
	leaf := certs[0]
	fp := sha256.Sum256(leaf.Raw)
	var problems CertProblem
	var reasons []string
	add := func(p CertProblem, reason string) {
		problems |= p
		reasons = append(reasons, reason)
	}
	if len(t.pins) > 0 {
		// A pin is the user's explicit trust in this exact certificate, as in
		// WinSCP: it stands in for the chain and the name, not for expiry.
		if !slices.Contains(t.pins, fp) {
			add(CertPinMismatch, "its fingerprint does not match the pinned fingerprint")
		} else if now := time.Now(); now.After(leaf.NotAfter) {
			add(CertExpired, "pinned certificate expired on "+leaf.NotAfter.UTC().Format(time.DateOnly))
		} else if now.Before(leaf.NotBefore) {
			add(CertNotYetValid, "pinned certificate not valid before "+leaf.NotBefore.UTC().Format(time.DateOnly))
		}
	} else {
		t.checkChain(certs, add)
		if err := leaf.VerifyHostname(t.host); err != nil {
			add(CertNameMismatch, nameMismatch(leaf, t.host))
		}
		if now := time.Now(); now.After(leaf.NotAfter) {
			add(CertExpired, "expired on "+leaf.NotAfter.UTC().Format(time.DateOnly))
		} else if now.Before(leaf.NotBefore) {
			add(CertNotYetValid, "not valid before "+leaf.NotBefore.UTC().Format(time.DateOnly))
		}
	}
	if problems == 0 {
		return nil
	}
	return &CertError{Host: t.host, Reason: strings.Join(reasons, "; "), Problems: problems,
		Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), Names: CertNames(leaf),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Fingerprint: fp, Chain: certs}
}

// checkChain verifies the issuer chain alone: the name and the leaf's dates
// are reported separately, so the chain is checked at a time the leaf is
// valid, and one expired self-signed certificate yields both reasons.
func (t *trust) checkChain(certs []*x509.Certificate, add func(CertProblem, string)) {
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	verifyAt := func(at time.Time) error {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, CurrentTime: at})
		return err
	}
	now := time.Now()
	at := now
	if at.After(leaf.NotAfter) {
		at = leaf.NotAfter
	} else if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore
	}
	err := verifyAt(at)
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != leaf {
		// An issuer not valid when the leaf was: judge the chain now instead,
		// where only the leaf's own dates (reported apart) may be wrong.
		err = verifyAt(now)
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
			if invalid.Cert == leaf {
				return
			}
			add(CertOther, fmt.Sprintf("its issuer's certificate %q is valid only from %s to %s",
				invalid.Cert.Subject.String(), invalid.Cert.NotBefore.UTC().Format(time.DateOnly), invalid.Cert.NotAfter.UTC().Format(time.DateOnly)))
			return
		}
	}
	if err == nil {
		return
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		add(CertOther, err.Error())
		return
	}
	where := "the system roots"
	if t.caFile != "" {
		where = "cafile " + t.caFile
	}
	// CheckSignature, not CheckSignatureFrom: a self-signed server
	// certificate is rarely marked as a CA.
	if bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil {
		add(CertUnknownAuthority|CertSelfSigned, "signed by an unknown authority: it is self-signed")
		return
	}
	add(CertUnknownAuthority, fmt.Sprintf("signed by an unknown authority: its issuer %q is not in %s", leaf.Issuer.String(), where))
}

func nameMismatch(leaf *x509.Certificate, host string) string {
	if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
		if leaf.Subject.CommonName != "" {
			return fmt.Sprintf("issued for %s in its common name only, which TLS clients no longer accept, not for %s", leaf.Subject.CommonName, host)
		}
		return "issued for no host name at all, not for " + host
	}
	return fmt.Sprintf("issued for %s, not for %s", strings.Join(CertNames(leaf), ", "), host)
}

// describe says how an accepted certificate was trusted.
func (t *trust) describe() string {
	switch {
	case t.insecure:
		return "not verified (insecure)"
	case len(t.pins) > 0:
		return "matches a pinned fingerprint (fingerprint=)"
	case t.caFile != "":
		return "issued for " + t.host + " by a CA in cafile " + t.caFile
	}
	return "issued for " + t.host + " by a CA in the system roots"
}

// explainTLS turns TLS alerts and version refusals into a reason a person can
// act on (wrapping ErrHandshake); anything else is returned as wrapNet does.
func explainTLS(err error, o TLSOptions) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" && op.Err != nil {
		return explainAlert(strings.TrimPrefix(op.Err.Error(), "tls: "), o)
	}
	msg := err.Error()
	if i := strings.Index(msg, "server selected unsupported protocol version "); i >= 0 {
		v, _ := strconv.ParseUint(strings.Fields(msg[i+len("server selected unsupported protocol version "):])[0], 16, 16)
		return fmt.Errorf("%w: the server chose TLS %s, outside what ftpsfs allows (TLS %s)%s",
			ErrHandshake, TLSVersionName(uint16(v)), versionRange(o), versionAdvice(o, uint16(v)))
	}
	return wrapNet(err)
}

func explainAlert(alert string, o TLSOptions) error {
	noCert := o.ClientCert == ""
	refusedCert := fmt.Errorf("%w: the server did not accept the client certificate %s (remote error: %s): it must be issued by a CA the server trusts, and be valid",
		ErrHandshake, o.ClientCert, alert)
	switch alert {
	case "protocol version not supported":
		return fmt.Errorf("%w: the server accepts none of the TLS versions ftpsfs offered (TLS %s)%s",
			ErrHandshake, versionRange(o), versionAdvice(o, 0))
	case "certificate required":
		if noCert {
			return fmt.Errorf("%w: the server requires a client certificate: give one with -o client_cert=PATH (and client_key=PATH if the key is in its own file)", ErrHandshake)
		}
		return refusedCert
	case "bad certificate", "unknown certificate authority", "unknown certificate", "unsupported certificate",
		"revoked certificate", "expired certificate", "access denied":
		if noCert {
			return fmt.Errorf("%w: the server refused the handshake (remote error: %s); it may require a client certificate (-o client_cert=PATH)", ErrHandshake, alert)
		}
		return refusedCert
	case "handshake failure":
		if noCert {
			return fmt.Errorf("%w: the server refused the handshake (remote error: %s); it may require a client certificate (-o client_cert=PATH), or offer no cipher ftpsfs accepts", ErrHandshake, alert)
		}
	}
	return fmt.Errorf("%w: the server ended the handshake (remote error: %s)", ErrHandshake, alert)
}

func versionRange(o TLSOptions) string {
	lo, hi := o.MinVersion, o.MaxVersion
	if lo == 0 {
		lo = tls.VersionTLS12
	}
	if hi == 0 {
		hi = tls.VersionTLS13
	}
	if lo == hi {
		return TLSVersionName(lo) + " only"
	}
	return TLSVersionName(lo) + " to " + TLSVersionName(hi)
}

// versionAdvice says which option to change; chosen is the server's version
// when known.
func versionAdvice(o TLSOptions, chosen uint16) string {
	switch {
	case chosen != 0 && chosen < tls.VersionTLS12:
		return "; TLS below 1.2 is insecure and not supported: the server must be upgraded"
	case o.MaxVersion == tls.VersionTLS12:
		return "; the server may require TLS 1.3: remove tls_max=1.2"
	case o.MinVersion == tls.VersionTLS13:
		return "; the server may not speak TLS 1.3: remove tls_min=1.3"
	}
	return "; the server may speak only TLS 1.0 or 1.1, which are insecure and not supported"
}
