package pool

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// A prefetched listing the server drips: when it turns slow it is dropped
// (ErrPreempted) rather than taking a slow slot that a program's own slow
// listing needs, and neither its slowness nor running into its deadline
// puts the mount on the short waits of an unresponsive server. Before, it
// took a slot like any listing, and its deadline set unresponsive.
func TestBackgroundListingTurningSlowIsDropped(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.list = func(dir string, w net.Conn) error {
			if strings.HasPrefix(dir, "/drip") {
				return endless(100*time.Millisecond)(dir, w)
			}
			return listLine(w, 0)
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = 4 })
	p.slowAfter = 200 * time.Millisecond

	ctx, cancel := context.WithTimeout(priority.Background(context.Background()), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := p.List(ctx, "/drip")
	if !errors.Is(err, ErrPreempted) {
		t.Fatalf("background dripping listing: %v, want ErrPreempted", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the background listing was dropped after %v, not when it turned slow", took)
	}
	p.mu.Lock()
	slow := p.slowListings
	p.mu.Unlock()
	if slow != 0 {
		t.Errorf("%d slow slots held after the background listing ended", slow)
	}
	if p.unresponsive.Load() {
		t.Error("a dropped background listing marked the server unresponsive")
	}
}

// A background operation that runs into its deadline does not mark the
// server unresponsive; a foreground one does.
func TestBackgroundDeadlineDoesNotJudgeTheServer(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, arg string) bool {
			// Never answers (SIZE and CWD go out together: a CWD answered
			// while SIZE is not would be taken for SIZE's reply, out of step).
			if (verb == "SIZE" || verb == "CWD") && arg == "/silent" {
				return true
			}
			return false
		}
	})
	p := h.pool(nil)
	p.budget = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(priority.Background(context.Background()), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Stat(ctx, "/silent"); err == nil {
		t.Fatal("Stat of a name the server never answers succeeded")
	}
	if p.unresponsive.Load() {
		t.Error("a background Stat that ran into its deadline marked the server unresponsive")
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer fcancel()
	_, _ = p.Stat(fctx, "/silent")
	if !p.unresponsive.Load() {
		t.Error("a foreground Stat that ran into its deadline did not mark the server unresponsive (the test's premise)")
	}
}

// connections=2: a program's stream open but idle between reads (a file
// handle's) leaves the other, idle, connection to its read-ahead lane.
// The lane waited for a connection until its deadline when idle program
// streams counted as busy (the reviewer's test).
func TestLaneGetsTheConnectionBesideAnIdleProgramStream(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 2 })
	p.Warm(ctxT(t), 2)
	prog := p.OpenReader("/big.bin")
	defer prog.Close()
	buf := make([]byte, 4096)
	if _, err := prog.ReadAt(ctxT(t), buf, 0); err != nil {
		t.Fatal(err)
	}
	lane := p.OpenLaneReader("/big.bin")
	defer lane.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := lane.ReadAt(ctx, buf, 1<<20); err != nil {
		t.Errorf("the lane got no connection though one is idle: %v", err)
	}
}
