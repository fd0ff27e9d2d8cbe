package pool

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// keyPairs returns a function that unwraps what testserver's certificate
// makers return, failing t on error.
func keyPairs(t *testing.T) func(*testserver.KeyPair, error) *testserver.KeyPair {
	return func(kp *testserver.KeyPair, err error) *testserver.KeyPair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
}

// TestVerifyReasons checks each refusal names every problem, offline.
func TestVerifyReasons(t *testing.T) {
	mustCert := keyPairs(t)
	ca, err := testserver.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := testserver.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-72 * time.Hour)
	future := time.Now().Add(72 * time.Hour)
	self := mustCert(testserver.SelfSigned(testserver.CertSpec{}))
	selfExpired := mustCert(testserver.SelfSigned(testserver.CertSpec{NotBefore: past.Add(-time.Hour), NotAfter: past}))
	issued := mustCert(ca.Issue(testserver.CertSpec{}))
	issuedExample := mustCert(ca.Issue(testserver.CertSpec{Hosts: []string{"files.example.com"}}))
	issuedExpired := mustCert(ca.Issue(testserver.CertSpec{NotBefore: past.Add(-time.Hour), NotAfter: past}))
	issuedLater := mustCert(ca.Issue(testserver.CertSpec{NotBefore: future, NotAfter: future.Add(time.Hour)}))

	cases := []struct {
		name     string
		cert     *testserver.KeyPair
		roots    *x509.CertPool
		pins     [][32]byte
		problems CertProblem
		reason   string // substring; "" when accepted
	}{
		{"CA-issued", issued, ca.Pool(), nil, 0, ""},
		{"self-signed", self, nil, nil, CertUnknownAuthority | CertSelfSigned, "signed by an unknown authority: it is self-signed"},
		{"self-signed pinned", self, nil, [][32]byte{self.Fingerprint}, 0, ""},
		{"one of several pins", self, nil, [][32]byte{{1}, self.Fingerprint}, 0, ""},
		{"wrong pin on a CA-valid certificate", issued, ca.Pool(), [][32]byte{self.Fingerprint}, CertPinMismatch, "does not match the pinned fingerprint"},
		{"other CA", issued, otherCA.Pool(), nil, CertUnknownAuthority, `its issuer "CN=test CA,O=ftpsfs tests" is not in`},
		{"name mismatch", issuedExample, ca.Pool(), nil, CertNameMismatch, "issued for files.example.com, not for 127.0.0.1"},
		{"expired, issuer valid now", issuedExpired, ca.Pool(), nil, CertExpired, "expired on " + past.UTC().Format(time.DateOnly)},
		{"not yet valid", issuedLater, ca.Pool(), nil, CertNotYetValid, "not valid before"},
		{"self-signed and expired", selfExpired, nil, nil, CertUnknownAuthority | CertSelfSigned | CertExpired, "it is self-signed; expired on"},
		{"pinned but expired", selfExpired, nil, [][32]byte{selfExpired.Fingerprint}, CertExpired, "pinned certificate expired on"},
	}
	for _, c := range cases {
		tr := &trust{host: "127.0.0.1", roots: c.roots, pins: c.pins}
		if c.roots != nil {
			tr.caFile = "ca.pem"
		}
		err := tr.verify([]*x509.Certificate{c.cert.Cert})
		if c.reason == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		var ce *CertError
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want a CertError", c.name, err)
			continue
		}
		if ce.Problems != c.problems || !strings.Contains(ce.Reason, c.reason) {
			t.Errorf("%s: problems %b reason %q; want %b and %q", c.name, ce.Problems, ce.Reason, c.problems, c.reason)
		}
		if ce.Fingerprint != c.cert.Fingerprint || len(ce.Chain) != 1 {
			t.Errorf("%s: fingerprint or chain not reported", c.name)
		}
		msg := ce.Error()
		offersPin := strings.Contains(msg, "add -o fingerprint="+FormatFingerprint(c.cert.Fingerprint))
		if wantPin := c.problems&(CertExpired|CertNotYetValid|CertPinMismatch) == 0; offersPin != wantPin {
			t.Errorf("%s: offers a pin: %v, want %v: %s", c.name, offersPin, wantPin, msg)
		}
	}
}

