package e2e

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// trustSpec is one server for the certificate and TLS tests.
type trustSpec struct {
	cert     *testserver.KeyPair // nil: self-signed for 127.0.0.1, ::1, localhost
	clientCA *testserver.CA      // require client certificates issued by it
	noTLS    bool
	implicit bool
	tls13    bool              // refuse TLS 1.2
	extra    map[string]string // vsftpd.conf settings
}

// trustServer is a running server of one kind serving hello.txt.
type trustServer struct {
	Addr, Port, User, Pass string
	Cert                   *testserver.KeyPair
	Log                    func() string
}

func (s *trustServer) url(host string) string {
	return fmt.Sprintf("ftpes://%s@%s:%s/", s.User, host, s.Port)
}

func (s *trustServer) env() []string { return []string{"FTPSFS_PASSWORD=" + s.Pass} }

func (s *trustServer) pin() string {
	return "fingerprint=" + testserver.FingerprintOption(s.Cert.Fingerprint)
}

var trustKinds = []string{"vsftpd", "embedded"}

func startTrust(t *testing.T, kind string, spec trustSpec) *trustServer {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if kind == "embedded" {
		opts := testserver.EmbeddedOptions{Root: root, Cert: spec.cert, NoTLS: spec.noTLS, Implicit: spec.implicit,
			RequireReuse: !spec.noTLS, Password: "emb-Pw-7731"}
		if spec.clientCA != nil {
			opts.ClientCAs = spec.clientCA.Pool()
		}
		if spec.tls13 {
			opts.MinTLS = tls.VersionTLS13
		}
		srv, err := testserver.StartEmbedded(opts)
		if err != nil {
			t.Fatalf("embedded server: %v", err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		_, port, _ := strings.Cut(srv.Addr, ":")
		return &trustServer{Addr: srv.Addr, Port: port, User: srv.Opts.User, Pass: srv.Opts.Password, Cert: srv.Opts.Cert,
			Log: func() string { return "" }}
	}
	if spec.tls13 {
		// Debian's vsftpd 3.0.3 has no TLS version switches; OpenSSL's own
		// configuration, read at start, sets the floor.
		conf := filepath.Join(t.TempDir(), "openssl.cnf")
		text := "openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nMinProtocol = TLSv1.3\n"
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("OPENSSL_CONF", conf)
	}
	v := runVsftpd(t, testserver.VsftpdOptions{Root: root, Cert: spec.cert, ClientCA: spec.clientCA,
		NoTLS: spec.noTLS, Implicit: spec.implicit, Extra: spec.extra})
	_, port, _ := strings.Cut(v.Addr, ":")
	return &trustServer{Addr: v.Addr, Port: port, User: v.User, Pass: v.Password, Cert: v.Cert, Log: v.Log}
}

// mountAndRead mounts with opts, reads hello.txt through the mount, and
// unmounts.
func mountAndRead(t *testing.T, url string, env []string, opts ...string) *mounted {
	t.Helper()
	m := mountForeground(t, url, env, opts...)
	if got, err := os.ReadFile(filepath.Join(m.Dir, "hello.txt")); err != nil || string(got) != "hello\n" {
		t.Fatalf("read through the mount: %q %v", got, err)
	}
	m.unmount(t)
	return m
}

// TestServerCertificates: a CA-issued certificate with cafile=, a name
// mismatch, a self-signed certificate refused by default and accepted by its
// pin, a wrong pin, and expired certificates, against both servers.
func TestServerCertificates(t *testing.T) {
	requireFUSE(t)
	ca, err := testserver.NewCA("ftpsfs test CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, _, err := ca.WriteFiles(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	forLocalhost, err := ca.Issue(testserver.CertSpec{Hosts: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	expiredSelf, err := testserver.SelfSigned(testserver.CertSpec{NotBefore: past.Add(-24 * time.Hour), NotAfter: past})
	if err != nil {
		t.Fatal(err)
	}
	expiredCA, err := ca.Issue(testserver.CertSpec{NotBefore: past.Add(-24 * time.Hour), NotAfter: past})
	if err != nil {
		t.Fatal(err)
	}
	other, err := testserver.SelfSigned(testserver.CertSpec{})
	if err != nil {
		t.Fatal(err)
	}
	otherPin := "fingerprint=" + testserver.FingerprintOption(other.Fingerprint)
	mnt := t.TempDir()

	for _, kind := range trustKinds {
		t.Run(kind, func(t *testing.T) {
			t.Run("CA-issued with cafile", func(t *testing.T) {
				s := startTrust(t, kind, trustSpec{cert: forLocalhost})
				mountAndRead(t, s.url("localhost"), s.env(), "cafile="+caFile)
				expectFailure(t, 1, []string{"unknown authority", `its issuer "CN=ftpsfs test CA`, "not in the system roots"},
					s.env(), s.url("localhost"), mnt)
				// The name is checked too: the certificate is for localhost only.
				expectFailure(t, 1, []string{"issued for localhost, not for 127.0.0.1"}, s.env(), s.url("127.0.0.1"), mnt, "-o", "cafile="+caFile)
			})
			t.Run("self-signed", func(t *testing.T) {
				s := startTrust(t, kind, trustSpec{})
				expectFailure(t, 1, []string{"it is self-signed", "-o " + s.pin()}, s.env(), s.url("127.0.0.1"), mnt)
				mountAndRead(t, s.url("127.0.0.1"), s.env(), s.pin())
				// Several pins: any one matching is enough; a wrong one alone is refused.
				mountAndRead(t, s.url("127.0.0.1"), s.env(), otherPin, s.pin())
				expectFailure(t, 1, []string{"does not match the pinned fingerprint", "pin the new one with -o " + s.pin()},
					s.env(), s.url("127.0.0.1"), mnt, "-o", otherPin)
			})
			t.Run("expired", func(t *testing.T) {
				s := startTrust(t, kind, trustSpec{cert: expiredSelf})
				expectFailure(t, 1, []string{"it is self-signed", "expired on " + past.UTC().Format(time.DateOnly)}, s.env(), s.url("127.0.0.1"), mnt)
				expectFailure(t, 1, []string{"pinned certificate expired on"}, s.env(), s.url("127.0.0.1"), mnt, "-o", s.pin())
				s2 := startTrust(t, kind, trustSpec{cert: expiredCA})
				msg := expectFailure(t, 1, []string{"not trusted: expired on"}, s2.env(), s2.url("127.0.0.1"), mnt, "-o", "cafile="+caFile)
				if strings.Contains(msg, "add -o fingerprint") {
					t.Errorf("an expired certificate must not be offered a pin (a pin would not accept it): %s", msg)
				}
			})
		})
	}
}

// TestClientCertificates: a server that requires a client certificate
// accepts the mount with client_cert= (and client_key=, or one combined PEM
// file), on control and data connections, and refuses it without.
func TestClientCertificates(t *testing.T) {
	requireFUSE(t)
	ca, err := testserver.NewCA("ftpsfs client CA")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(testserver.CertSpec{Hosts: []string{"alice"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath, err := client.WriteFiles(dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	combined := filepath.Join(dir, "alice.pem")
	if err := os.WriteFile(combined, client.CombinedPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	stranger, err := testserver.SelfSigned(testserver.CertSpec{Hosts: []string{"mallory"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey, err := stranger.WriteFiles(dir, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	for _, kind := range trustKinds {
		t.Run(kind, func(t *testing.T) {
			s := startTrust(t, kind, trustSpec{clientCA: ca})
			url := s.url("127.0.0.1")
			mountAndRead(t, url, s.env(), s.pin(), "client_cert="+certPath, "client_key="+keyPath)
			mountAndRead(t, url, s.env(), s.pin(), "client_cert="+combined)
			expectFailure(t, 1, []string{"TLS handshake failed", "client certificate", "client_cert="}, s.env(), url, mnt, "-o", s.pin())
			expectFailure(t, 1, []string{"TLS handshake failed", "did not accept the client certificate " + strangerCert},
				s.env(), url, mnt, "-o", s.pin()+",client_cert="+strangerCert+",client_key="+strangerKey)
		})
	}
	t.Run("unreadable or incomplete files", func(t *testing.T) {
		env := []string{"FTPSFS_PASSWORD=x"}
		url := "ftpes://u@127.0.0.1:1/"
		expectFailure(t, 1, []string{"client_cert " + certPath + " holds no private key", "client_key="}, env, url, mnt, "-o", "client_cert="+certPath)
		expectFailure(t, 1, []string{"cannot read client_key", "no such file"}, env, url, mnt, "-o", "client_cert="+certPath+",client_key="+dir+"/nope.key")
	})
}

// TestTLSVersions: tls_max=1.2 against a server that requires TLS 1.3 fails
// with what to change; without it the mount works over TLS 1.3; TLS below
// 1.2 cannot even be asked for.
func TestTLSVersions(t *testing.T) {
	requireFUSE(t)
	mnt := t.TempDir()
	for _, kind := range trustKinds {
		t.Run(kind, func(t *testing.T) {
			s := startTrust(t, kind, trustSpec{tls13: true})
			url := s.url("127.0.0.1")
			expectFailure(t, 1, []string{"TLS handshake failed", "TLS 1.2 only", "remove tls_max=1.2"}, s.env(), url, mnt, "-o", s.pin()+",tls_max=1.2")
			mountAndRead(t, url, s.env(), s.pin(), "tls_min=1.3")
		})
	}
	expectFailure(t, 2, []string{"TLS below 1.2 is not supported"}, nil, "ftpes://u@127.0.0.1:1/", mnt, "-o", "tls_min=1.1")
}

// TestServerWithoutTLS: a server that answers AUTH TLS with an error fails
// the mount (explicit and implicit URLs) unless tls=none is written.
func TestServerWithoutTLS(t *testing.T) {
	requireFUSE(t)
	mnt := t.TempDir()
	for _, kind := range trustKinds {
		t.Run(kind, func(t *testing.T) {
			s := startTrust(t, kind, trustSpec{noTLS: true})
			expectFailure(t, 1, []string{"server refused TLS", "answered AUTH TLS with 5", "tls=none"}, s.env(), s.url("127.0.0.1"), mnt)
			expectFailure(t, 1, []string{"server refused TLS", "did not answer with TLS"}, s.env(), "ftps://"+s.User+"@"+s.Addr+"/", mnt)
			m := mountAndRead(t, "ftp://"+s.User+"@"+s.Addr+"/", s.env(), "tls=none")
			if !strings.Contains(m.logs.String(), "warning: tls=none: plain FTP") {
				t.Errorf("no plain-FTP warning:\n%s", m.logs)
			}
		})
	}
}

// TestInsecureWarnsOnEveryMount: insecure mounts a self-signed server, and
// every mount says that verification is off, in the foreground and from the
// command that daemonizes.
func TestInsecureWarnsOnEveryMount(t *testing.T) {
	requireFUSE(t)
	s := startTrust(t, "embedded", trustSpec{})
	url := s.url("127.0.0.1")
	for i := 0; i < 2; i++ {
		m := mountAndRead(t, url, s.env(), "insecure")
		if !strings.Contains(m.logs.String(), "warning: insecure: certificate verification is disabled") {
			t.Errorf("foreground mount %d: no insecure warning:\n%s", i, m.logs)
		}
	}
	mnt := t.TempDir()
	code, stderr, _ := runFtpsfs(t, s.env(), url, mnt, "-o", "insecure")
	if code != 0 {
		t.Fatalf("daemon mount with insecure: exit %d: %s", code, stderr)
	}
	pid := daemonPID(t, mnt)
	run(t, "umount", mnt)
	if pid > 0 && !waitGone(pid, 10*time.Second) {
		t.Errorf("background process %d still running after umount", pid)
	}
	if !strings.Contains(stderr, "warning: insecure: certificate verification is disabled") {
		t.Errorf("daemon mount: no insecure warning: %q", stderr)
	}
}

// TestSecretsStayHidden mounts vsftpd in the background with a password
// file and debug logging: ps, /proc/mounts and the debug log never show the
// password; a password file others can read is refused with the fix.
// (TestDaemonMountAndUmount checks the same against the embedded server.)
func TestSecretsStayHidden(t *testing.T) {
	requireFUSE(t)
	s := startTrust(t, "vsftpd", trustSpec{})
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(s.Pass+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	logFile := filepath.Join(dir, "log")
	url := s.url("127.0.0.1")
	msg := expectFailure(t, 2, []string{"readable by others", "chmod 600 " + pwFile}, nil, url, mnt, "-o", s.pin()+",password_file="+pwFile)
	if strings.Contains(msg, s.Pass) {
		t.Errorf("message shows the password: %s", msg)
	}
	if err := os.Chmod(pwFile, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr, _ := runFtpsfs(t, nil, url, mnt, "-o", s.pin()+",password_file="+pwFile+",debug,log_file="+logFile)
	if code != 0 {
		t.Fatalf("mount: exit %d: %s", code, stderr)
	}
	pid := daemonPID(t, mnt)
	t.Cleanup(func() {
		if isMounted(mnt) {
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	if got := run(t, "cat", filepath.Join(mnt, "hello.txt")); got != "hello\n" {
		t.Errorf("cat: %q", got)
	}
	ps := run(t, "ps", "-eww", "-o", "pid,args")
	mounts := readFile(t, "/proc/mounts")
	log := readFile(t, logFile)
	for what, text := range map[string]string{"ps": ps, "/proc/mounts": mounts, "debug log": log, "stderr": stderr} {
		if strings.Contains(text, s.Pass) {
			t.Errorf("%s contains the password", what)
		}
	}
	if !strings.Contains(log, "PASS ****") {
		t.Errorf("debug log does not show the masked PASS command:\n%s", tail(log, 20))
	}
	if !strings.Contains(ps, mnt) {
		t.Errorf("ps does not list the mount process (the check above proves nothing):\n%s", ps)
	}
	run(t, "umount", mnt)
	if pid > 0 && !waitGone(pid, 10*time.Second) {
		t.Errorf("background process %d still running after umount", pid)
	}
}
