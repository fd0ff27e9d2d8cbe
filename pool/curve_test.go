package pool

import (
	"bytes"
	"crypto/tls"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// TestDataConnectionsOfferTheControlCurve: against a server that accepts
// only P-256, as vsftpd does, data connections offer a P-256 key share at
// once instead of being asked again (HelloRetryRequest: one more round
// trip for every transfer), and still work.
func TestDataConnectionsOfferTheControlCurve(t *testing.T) {
	for name, v := range tlsVersions {
		t.Run(name, func(t *testing.T) {
			srv, files := startServer(t, testserver.EmbeddedOptions{Curves: []tls.CurveID{tls.CurveP256}, MaxTLS: v})
			p := newPool(t, srv, nil)
			for _, off := range []int64{0, 2 << 20} {
				r := p.OpenReader("/big.bin")
				buf := make([]byte, 4096)
				if n, err := r.ReadAt(ctxT(t), buf, off); err != nil || !bytes.Equal(buf[:n], files["big.bin"][off:off+4096]) {
					t.Fatalf("ReadAt(%d): %d bytes, %v, or wrong content", off, n, err)
				}
				_ = r.Close()
			}
			if _, err := p.List(ctxT(t), "/dir"); err != nil {
				t.Fatal(err)
			}
			if got := p.Metrics.DataConns.Load(); got < 3 {
				t.Fatalf("%d data connections, want at least 3", got)
			}
			if got := p.Metrics.HelloRetries.Load(); got != 0 {
				t.Errorf("%d of %d data connections needed a HelloRetryRequest", got, p.Metrics.DataConns.Load())
			}
			if got := p.Metrics.ResumeMisses.Load(); got != 0 {
				t.Errorf("%d data connections did not resume the control connection's session", got)
			}
		})
	}
}
