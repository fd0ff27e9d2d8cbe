package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestFingerprintOption(t *testing.T) {
	var fp [32]byte
	for i := range fp {
		fp[i] = byte(i * 7)
	}
	got := FingerprintOption(fp)
	if !regexp.MustCompile(`^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(got) || got[7:15] != "00:07:0E" {
		t.Fatalf("FingerprintOption = %q", got)
	}
}

func TestSelfSignedDefaults(t *testing.T) {
	kp, err := SelfSigned(CertSpec{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(kp.Cert)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		t.Fatalf("PEM pair: %v", err)
	}
	if len(kp.CombinedPEM()) != len(kp.CertPEM)+len(kp.KeyPEM) {
		t.Error("CombinedPEM is not cert + key")
	}
	dir := t.TempDir()
	certPath, keyPath, err := kp.WriteFiles(dir, "srv")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", st, err)
	}
	if certPath != filepath.Join(dir, "srv.crt") {
		t.Errorf("cert path %s", certPath)
	}
}

func TestCAIssue(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(CertSpec{Hosts: []string{"ftp.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{DNSName: "ftp.example.test", Roots: ca.Pool()}); err != nil {
		t.Errorf("server cert: %v", err)
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: ca.Pool()}); err == nil {
		t.Error("server cert valid for a host it does not name")
	}
	cli, err := ca.Issue(CertSpec{Client: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := cli.Cert.Verify(opts); err != nil {
		t.Errorf("client cert: %v", err)
	}
	expired, err := ca.Issue(CertSpec{NotAfter: time.Now().Add(-48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := expired.Cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool()}); err == nil {
		t.Error("expired cert verifies")
	}
}
