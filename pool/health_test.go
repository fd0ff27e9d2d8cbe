package pool

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// TestBackgroundDialDoesNotJudgeTheServer: background work does not
// judge the server's health (see run), its dials included: a prefetch whose
// login outlasts its deadline must not put the whole mount on short waits.
// Before, get noted an abandoned dial as a stall (and a dial's timeout) for
// any class.
func TestBackgroundDialDoesNotJudgeTheServer(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.greet = func(w net.Conn) error { // a greeting that never comes
			_, _ = io.Copy(io.Discard, w)
			return errors.New("closed")
		}
	})
	p := h.pool(nil)
	p.budget = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(priority.Background(context.Background()), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Stat(ctx, "/x"); err == nil {
		t.Fatal("Stat on a server that never greets succeeded")
	}
	if p.unresponsive.Load() {
		t.Error("a background Stat whose dial ran into its deadline marked the server unresponsive")
	}
}
