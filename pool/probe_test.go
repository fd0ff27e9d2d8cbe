package pool

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

func probeConfig(srv *testserver.Embedded, mutate func(*Config)) Config {
	mode := Explicit
	if srv.Opts.Implicit {
		mode = Implicit
	}
	cfg := Config{Host: srv.Host, Port: srv.Port, User: srv.Opts.User, Password: srv.Opts.Password, Mode: mode,
		MaxConns: 3, TLS: TLSOptions{Fingerprints: [][32]byte{srv.Opts.Cert.Fingerprint}}}
	if mutate != nil {
		mutate(&cfg)
	}
	return cfg
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestProbeReportsEveryStep(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		for name, version := range tlsVersions {
			srv, files := startServer(t, testserver.EmbeddedOptions{Implicit: implicit, MaxTLS: version})
			var log lockedBuffer // data connections log from their own goroutines
			cfg := probeConfig(srv, func(c *Config) {
				c.Debug = true
				c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			r, err := Probe(ctxT(t), cfg, "/")
			if err != nil {
				t.Fatalf("implicit=%v %s: %v", implicit, name, err)
			}
			if r.TLSVersion != version || r.DataVersion != version || !r.DataTLS || !r.DataResumed {
				t.Errorf("implicit=%v %s: control %x, data %x tls=%v resumed=%v", implicit, name, r.TLSVersion, r.DataVersion, r.DataTLS, r.DataResumed)
			}
			if len(r.Chain) != 1 || r.Chain[0].Equal(srv.Opts.Cert.Cert) == false || !strings.Contains(r.Trusted, "pinned") {
				t.Errorf("chain or trust not reported: %d certs, %q", len(r.Chain), r.Trusted)
			}
			if !r.Has("MLST") || !r.Has("rest stream") || r.Has("REST") == false || r.Has("XYZ") {
				t.Errorf("features: %q", r.Features)
			}
			if r.ListCmd != "MLSD" || r.DataCmd != "EPSV" || r.Precision != "seconds (MLSD)" || r.Entries != len(files) /* dir/inner.txt counts as dir */ {
				t.Errorf("listing: %s via %s, %d entries (want %d), %q", r.ListCmd, r.DataCmd, r.Entries, len(files), r.Precision)
			}
			if r.Greeting == "" || !strings.HasPrefix(r.LoginReply, "230") || r.ClientCertAsked {
				t.Errorf("greeting %q, login %q, client cert asked %v", r.Greeting, r.LoginReply, r.ClientCertAsked)
			}
			if !strings.Contains(log.String(), "PASS ****") || strings.Contains(log.String(), srv.Opts.Password) {
				t.Errorf("debug log must mask PASS:\n%s", log.String())
			}
		}
	}
}

func TestProbeStopsAtAnUntrustedCertificate(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	before := srv.Logins()
	r, err := Probe(ctxT(t), probeConfig(srv, func(c *Config) { c.TLS.Fingerprints = nil }), "/")
	var ce *CertError
	if !errors.As(err, &ce) || ce.Problems&CertSelfSigned == 0 {
		t.Fatalf("got %v, want a self-signed CertError", err)
	}
	if len(r.Chain) != 1 || r.CertErr == nil || r.Trusted != "" || r.LoginReply != "" || srv.Logins() != before {
		t.Errorf("report: chain %d, certErr %v, trusted %q, login %q, logins %d", len(r.Chain), r.CertErr, r.Trusted, r.LoginReply, srv.Logins()-before)
	}

	r, err = Probe(ctxT(t), probeConfig(srv, func(c *Config) { c.TLS.Fingerprints = nil; c.TLS.Insecure = true }), "/")
	if err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if r.Unverified == nil || r.Unverified.Problems&CertSelfSigned == 0 || r.Trusted != "not verified (insecure)" {
		t.Errorf("insecure: unverified %v, trusted %q", r.Unverified, r.Trusted)
	}
}

func TestProbeFailuresMatchTheMount(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	plain, _ := startServer(t, testserver.EmbeddedOptions{NoTLS: true})
	cases := []struct {
		name string
		cfg  Config
		is   error
	}{
		{"wrong password", probeConfig(srv, func(c *Config) { c.Password = "nope-123" }), ErrLogin},
		{"plain server", probeConfig(srv, func(c *Config) { c.Port = plain.Port }), ErrNoTLS},
		{"missing start directory", probeConfig(srv, nil), nil},
	}
	for _, c := range cases {
		dir := "/"
		if c.is == nil {
			dir = "/nope"
		}
		_, err := Probe(ctxT(t), c.cfg, dir)
		p, _ := New(c.cfg)
		mountErr := p.Check(ctxT(t), dir)
		p.Close()
		if err == nil || mountErr == nil || err.Error() != mountErr.Error() {
			t.Errorf("%s: probe says %v, mount says %v", c.name, err, mountErr)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.name, err, c.is)
		}
		if strings.Contains(fmt.Sprint(err), "nope-123") {
			t.Errorf("%s: error shows the password", c.name)
		}
	}
}

func TestProbeClientCertificate(t *testing.T) {
	mustCert := keyPairs(t)
	ca, err := testserver.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	alice := mustCert(ca.Issue(testserver.CertSpec{Hosts: []string{"alice"}, Client: true}))
	certPath, keyPath, err := alice.WriteFiles(t.TempDir(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := startServer(t, testserver.EmbeddedOptions{ClientCAs: ca.Pool(), MaxTLS: tls.VersionTLS12})
	r, err := Probe(ctxT(t), probeConfig(srv, func(c *Config) { c.TLS.ClientCert, c.TLS.ClientKey = certPath, keyPath }), "/")
	if err != nil || !r.ClientCertAsked || r.ClientCert == nil || !r.DataResumed {
		t.Fatalf("with a client certificate: %v, asked %v, resumed %v", err, r.ClientCertAsked, r.DataResumed)
	}
	r, err = Probe(ctxT(t), probeConfig(srv, nil), "/")
	if !errors.Is(err, ErrHandshake) || !r.ClientCertAsked {
		t.Fatalf("without: %v, asked %v", err, r.ClientCertAsked)
	}
}

// fakeFTP is a plain FTP server that answers each command by its verb
// from replies (502 for the others; QUIT ends the session). admit, when
// set, is asked about each connection: a refusal is sent instead of the
// greeting, and done (when not nil) runs when an admitted session ends.
func fakeFTP(t *testing.T, replies map[string]string, admit func() (refusal string, done func())) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if admit != nil {
					refusal, done := admit()
					if refusal != "" {
						fmt.Fprint(c, refusal+"\r\n")
						return
					}
					if done != nil {
						defer done()
					}
				}
				fmt.Fprint(c, "220 ready\r\n")
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					cmd, _, _ := strings.Cut(sc.Text(), " ")
					if cmd == "QUIT" {
						fmt.Fprint(c, "221 bye\r\n")
						return
					}
					reply, ok := replies[cmd]
					if !ok {
						reply = "502 no"
					}
					fmt.Fprint(c, reply+"\r\n")
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// loginReplies log a client in and answer what a mount's login sends
// (TYPE I, NOOP) and CWD.
func loginReplies() map[string]string {
	return map[string]string{"USER": "331 password", "PASS": "230 ok", "TYPE": "200 ok", "NOOP": "200 ok", "CWD": "250 ok"}
}

// noNoopServer logs a client in and then refuses NOOP, which a mount's
// login sends to measure the round trip.
func noNoopServer(t *testing.T) int {
	replies := loginReplies()
	replies["NOOP"] = "500 NOOP not understood"
	return fakeFTP(t, replies, nil)
}

// Check reports on the mount's own login, not on a copy of it: a server
// that fails a step only the mount's login takes fails the probe with the
// mount's error. Before the probe used the pool's dialer, it logged in
// with its own client, which sent no NOOP, and failed later, elsewhere.
func TestProbeLogsInAsTheMountDoes(t *testing.T) {
	cfg := Config{Host: "127.0.0.1", Port: noNoopServer(t), User: "u", Password: "p", Mode: Plain}
	r, err := Probe(ctxT(t), cfg, "/")
	p, _ := New(cfg)
	mountErr := p.Check(ctxT(t), "/")
	p.Close()
	if err == nil || mountErr == nil || err.Error() != mountErr.Error() {
		t.Errorf("probe says %v, mount says %v", err, mountErr)
	}
	if r.Greeting != "ready" || r.LoginReply != "230 ok" {
		t.Errorf("greeting %q, login %q: the steps before the failure are reported", r.Greeting, r.LoginReply)
	}
}

// limitServer greets at most max clients at once and refuses the others
// with 421, as vsftpd's max_per_ip does.
func limitServer(t *testing.T, max int) int {
	var mu sync.Mutex
	open := 0
	return fakeFTP(t, loginReplies(), func() (string, func()) {
		mu.Lock()
		defer mu.Unlock()
		if open >= max {
			return "421 There are too many connections from your internet address.", nil
		}
		open++
		return "", func() { mu.Lock(); open--; mu.Unlock() }
	})
}

func TestProbeConnectionsFindsTheLimit(t *testing.T) {
	port := limitServer(t, 2)
	cfg := Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p", Mode: Plain}
	accepted, refusal := ProbeConnections(ctxT(t), cfg, 4)
	if accepted != 2 || !strings.HasPrefix(refusal, "421 There are too many") {
		t.Errorf("accepted %d, refusal %q; want 2 and the 421", accepted, refusal)
	}
	// The fake server counts a session closed only once it has handled its
	// QUIT, which may come just after ProbeConnections returns.
	deadline := time.Now().Add(3 * time.Second)
	for {
		accepted, refusal := ProbeConnections(ctxT(t), cfg, 2)
		if accepted == 2 && refusal == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("within the limit: accepted %d, refusal %q", accepted, refusal)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestListingPrecision(t *testing.T) {
	cases := []struct {
		mlsd, mdtm bool
		lines      []string
		entries    int
		want       string
	}{
		{true, false, []string{"type=cdir;modify=20240102030405; .", "type=file;modify=20240102030405;size=1; a"}, 1, "seconds (MLSD)"},
		{true, false, []string{"type=file;modify=20240102030405.123;size=1; a b"}, 1, "fractions of a second (MLSD)"},
		{true, false, []string{"type=file;size=1; a"}, 1, "unknown: MLSD gave no modify= times"},
		{false, true, []string{"total 8", "drwxr-xr-x 2 0 0 4096 Jan 02 03:04 .", "-rw-r--r-- 1 0 0 6 Jan 02 03:04 hello world.txt"}, 1,
			"minutes (LIST shows HH:MM, and only the day for files older than six months); MDTM gives seconds per file"},
		{false, false, []string{"-rw-r--r-- 1 0 0 6 Jan 02 03:04 new", "-rw-r--r-- 1 0 0 6 Jan 02  2019 old"}, 2, "; 1 of 2 entries here show only the day"},
		{false, false, []string{"01-02-06  03:04PM       <DIR>          dir", "01-02-06  03:04PM                  6 f.txt"}, 2, "minutes"},
	}
	for _, c := range cases {
		n, got := listingPrecision(c.mlsd, c.lines, c.mdtm)
		if n != c.entries || !strings.Contains(got, c.want) {
			t.Errorf("%q: %d entries, %q; want %d and %q", c.lines, n, got, c.entries, c.want)
		}
	}
}
