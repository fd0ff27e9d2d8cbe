package pool

import (
	"strings"
	"testing"
)

// REVIEW: probeTranscript sees the raw byte stream (jlaffaye's debug tee),
// not replies as textproto framed them. A server whose reply to USER is
// followed, in the same read, by the start of a multi-line reply puts the
// transcript in multi-line mode before the client writes PASS; the PASS
// line is then collected as a continuation line and ends up in
// LoginReply, which check prints ("login:") in a report meant to be pasted
// into bug reports.
func TestReviewProbeReportNeverHoldsThePassword(t *testing.T) {
	replies := loginReplies()
	replies["USER"] = "331 password please\r\n230-welcome"
	replies["PASS"] = "230 logged in"
	const pw = "Review-Secret-77"
	cfg := Config{Host: "127.0.0.1", Port: fakeFTP(t, replies, nil), User: "u", Password: pw, Mode: Plain}
	r, _ := Probe(ctxT(t), cfg, "/")
	for name, v := range map[string]string{"LoginReply": r.LoginReply, "Greeting": r.Greeting, "Features": strings.Join(r.Features, "\n")} {
		if strings.Contains(v, pw) {
			t.Errorf("report field %s holds the password: %q", name, v)
		}
	}
}
