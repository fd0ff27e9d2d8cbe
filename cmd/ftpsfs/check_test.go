package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

func startCheckServer(t *testing.T, opts testserver.EmbeddedOptions) *testserver.Embedded {
	t.Helper()
	opts.Root = t.TempDir()
	if err := os.WriteFile(filepath.Join(opts.Root, "f.txt"), []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.RequireReuse = !opts.NoTLS
	opts.Password = "chk-Secret-42"
	srv, err := testserver.StartEmbedded(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("FTPSFS_PASSWORD", opts.Password)
	return srv
}

func runCheckCmd(t *testing.T, argv ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"check"}, argv...), &out, &errOut)
	if strings.Contains(out.String()+errOut.String(), "chk-Secret-42") {
		t.Errorf("check shows the password:\n%s\n%s", out.String(), errOut.String())
	}
	return code, out.String(), errOut.String()
}

func pinOf(kp *testserver.KeyPair) string {
	return "fingerprint=" + testserver.FingerprintOption(kp.Fingerprint)
}

func contains(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}
}

func TestCheckWorks(t *testing.T) {
	srv := startCheckServer(t, testserver.EmbeddedOptions{})
	url := "ftpes://test@" + srv.Addr + "/"
	code, out, errOut := runCheckCmd(t, url, "-o", pinOf(srv.Opts.Cert))
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	contains(t, out, "sha256  "+testserver.FingerprintOption(srv.Opts.Cert.Fingerprint),
		"data:         EPSV, TLS 1.3, session resumed: yes", "features:     MLSD yes", "times:        seconds (MLSD)",
		"recommended:  nothing beyond the options given", "mount with:   ftpsfs "+url+" MOUNTPOINT -o "+pinOf(srv.Opts.Cert),
		"result:       a mount would work")
	if errOut != "" {
		t.Errorf("stderr: %q", errOut)
	}
}

func TestCheckWrongPinOffersTheNewOne(t *testing.T) {
	srv := startCheckServer(t, testserver.EmbeddedOptions{Implicit: true})
	old, err := testserver.SelfSigned(testserver.CertSpec{})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCheckCmd(t, "ftps://test@"+srv.Addr+"/", "-o", pinOf(old))
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	contains(t, out, "verification: FAILED: its fingerprint does not match", "recommended:  -o "+pinOf(srv.Opts.Cert), "replacing the old pin",
		"result:       a mount would fail")
	if mount := out[strings.Index(out, "mount with:"):]; strings.Contains(mount, pinOf(old)) {
		t.Errorf("mount with keeps the old pin:\n%s", out)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "ftpsfs: ") {
		t.Errorf("stderr: want one line, got %q", errOut)
	}
}

func TestCheckExpiredOffersNoPin(t *testing.T) {
	past := time.Now().Add(-48 * time.Hour)
	cert, err := testserver.SelfSigned(testserver.CertSpec{NotAfter: past})
	if err != nil {
		t.Fatal(err)
	}
	srv := startCheckServer(t, testserver.EmbeddedOptions{Cert: cert})
	code, out, _ := runCheckCmd(t, "ftpes://test@"+srv.Addr+"/")
	if code != exitFailure {
		t.Errorf("exit %d", code)
	}
	contains(t, out, "FAILED: signed by an unknown authority: it is self-signed; expired on", "no option makes an expired")
	if strings.Contains(out, "-o fingerprint=") {
		t.Errorf("offers a pin for an expired certificate (the pin would not accept it):\n%s", out)
	}
}

func TestCheckPlainFTP(t *testing.T) {
	srv := startCheckServer(t, testserver.EmbeddedOptions{NoTLS: true})
	code, out, errOut := runCheckCmd(t, "ftp://test@"+srv.Addr+"/", "-o", "tls=none")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	contains(t, out, "security:     plain FTP (tls=none)", "data:         EPSV\n", "MOUNTPOINT -o tls=none")
	contains(t, errOut, "warning: tls=none")
	if strings.Contains(out, "certificate:") || strings.Contains(out, "session resumed") {
		t.Errorf("TLS details for plain FTP:\n%s", out)
	}
}

func TestCheckPasswordInURL(t *testing.T) {
	srv := startCheckServer(t, testserver.EmbeddedOptions{})
	t.Setenv("FTPSFS_PASSWORD", "")
	code, out, errOut := runCheckCmd(t, "ftpes://test:chk-Secret-42@"+srv.Addr+"/", "-o", pinOf(srv.Opts.Cert))
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	contains(t, out, "password from url", "mount with:   ftpsfs ftpes://test@"+srv.Addr+"/ MOUNTPOINT", "in password_file=, not the URL")
	contains(t, errOut, "warning: password in the URL")
}

func TestCheckClientCertificate(t *testing.T) {
	ca, err := testserver.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ca.Issue(testserver.CertSpec{Hosts: []string{"alice"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := alice.WriteFiles(t.TempDir(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	srv := startCheckServer(t, testserver.EmbeddedOptions{ClientCAs: ca.Pool()})
	url := "ftpes://test@" + srv.Addr + "/"
	code, out, errOut := runCheckCmd(t, url, "-o", pinOf(srv.Opts.Cert)+",client_cert="+certPath+",client_key="+keyPath)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	contains(t, out, "client cert:  asked for; sent CN=alice", "client_cert="+certPath+",client_key="+keyPath)
	code, _, errOut = runCheckCmd(t, url, "-o", pinOf(srv.Opts.Cert))
	if code != exitFailure || !strings.Contains(errOut, "requires a client certificate") {
		t.Errorf("without a client certificate: exit %d, %q", code, errOut)
	}
}

// The "mount with:" line keeps every option given, password_file= first
// among them: pasting it must mount.
func TestCheckMountWithKeepsTheOptionsGiven(t *testing.T) {
	srv := startCheckServer(t, testserver.EmbeddedOptions{})
	t.Setenv("FTPSFS_PASSWORD", "")
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(srv.Opts.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "ftpes://test@" + srv.Addr + "/"
	code, out, errOut := runCheckCmd(t, url, "-o", "password_file="+pw+","+pinOf(srv.Opts.Cert), "-o", "ro,cache-size=64M,uid=0")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	contains(t, out, "mount with:   ftpsfs "+url+" MOUNTPOINT -o password_file="+pw+","+pinOf(srv.Opts.Cert)+",ro,cache-size=64M,uid=0\n")
}

func TestCheckFailedLoginRecommendsNothing(t *testing.T) {
	srv := startCheckServer(t, testserver.EmbeddedOptions{})
	t.Setenv("FTPSFS_PASSWORD", "wrong-password")
	code, out, errOut := runCheckCmd(t, "ftpes://test@"+srv.Addr+"/", "-o", pinOf(srv.Opts.Cert))
	if code != exitFailure || !strings.Contains(errOut, "530") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, "nothing beyond the options given") {
		t.Errorf("a failed login says the options given are enough:\n%s", out)
	}
	contains(t, out, "result:       a mount would fail")
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"ftpes://a@h:21/pub":     "ftpes://a@h:21/pub",
		"password_file=/a b":     "'password_file=/a b'",
		"ftpes://a@[::1]:2121/":  "'ftpes://a@[::1]:2121/'",
		"it's":                   `'it'\''s'`,
		"~/x":                    "'~/x'",
		"password_file=~/.ftp-p": "password_file=~/.ftp-p",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
