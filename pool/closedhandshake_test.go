package pool

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// Under TLS 1.3 a server that wants (or refuses) the client certificate
// closes after the client's side of the handshake; the RST discards its
// alert, so login fails with a reset: the message still names the likely
// cause (TestClientCertificates/vsftpd failed 1 run in ~10 on this).
func TestResetAfterHandshakeNamesTheClientCertificate(t *testing.T) {
	reset := fmt.Errorf("write tcp 127.0.0.1:1->127.0.0.1:2: %w", syscall.ECONNRESET)
	err := closedAfterHandshake(reset, Config{Mode: Explicit})
	for _, want := range []string{"TLS handshake failed", "client certificate", "client_cert="} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without a client certificate: %v, want it to say %q", err, want)
		}
	}
	err = closedAfterHandshake(reset, Config{Mode: Explicit, TLS: TLSOptions{ClientCert: "/c.pem"}})
	if err == nil || !strings.Contains(err.Error(), "did not accept the client certificate /c.pem") {
		t.Errorf("with a client certificate: %v", err)
	}
	if err := closedAfterHandshake(reset, Config{Mode: Plain}); err != nil {
		t.Errorf("plain FTP: %v, want nil", err)
	}
}
