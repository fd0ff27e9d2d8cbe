package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// runCheck runs `ftpsfs check ARGS` and returns its exit status, stdout and
// stderr.
func runCheck(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"check"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ftpsfs check %v hung", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func wantLines(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// TestCheckVsftpd: `ftpsfs check` against vsftpd prints the chain with its
// fingerprint, the session-reuse result, FEAT and the listing's precision,
// exits 0, and never shows the password, not even in its -d trace.
func TestCheckVsftpd(t *testing.T) {
	s := startTrust(t, "vsftpd", trustSpec{})
	fp := testserver.FingerprintOption(s.Cert.Fingerprint)
	code, out, errOut := runCheck(t, s.env(), s.url("127.0.0.1"), "-o", s.pin(), "-d")
	if code != 0 {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("ftpsfs check output:\n%s", out)
	wantLines(t, "check output", out,
		"security:     explicit TLS (AUTH TLS), TLS 1.3, TLS_",
		"sha256  "+fp,
		"verification: ok: matches a pinned fingerprint",
		"greeting:     220 (vsFTPd 3.0.3)",
		`login:        ok as "`+s.User+`"`,
		"MLSD no, MLST no, MFMT no, MDTM yes, SIZE yes, REST STREAM yes, EPSV yes, UTF8 no",
		"FEAT:         AUTH TLS, EPRT, EPSV, MDTM, PASV, PBSZ, PROT, REST STREAM, SIZE, TVFS",
		"data:         EPSV, TLS 1.3, session resumed: yes",
		"listing:      LIST -a of /: 1 entry",
		"times:        minutes (LIST shows HH:MM, and only the day for files older than six months); MDTM gives seconds per file",
		"mount path:   ok",
		"connections:  8 at once: accepted",
		"result:       a mount would work")
	wantLines(t, "check -d trace", errOut, "PASS ****", "AUTH TLS", "LIST -a")
	for what, text := range map[string]string{"stdout": out, "stderr": errOut} {
		if strings.Contains(text, s.Pass) {
			t.Errorf("check %s shows the password", what)
		}
	}

	// TLS 1.2 is reported as such, and its session resumed too.
	code, out, _ = runCheck(t, s.env(), s.url("127.0.0.1"), "-o", s.pin()+",tls_max=1.2")
	if code != 0 {
		t.Fatalf("check tls_max=1.2: exit %d\n%s", code, out)
	}
	wantLines(t, "check output", out, "TLS 1.2, TLS_ECDHE_", "data:         EPSV, TLS 1.2, session resumed: yes")
}

// TestCheckRecommends: for a self-signed certificate check prints the chain
// and the pin to add, and fails; for a server that limits connections per
// address it recommends connections=; for a server that needs TLS 1.3 it
// recommends tls_max=1.3 over tls_max=1.2; for insecure it offers the pin.
func TestCheckRecommends(t *testing.T) {
	t.Run("self-signed", func(t *testing.T) {
		s := startTrust(t, "vsftpd", trustSpec{implicit: true})
		url := "ftps://" + s.User + "@" + s.Addr + "/"
		code, out, errOut := runCheck(t, s.env(), url)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		wantLines(t, "check output", out, "security:     implicit TLS, TLS 1.3", "(self-signed)",
			"sha256  "+testserver.FingerprintOption(s.Cert.Fingerprint),
			"verification: FAILED: signed by an unknown authority: it is self-signed",
			"recommended:  -o "+s.pin(), "mount with:   ftpsfs "+url+" MOUNTPOINT -o "+s.pin(),
			"result:       a mount would fail")
		if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || !strings.Contains(errOut, "ftpsfs: ") || !strings.Contains(errOut, "not trusted") {
			t.Errorf("stderr: want one ftpsfs: line with the reason, got %q", errOut)
		}
		if strings.Contains(out, "login:") {
			t.Errorf("check logged in to a server it does not trust:\n%s", out)
		}
	})
	t.Run("connection limit", func(t *testing.T) {
		s := startTrust(t, "vsftpd", trustSpec{extra: map[string]string{"max_per_ip": "2"}})
		code, out, errOut := runCheck(t, s.env(), s.url("127.0.0.1"), "-o", s.pin())
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		wantLines(t, "check output", out, "connections:  the server accepted 2 of 8 at once (421 ", "-o connections=2",
			"MOUNTPOINT -o "+s.pin()+",connections=2")
	})
	t.Run("TLS 1.3 only", func(t *testing.T) {
		s := startTrust(t, "embedded", trustSpec{tls13: true})
		code, out, errOut := runCheck(t, s.env(), s.url("127.0.0.1"), "-o", s.pin()+",tls_max=1.2")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		wantLines(t, "check output", out, "recommended:  -o tls_max=1.3", "MOUNTPOINT -o "+s.pin()+",tls_max=1.3")
		wantLines(t, "check stderr", errOut, "remove tls_max=1.2")
	})
	t.Run("insecure", func(t *testing.T) {
		s := startTrust(t, "embedded", trustSpec{})
		code, out, errOut := runCheck(t, s.env(), s.url("127.0.0.1"), "-o", "insecure")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		wantLines(t, "check output", out, "verification: skipped (insecure); it would fail: signed by an unknown authority",
			"recommended:  -o "+s.pin(), "instead of insecure", "MLSD yes", "times:        seconds (MLSD)",
			"data:         EPSV, TLS 1.3, session resumed: yes")
		wantLines(t, "check stderr", errOut, "warning: insecure")
	})
}

// TestCheckReportsChmodAndFreeSpace: check says whether SITE CHMOD works
// (recommending chmod=ignore where it does not) and whether df can show
// the server's free space, and leaves no probe file behind.
func TestCheckReportsChmodAndFreeSpace(t *testing.T) {
	root := t.TempDir()
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetFault(testserver.FaultDenyChmod)
	pin := "fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)
	code, out, errOut := runCheck(t, []string{"FTPSFS_PASSWORD=secret"}, "ftpes://test@"+srv.Addr+"/", "-o", pin)
	if code != 0 {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	wantLines(t, "check output", out, "refuses SITE CHMOD", "chmod=ignore", "(AVBL): df shows it")

	s := startTrust(t, "vsftpd", trustSpec{})
	code, out, errOut = runCheck(t, s.env(), s.url("127.0.0.1"), "-o", s.pin())
	if code != 0 {
		t.Fatalf("check vsftpd: exit %d\n%s\n%s", code, out, errOut)
	}
	wantLines(t, "check output (vsftpd)", out, "ok: SITE CHMOD works", "no AVBL")
	if strings.Contains(out, "chmod=ignore") {
		t.Errorf("check recommends chmod=ignore for vsftpd, whose SITE CHMOD works:\n%s", out)
	}
	noTemporaries(t, root)
}
