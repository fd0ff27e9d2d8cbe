package pool

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/faultproxy"
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

// TestBackgroundReadDoesNotJudgeTheServer: a read-ahead lane (background
// by its kind, its context carrying no class) whose stream stalls into its
// deadline says nothing a program waited for, and leaves the server's
// health alone; a program's read that does the same marks it unresponsive
// (the test's premise). Before, both did.
func TestBackgroundReadDoesNotJudgeTheServer(t *testing.T) {
	p, px, _, _ := behindProxy(t, nil)
	p.budget = 100 * time.Millisecond
	px.SetRate(0, 256<<10) // so that the socket buffers hold little of the file
	lane, prog := p.OpenLaneReader("/big.bin"), p.OpenReader("/big.bin")
	defer lane.Close()
	defer prog.Close()
	for _, r := range []*Reader{lane, prog} {
		if _, err := r.ReadAt(ctxT(t), make([]byte, 1000), 0); err != nil {
			t.Fatal(err)
		}
	}
	px.SetMode(faultproxy.Stall)
	defer px.SetMode(faultproxy.Pass)
	big := make([]byte, 2<<20) // more than the socket buffers hold at this rate
	if _, err := lane.ReadAt(ctxFor(t, 300*time.Millisecond), big, 1000); err == nil {
		t.Fatal("a lane's read of a stalled stream succeeded")
	}
	if p.unresponsive.Load() {
		t.Error("a lane's read that ran into its deadline marked the server unresponsive")
	}
	_, _ = prog.ReadAt(ctxFor(t, 300*time.Millisecond), big, 1000)
	if !p.unresponsive.Load() {
		t.Error("a program's read that ran into its deadline did not mark the server unresponsive (the test's premise)")
	}
}
