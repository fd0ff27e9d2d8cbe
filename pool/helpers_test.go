package pool

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// startServer runs the embedded server over a fresh directory holding a few
// files, with vsftpd's session-reuse check emulated.
func startServer(t *testing.T, opts testserver.EmbeddedOptions) (*testserver.Embedded, map[string][]byte) {
	t.Helper()
	root := t.TempDir()
	files := map[string][]byte{
		"empty":          {},
		"one":            {'x'},
		"big.bin":        randomBytes(t, 3<<20+17),
		"dir/inner.txt":  []byte("inner\n"),
		"with space #%é": []byte("odd name\n"),
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, ".hidden"), []byte("h"), 0o644); err != nil {
		t.Fatal(err)
	}
	files[".hidden"] = []byte("h")
	opts.Root = root
	opts.RequireReuse = !opts.NoTLS
	srv, err := testserver.StartEmbedded(opts)
	if err != nil {
		t.Fatalf("starting the embedded server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, files
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// newPool returns a pool that trusts srv's certificate by its pin.
func newPool(t *testing.T, srv *testserver.Embedded, mutate func(*Config)) *Pool {
	t.Helper()
	mode := Explicit
	if srv.Opts.Implicit {
		mode = Implicit
	}
	if srv.Opts.NoTLS {
		mode = Plain
	}
	cfg := Config{
		Host: srv.Host, Port: srv.Port, User: srv.Opts.User, Password: srv.Opts.Password, Mode: mode,
		MaxConns: 3, Timeout: 5 * time.Second,
	}
	if srv.Opts.Cert != nil {
		cfg.TLS.Fingerprints = [][32]byte{srv.Opts.Cert.Fingerprint}
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads a whole file through a Reader in chunks of n bytes.
func readAll(t *testing.T, r *Reader, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, n)
	for off := int64(0); ; {
		got, err := r.ReadAt(ctxT(t), buf, off)
		out.Write(buf[:got])
		off += int64(got)
		if err != nil {
			if err.Error() == "EOF" {
				return out.Bytes()
			}
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
	}
}

// checkGoroutines fails when goroutines outlive the test body.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

var tlsVersions = map[string]uint16{"TLS1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13}
