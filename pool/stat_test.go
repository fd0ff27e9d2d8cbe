package pool

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// On a LIST server (no MLST), a Stat of a missing path (what every Create
// asks) is counted as a broken connection: the connection is discarded and
// the Stat retried on a freshly dialled one.
func TestStatOfMissingPathKeepsConnection(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{ListOnly: true})
	p := newPool(t, srv, nil)
	if _, err := p.Stat(ctxT(t), "/one"); err != nil {
		t.Fatal(err)
	}
	dials, retries := p.Metrics.Dials.Load(), p.Metrics.Retries.Load()
	for i := 0; i < 5; i++ {
		_, err := p.Stat(ctxT(t), "/missing")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat missing: %v", err)
		}
	}
	t.Logf("5 Stats of a missing file: %d new dials, %d retries", p.Metrics.Dials.Load()-dials, p.Metrics.Retries.Load()-retries)
	if p.Metrics.Retries.Load() != retries {
		t.Errorf("a clean 550 reply was treated as a broken connection")
	}
}
