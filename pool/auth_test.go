package pool

import (
	"errors"
	"strings"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

func TestWrongPasswordIsLoginError(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.Password = "wrong-secret-xyz" })
	err := p.Check(ctxT(t), "/")
	if !errors.Is(err, ErrLogin) {
		t.Fatalf("wrong password: %v, want ErrLogin", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-xyz") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestUntrustedCertificateShowsItsFingerprint(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		srv, _ := startServer(t, testserver.EmbeddedOptions{Implicit: implicit})
		p := newPool(t, srv, func(c *Config) { c.TLS.Fingerprints = nil })
		err := p.Check(ctxT(t), "/")
		var ce *CertError
		if !errors.As(err, &ce) {
			t.Fatalf("implicit=%v: self-signed certificate accepted or wrong error: %v", implicit, err)
		}
		if ce.Fingerprint != srv.Opts.Cert.Fingerprint {
			t.Errorf("reported fingerprint %x, want %x", ce.Fingerprint, srv.Opts.Cert.Fingerprint)
		}
		if !strings.Contains(err.Error(), "fingerprint="+FormatFingerprint(srv.Opts.Cert.Fingerprint)) {
			t.Errorf("message lacks the option to pin it: %v", err)
		}
	}
}

func TestWrongPinRefused(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.TLS.Fingerprints = [][32]byte{{1, 2, 3}} })
	var ce *CertError
	if err := p.Check(ctxT(t), "/"); !errors.As(err, &ce) || !strings.Contains(ce.Reason, "pinned") {
		t.Fatalf("wrong pin: %v", err)
	}
}

func TestCAFileTrustsIssuedCertificate(t *testing.T) {
	ca, err := testserver.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(testserver.CertSpec{})
	if err != nil {
		t.Fatal(err)
	}
	caPath, _, err := ca.WriteFiles(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := startServer(t, testserver.EmbeddedOptions{Cert: cert})
	p := newPool(t, srv, func(c *Config) { c.TLS.Fingerprints = nil; c.TLS.CAFile = caPath })
	if err := p.Check(ctxT(t), "/"); err != nil {
		t.Fatalf("CA-signed certificate with cafile=: %v", err)
	}
	q := newPool(t, srv, func(c *Config) { c.TLS.Fingerprints = nil; c.Host = "localhost" })
	var ce *CertError
	if err := q.Check(ctxT(t), "/"); !errors.As(err, &ce) {
		t.Fatalf("CA not trusted, but no CertError: %v", err)
	}
}

func TestServerWithoutTLSRefused(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{NoTLS: true})
	p := newPool(t, srv, func(c *Config) { c.Mode = Explicit })
	if err := p.Check(ctxT(t), "/"); !errors.Is(err, ErrNoTLS) {
		t.Fatalf("explicit TLS against a plain server: %v, want ErrNoTLS", err)
	}
	q := newPool(t, srv, func(c *Config) { c.Mode = Implicit })
	if err := q.Check(ctxT(t), "/"); !errors.Is(err, ErrNoTLS) {
		t.Fatalf("implicit TLS against a plain server: %v, want ErrNoTLS", err)
	}
	plain := newPool(t, srv, func(c *Config) { c.Mode = Plain })
	if err := plain.Check(ctxT(t), "/"); err != nil {
		t.Fatalf("plain FTP when asked for: %v", err)
	}
}
