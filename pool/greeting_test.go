package pool

import (
	"strings"
	"testing"
)

func TestGreetingSnifferKnowsVsftpd(t *testing.T) {
	for _, tc := range []struct {
		chunks []string
		want   bool
	}{
		{[]string{"220 (vsFTPd 3.0.3)\r\n", "AUTH TLS\r\n"}, true},
		{[]string{"220 (vsF", "TPd 3.0.5)\r\n234 Proceed"}, true},
		{[]string{"220 (vsFTPd 2.3.5)\r\n"}, false}, // 2.x closes without reading it
		{[]string{"220 (vsFTPd x)\r\n"}, false},
		{[]string{"220 ftpsfs test server ready\r\n"}, false},
		{[]string{"220 ProFTPD Server\r\n", "220 (vsFTPd 3.0.3)\r\n"}, false}, // only the first line counts
		{[]string{"220-Welcome\r\n220 (vsFTPd 3.0.3)\r\n"}, false},
		{[]string{strings.Repeat("x", 10000)}, false},
	} {
		g := &greetingSniffer{}
		for _, c := range tc.chunks {
			if n, err := g.Write([]byte(c)); n != len(c) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", c, n, err)
			}
		}
		if got := g.vsftpd(); got != tc.want {
			t.Errorf("%q: vsftpd() = %v, want %v", tc.chunks, got, tc.want)
		}
		if len(g.line) > maxGreetingBytes {
			t.Errorf("kept %d bytes of the greeting", len(g.line))
		}
	}
}
