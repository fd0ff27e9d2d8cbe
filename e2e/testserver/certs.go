package testserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeyPair is a certificate with its private key, in every form a test needs:
// PEM for files (vsftpd, ftpsfs options), parsed for cert pools, and a
// tls.Certificate for Go servers and clients.
type KeyPair struct {
	CertPEM, KeyPEM []byte
	Cert            *x509.Certificate
	TLS             tls.Certificate
	Fingerprint     [32]byte // sha256 of Cert.Raw
}

// WriteFiles writes name.crt and name.key into dir; the key is mode 0600.
func (k *KeyPair) WriteFiles(dir, name string) (certPath, keyPath string, err error) {
	certPath = filepath.Join(dir, name+".crt")
	keyPath = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certPath, k.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	// WriteFile keeps the mode of an existing file: make sure the key ends up private.
	if err := os.WriteFile(keyPath, k.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := os.Chmod(keyPath, 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// CombinedPEM is the certificate followed by the key, the single-file form
// many tools (and client-certificate options) accept.
func (k *KeyPair) CombinedPEM() []byte {
	return bytes.Join([][]byte{k.CertPEM, k.KeyPEM}, nil)
}

// CA is a self-signed certificate authority that issues server and client
// certificates.
type CA struct{ *KeyPair }

// Pool returns a cert pool holding only this CA, for RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CertSpec describes a certificate to issue. The zero value gives a server
// certificate for 127.0.0.1, ::1 and localhost, valid from an hour ago to a
// day from now.
type CertSpec struct {
	Hosts               []string
	NotBefore, NotAfter time.Time
	Client              bool // ExtKeyUsageClientAuth instead of ServerAuth
}

// NewCA creates a CA whose subject common name is name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ftpsfs tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	kp, err := makeKeyPair(tmpl, nil, key, nil)
	if err != nil {
		return nil, fmt.Errorf("create CA %q: %w", name, err)
	}
	return &CA{kp}, nil
}

// Issue creates a certificate signed by the CA.
func (ca *CA) Issue(spec CertSpec) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, ok := ca.TLS.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("CA key is %T, want *ecdsa.PrivateKey", ca.TLS.PrivateKey)
	}
	return makeKeyPair(leafTemplate(spec), ca.Cert, key, signer)
}

// SelfSigned creates a certificate that signs itself; clients trust it by
// putting it in RootCAs or by pinning its Fingerprint.
func SelfSigned(spec CertSpec) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return makeKeyPair(leafTemplate(spec), nil, key, nil)
}

// FingerprintOption formats a SHA-256 fingerprint the way the ftpsfs
// fingerprint= option takes it: "SHA256:AB:CD:…".
func FingerprintOption(fp [32]byte) string {
	parts := make([]string, len(fp))
	for i, b := range fp {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return "SHA256:" + strings.Join(parts, ":")
}

func leafTemplate(spec CertSpec) *x509.Certificate {
	hosts := spec.Hosts
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	notBefore, notAfter := spec.NotBefore, spec.NotAfter
	now := time.Now()
	if notAfter.IsZero() {
		notAfter = now.Add(24 * time.Hour)
	}
	if notBefore.IsZero() {
		notBefore = now.Add(-time.Hour)
		// An expired certificate asked for by NotAfter alone must still be well formed.
		if !notBefore.Before(notAfter) {
			notBefore = notAfter.Add(-24 * time.Hour)
		}
	}
	usage := x509.ExtKeyUsageServerAuth
	cn := hosts[0]
	if spec.Client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"ftpsfs tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl
}

// makeKeyPair signs tmpl with signerKey as parent (self-signed when parent is nil).
func makeKeyPair(tmpl, parent *x509.Certificate, key, signerKey *ecdsa.PrivateKey) (*KeyPair, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, signerKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	kp := &KeyPair{
		CertPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Cert:        cert,
		Fingerprint: sha256.Sum256(der),
	}
	kp.TLS = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	return kp, nil
}
