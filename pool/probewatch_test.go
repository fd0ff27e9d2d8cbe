package pool

import (
	"strings"
	"testing"
)

// A server whose reply to USER is followed, in the same read, by the start
// of a multi-line reply puts the transcript inside that reply before the
// client writes PASS: the PASS line is the client's, never a continuation
// line of the login reply, which check prints in a report meant to be
// pasted into bug reports.
func TestProbeReportNeverHoldsThePassword(t *testing.T) {
	replies := loginReplies()
	replies["USER"] = "331 password please\r\n230-welcome"
	replies["PASS"] = "230 logged in"
	const pw = "Review-Secret-77"
	cfg := Config{Host: "127.0.0.1", Port: fakeFTP(t, replies, nil), User: "u", Password: pw, Mode: Plain}
	r, _ := Probe(ctxT(t), cfg, "/")
	for name, v := range map[string]string{"LoginReply": r.LoginReply, "Greeting": r.Greeting, "Features": strings.Join(r.Features, "\n")} {
		if strings.Contains(v, pw) || strings.Contains(v, "PASS") {
			t.Errorf("report field %s holds the client's PASS line: %q", name, v)
		}
	}
	if want := "230 welcome logged in"; r.LoginReply != want {
		t.Errorf("LoginReply %q, want %q", r.LoginReply, want)
	}
}

// A server that repeats the password in a reply (a misconfigured banner,
// an echo) does not put it in the report either.
func TestProbeReportMasksAnEchoedPassword(t *testing.T) {
	const pw = "Echo-Secret-78"
	replies := loginReplies()
	replies["PASS"] = "230 welcome, your password " + pw + " is weak"
	cfg := Config{Host: "127.0.0.1", Port: fakeFTP(t, replies, nil), User: "u", Password: pw, Mode: Plain}
	r, _ := Probe(ctxT(t), cfg, "/")
	if strings.Contains(r.LoginReply, pw) {
		t.Errorf("LoginReply holds the password: %q", r.LoginReply)
	}
	if !strings.Contains(r.LoginReply, "230 welcome") {
		t.Errorf("LoginReply %q: the reply itself should stay", r.LoginReply)
	}
}
