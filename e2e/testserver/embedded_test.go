package testserver

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func startEmbedded(t *testing.T, opts EmbeddedOptions) *Embedded {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	e, err := StartEmbedded(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func certPool(k *KeyPair) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(k.Cert)
	return p
}

func login(t *testing.T, addr string, o clientOpts, user, pass string) *client {
	t.Helper()
	c, err := dialClient(t, addr, o)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func retr(t *testing.T, c *client, name string) []byte {
	t.Helper()
	r, err := c.Retr(name)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	return b
}

func TestEmbeddedTLSModes(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := map[bool]string{false: "explicit", true: "implicit"}[implicit] + "/" + tlsName(version)
			t.Run(name, func(t *testing.T) {
				root := t.TempDir()
				want := []byte("hello from the embedded server\n")
				if err := os.WriteFile(filepath.Join(root, "hello.txt"), want, 0o644); err != nil {
					t.Fatal(err)
				}
				e := startEmbedded(t, EmbeddedOptions{Root: root, Implicit: implicit, RequireReuse: true})
				c := login(t, e.Addr, clientOpts{implicit: implicit, roots: certPool(e.Opts.Cert),
					minTLS: version, maxTLS: version}, e.Opts.User, e.Opts.Password)

				entries, err := c.List("/")
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if len(entries) != 1 || entries[0].Name != "hello.txt" || entries[0].Size != uint64(len(want)) {
					t.Fatalf("List = %+v, want hello.txt of %d bytes", entries, len(want))
				}
				if got := retr(t, c, "hello.txt"); !bytes.Equal(got, want) {
					t.Fatalf("RETR = %q, want %q", got, want)
				}
				if v := c.controlState().Version; v != version {
					t.Errorf("control connection negotiated %s, want %s", tlsName(v), tlsName(version))
				}
				states := c.dataStates()
				for i, st := range states {
					if !st.DidResume || st.Version != version {
						t.Errorf("data connection %d: resumed=%v version=%s", i, st.DidResume, tlsName(st.Version))
					}
				}
				if len(states) != 2 || e.DataConns() != 2 || e.ResumeFailures() != 0 || e.Logins() != 1 {
					t.Errorf("client saw %d data connections; server: %d data connections, %d resume failures, %d logins",
						len(states), e.DataConns(), e.ResumeFailures(), e.Logins())
				}
			})
		}
	}
}