func TestClientCertificateUsedOnControlAndData(t *testing.T) {
	mustCert := keyPairs(t)
	ca, err := testserver.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	alice := mustCert(ca.Issue(testserver.CertSpec{Hosts: []string{"alice"}, Client: true}))
	dir := t.TempDir()
	certPath, keyPath, err := alice.WriteFiles(dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	combined := filepath.Join(dir, "alice.pem")
	if err := os.WriteFile(combined, alice.CombinedPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, version := range tlsVersions {
		srv, files := startServer(t, testserver.EmbeddedOptions{ClientCAs: ca.Pool(), MinTLS: version, MaxTLS: version})
		for _, files2 := range [][2]string{{certPath, keyPath}, {combined, ""}} {
			p := newPool(t, srv, func(c *Config) { c.TLS.ClientCert, c.TLS.ClientKey = files2[0], files2[1] })
			r := p.OpenReader("/one")
			if got := readAll(t, r, 4096); string(got) != string(files["one"]) {
				t.Errorf("%s %v: read %q", name, files2, got)
			}
			r.Close()
		}
		if srv.ResumeFailures() > 0 {
			t.Errorf("%s: %d data connections did not resume", name, srv.ResumeFailures())
		}
		p := newPool(t, srv, nil)
		err := p.Check(ctxT(t), "/")
		if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "client_cert=") {
			t.Errorf("%s without a client certificate: %v, want ErrHandshake naming client_cert=", name, err)
		}
	}
}

func TestClientCertificateFiles(t *testing.T) {
	mustCert := keyPairs(t)
	kp := mustCert(testserver.SelfSigned(testserver.CertSpec{Client: true}))
	dir := t.TempDir()
	certPath, keyPath, err := kp.WriteFiles(dir, "c")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cert, key, want string }{
		{certPath, "", "holds no private key: add it to the file, or give it with client_key=PATH"},
		{filepath.Join(dir, "none.crt"), "", "cannot read client_cert"},
		{certPath, filepath.Join(dir, "none.key"), "cannot read client_key"},
		{keyPath, keyPath, "holds no PEM certificate"},
		{certPath, certPath, "holds no PEM private key"},
	} {
		_, err := New(Config{Host: "127.0.0.1", Port: 21, Mode: Explicit, TLS: TLSOptions{ClientCert: c.cert, ClientKey: c.key}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("client_cert=%s client_key=%s: %v, want %q", c.cert, c.key, err, c.want)
		}
	}
	if _, err := New(Config{Host: "h", Mode: Explicit, TLS: TLSOptions{MinVersion: tls.VersionTLS11}}); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

func TestTLSVersionMismatchExplained(t *testing.T) {
	only13, _ := startServer(t, testserver.EmbeddedOptions{MinTLS: tls.VersionTLS13})
	only12, _ := startServer(t, testserver.EmbeddedOptions{MaxTLS: tls.VersionTLS12, Implicit: true})
	cases := []struct {
		srv  *testserver.Embedded
		opts func(*Config)
		want string
	}{
		{only13, func(c *Config) { c.TLS.MaxVersion = tls.VersionTLS12 }, "(TLS 1.2 only); the server may require TLS 1.3: remove tls_max=1.2"},
		{only12, func(c *Config) { c.TLS.MinVersion = tls.VersionTLS13 }, "(TLS 1.3 only); the server may not speak TLS 1.3: remove tls_min=1.3"},
	}
	for _, c := range cases {
		err := newPool(t, c.srv, c.opts).Check(ctxT(t), "/")
		if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want ErrHandshake with %q", err, c.want)
		}
	}
}

func TestExplainAlerts(t *testing.T) {
	remote := func(text string) error { return &net.OpError{Op: "remote error", Err: errors.New("tls: " + text)} }
	withCert := TLSOptions{ClientCert: "/etc/c.pem"}
	cases := []struct {
		err  error
		o    TLSOptions
		want string
	}{
		{remote("certificate required"), TLSOptions{}, "requires a client certificate: give one with -o client_cert=PATH"},
		{remote("certificate required"), withCert, "did not accept the client certificate /etc/c.pem"},
		{remote("bad certificate"), TLSOptions{}, "it may require a client certificate"},
		{remote("unknown certificate authority"), withCert, "did not accept the client certificate /etc/c.pem"},
		{remote("handshake failure"), TLSOptions{}, "or offer no cipher ftpsfs accepts"},
		{remote("handshake failure"), withCert, "the server ended the handshake (remote error: handshake failure)"},
		{remote("protocol version not supported"), TLSOptions{}, "(TLS 1.2 to 1.3); the server may speak only TLS 1.0 or 1.1"},
		{errors.New("tls: server selected unsupported protocol version 301"), TLSOptions{}, "the server chose TLS 1.0, outside what ftpsfs allows (TLS 1.2 to 1.3); TLS below 1.2 is insecure"},
	}
	for _, c := range cases {
		got := explainTLS(c.err, c.o)
		if !errors.Is(got, ErrHandshake) || !strings.Contains(got.Error(), c.want) {
			t.Errorf("explainTLS(%v) = %v, want %q", c.err, got, c.want)
		}
	}
	if plain := errors.New("connection reset"); explainTLS(plain, TLSOptions{}) != plain {
		t.Error("explainTLS changed an unrelated error")
	}
}
