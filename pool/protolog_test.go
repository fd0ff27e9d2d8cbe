package pool

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// Two connections' conversations, interleaved, each line tagged with its
// own connection id; PASS masked; a line split across writes logged once.
func TestProtocolLogTagsEachConnection(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, b := newProtocolLog(log, "h:21"), newProtocolLog(log, "h:21")
	_, _ = a.Write([]byte("USER alice\r\nPA"))
	_, _ = b.Write([]byte("USER bob\r\n"))
	_, _ = a.Write([]byte("SS s3cret\r\n"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %q", out.String())
	}
	id := regexp.MustCompile(`conn=(\d+) `)
	ids := make([]string, len(lines))
	for i, l := range lines {
		m := id.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line without conn=: %q", l)
		}
		ids[i] = m[1]
	}
	if ids[0] != ids[2] || ids[0] == ids[1] {
		t.Errorf("ids %v: want the first and last (one connection) equal and the middle different", ids)
	}
	if strings.Contains(out.String(), "s3cret") || !strings.Contains(lines[2], `line="PASS ****"`) {
		t.Errorf("PASS not masked: %q", lines[2])
	}
}