func TestEmbeddedWrongPassword(t *testing.T) {
	e := startEmbedded(t, EmbeddedOptions{})
	c, err := dialClient(t, e.Addr, clientOpts{roots: certPool(e.Opts.Cert)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(e.Opts.User, "wrong"); replyCode(err) != 530 {
		t.Fatalf("login with a wrong password: %v, want 530", err)
	}
	if e.Logins() != 0 {
		t.Errorf("Logins = %d, want 0", e.Logins())
	}
}

func TestEmbeddedRequireReuse(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := startEmbedded(t, EmbeddedOptions{Root: root, RequireReuse: true})
	roots := certPool(e.Opts.Cert)

	fresh := login(t, e.Addr, clientOpts{roots: roots, freshDataCache: true}, e.Opts.User, e.Opts.Password)
	if r, err := fresh.Retr("f"); err == nil {
		b, rerr := io.ReadAll(r)
		cerr := r.Close()
		if rerr == nil && cerr == nil {
			t.Fatalf("RETR over a data connection that did not resume succeeded (%q)", b)
		}
		t.Logf("rejected as expected: read: %v; reply: %v", rerr, cerr)
	}
	if e.ResumeFailures() != 1 {
		t.Fatalf("ResumeFailures = %d, want 1", e.ResumeFailures())
	}

	ok := login(t, e.Addr, clientOpts{roots: roots}, e.Opts.User, e.Opts.Password)
	if got := retr(t, ok, "f"); string(got) != "data" {
		t.Fatalf("RETR = %q", got)
	}
	if e.ResumeFailures() != 1 || e.DataConns() != 2 {
		t.Errorf("ResumeFailures = %d (want 1), DataConns = %d (want 2)", e.ResumeFailures(), e.DataConns())
	}
}

func TestEmbeddedNoTLS(t *testing.T) {
	e := startEmbedded(t, EmbeddedOptions{NoTLS: true})
	if _, err := dialClient(t, e.Addr, clientOpts{noTLS: true, tryAuthTLS: true}); err == nil {
		t.Fatal("AUTH TLS accepted by a NoTLS server")
	} else if code := replyCode(err); code < 500 {
		t.Fatalf("AUTH TLS: %v, want a 5xx reply", err)
	}
	c := login(t, e.Addr, clientOpts{noTLS: true}, e.Opts.User, e.Opts.Password)
	if err := c.Stor("plain.txt", strings.NewReader("clear")); err != nil {
		t.Fatalf("STOR in clear: %v", err)
	}
	if got := retr(t, c, "plain.txt"); string(got) != "clear" {
		t.Fatalf("RETR = %q", got)
	}
}

func TestEmbeddedFaults(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "keep.txt")
	if err := os.WriteFile(path, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := startEmbedded(t, EmbeddedOptions{Root: root})
	c := login(t, e.Addr, clientOpts{roots: certPool(e.Opts.Cert)}, e.Opts.User, e.Opts.Password)
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)

	e.SetFault(FaultNoSpace)
	if err := c.Stor("keep.txt", bytes.NewReader(big)); replyCode(err) != 552 {
		t.Fatalf("STOR under FaultNoSpace: %v, want 552", err)
	}
	if err := c.Append("keep.txt", strings.NewReader("more")); replyCode(err) != 552 {
		t.Fatalf("APPE under FaultNoSpace: %v, want 552", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "original" {
		t.Fatalf("content after failed uploads = %q, want the original", b)
	}

	e.SetFault(FaultDenyWrite)
	if err := c.Stor("keep.txt", strings.NewReader("x")); replyCode(err) != 553 {
		t.Fatalf("STOR under FaultDenyWrite: %v, want 553", err)
	}

	// The connection survives the faults and uploads work again without one.
	e.SetFault(FaultNone)
	if err := c.Stor("keep.txt", bytes.NewReader(big)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, big) {
		t.Fatalf("uploaded %d bytes, file has %d", len(big), len(b))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("uploaded file mode %v, want 0644", st.Mode().Perm())
	}
}

func TestEmbeddedClientCert(t *testing.T) {
	ca, err := NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(CertSpec{Hosts: []string{"alice"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	e := startEmbedded(t, EmbeddedOptions{ClientCAs: ca.Pool(), RequireReuse: true})
	roots := certPool(e.Opts.Cert)
	if c, err := dialClient(t, e.Addr, clientOpts{roots: roots}); err == nil {
		err = c.Login(e.Opts.User, e.Opts.Password)
		_ = c.Quit()
		if err == nil {
			t.Fatal("login without a client certificate succeeded")
		}
	}
	c := login(t, e.Addr, clientOpts{roots: roots, cert: &cert.TLS}, e.Opts.User, e.Opts.Password)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("List with a client certificate: %v", err)
	}
}

func TestEmbeddedCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, implicit := range []bool{false, true} {
		e, err := StartEmbedded(EmbeddedOptions{Root: root, Implicit: implicit})
		if err != nil {
			t.Fatal(err)
		}
		o := clientOpts{implicit: implicit, roots: certPool(e.Opts.Cert)}
		busy, err := dialClient(t, e.Addr, o) // logged in, mid-transfer when the server closes
		if err != nil {
			t.Fatal(err)
		}
		if err := busy.Login(e.Opts.User, e.Opts.Password); err != nil {
			t.Fatal(err)
		}
		_ = retr(t, busy, "f")
		r, err := busy.Retr("f")
		if err != nil {
			t.Fatal(err)
		}
		idle, err := dialClient(t, e.Addr, o) // connected, never logged in
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_ = r.Close()
		_ = busy.Quit()
		_ = idle.Quit()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Close:\n%s",
				before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that asks for a transfer and never opens the data connection
// leaves ftpserverlib waiting in Accept; Close must not wait for its timeout.
func TestEmbeddedClosePendingPassive(t *testing.T) {
	before := runtime.NumGoroutine()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := StartEmbedded(EmbeddedOptions{Root: root, NoTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := textproto.Dial("tcp", e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, step := range []struct {
		cmd  string
		code int
	}{{"", 220}, {"USER test", 331}, {"PASS secret", 230}, {"EPSV", 229}} {
		if step.cmd != "" {
			if err := conn.PrintfLine("%s", step.cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := conn.ReadResponse(step.code); err != nil {
			t.Fatalf("%q: %v", step.cmd, err)
		}
	}
	if err := conn.PrintfLine("RETR f"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server reach Accept
	start := time.Now()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
