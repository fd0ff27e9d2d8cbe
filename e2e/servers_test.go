package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// server is one real server serving a fixture, and how to mount it.
type server struct {
	URL  string
	Env  []string // FTPSFS_PASSWORD
	Opts []string // fingerprint=… and friends
	List string   // "LIST" or "MLSD": what the server lists with
	Log  func() string
	Pass string
	Cert *testserver.KeyPair
	Fx   *fixture
	// TLSVersion is what vsftpd must log for every connection ("" for the
	// embedded server, which logs nothing of the kind).
	TLSVersion string
	// Own makes a file a test put in the served tree the server's, as if
	// another client had uploaded it (vsftpd runs as its test user).
	Own func(p string) error
}

// other plays another client: it writes data at rel in the served tree.
func (s *server) other(t *testing.T, root, rel string, data []byte, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if s.Own != nil {
		if err := s.Own(p); err != nil {
			t.Fatal(err)
		}
	}
}

type serverKind struct {
	name  string
	start func(t *testing.T, root string) *server
}

var serverKinds = []serverKind{
	{"embedded-explicit", func(t *testing.T, root string) *server { return startEmbedded(t, root, false) }},
	{"embedded-implicit", func(t *testing.T, root string) *server { return startEmbedded(t, root, true) }},
	{"vsftpd-explicit", func(t *testing.T, root string) *server { return startVsftpd(t, root, false) }},
	{"vsftpd-implicit", func(t *testing.T, root string) *server { return startVsftpd(t, root, true) }},
	{"vsftpd-explicit-tls1.2", func(t *testing.T, root string) *server {
		s := startVsftpd(t, root, false)
		s.Opts = append(s.Opts, "tls_max=1.2")
		s.TLSVersion = "TLSv1.2"
		return s
	}},
}

func startEmbedded(t *testing.T, root string, implicit bool) *server {
	t.Helper()
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, Implicit: implicit, RequireReuse: true})
	if err != nil {
		t.Fatalf("embedded server: %v", err)
	}
	t.Cleanup(func() {
		if n := srv.ResumeFailures(); n > 0 {
			t.Errorf("%d data connections did not resume the TLS session", n)
		}
		_ = srv.Close()
	})
	scheme := "ftpes"
	if implicit {
		scheme = "ftps"
	}
	return &server{
		URL:  fmt.Sprintf("%s://%s@%s/", scheme, srv.Opts.User, srv.Addr),
		Env:  []string{"FTPSFS_PASSWORD=" + srv.Opts.Password},
		Opts: []string{"fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)},
		List: "MLSD", Log: func() string { return "" }, Pass: srv.Opts.Password, Cert: srv.Opts.Cert,
	}
}

// runVsftpd starts vsftpd for one test: it fails with what to install when
// vsftpd cannot run, shows the end of its log when the test failed, and
// stops it at cleanup.
func runVsftpd(t testing.TB, opts testserver.VsftpdOptions) *testserver.Vsftpd {
	t.Helper()
	v, err := testserver.StartVsftpd(opts)
	if errors.Is(err, testserver.ErrVsftpdNotInstalled) || errors.Is(err, testserver.ErrNotRoot) {
		t.Fatalf("%v (make test installs it when run as root)", err)
	}
	if err != nil {
		t.Fatalf("vsftpd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vsftpd log:\n%s", tail(v.Log(), 60))
		}
		_ = v.Close()
	})
	return v
}

func startVsftpd(t testing.TB, root string, implicit bool) *server {
	t.Helper()
	v := runVsftpd(t, testserver.VsftpdOptions{Root: root, Implicit: implicit})
	scheme := "ftpes"
	if implicit {
		scheme = "ftps"
	}
	return &server{
		URL:  fmt.Sprintf("%s://%s@%s/", scheme, v.User, v.Addr),
		Env:  []string{"FTPSFS_PASSWORD=" + v.Password},
		Opts: []string{"fingerprint=" + testserver.FingerprintOption(v.Cert.Fingerprint)},
		List: "LIST", Log: v.Log, Pass: v.Password, Cert: v.Cert, TLSVersion: "TLSv1.3", Own: v.Own,
	}
}

// serveFixture starts a server of kind k over a fresh fixture tree.
func serveFixture(t *testing.T, k serverKind) *server {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	fx := writeFixture(t, root)
	s := k.start(t, root)
	s.Fx = fx
	return s
}

func tail(s string, lines int) string {
	n := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			n++
			if n > lines {
				return s[i+1:]
			}
		}
	}
	return s
}
