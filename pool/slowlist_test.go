package pool

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Eight listings the server drips, one line every 100 ms, in eight
// directories of a pool of eight connections: before the fix they held all
// eight, and a listing, a read and a write elsewhere waited until they
// timed out. Now at most half of the connections serve slow listings; the
// others wait for a slot holding none, and fail only with their own
// timeout.
func TestSlowListingsLeaveConnectionsFree(t *testing.T) {
	checkGoroutines(t)
	h := startHostile(t, func(h *hostile) {
		h.list = func(dir string, w net.Conn) error {
			if strings.HasPrefix(dir, "/drip") {
				return endless(100*time.Millisecond)(dir, w)
			}
			return listLine(w, 0)
		}
		h.files["/r"] = []byte("read me")
	})
	p := h.pool(func(c *Config) { c.MaxConns = 8 })
	p.slowAfter = 200 * time.Millisecond
	const bound = 4

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.List(ctx, fmt.Sprintf("/drip%d", i))
		}()
	}
	if !waitFor(time.Second, func() bool { return h.listings.Load() == 8 }) {
		t.Fatalf("%d of the 8 listings started", h.listings.Load())
	}
	if !waitFor(time.Second, func() bool { return h.active.Load() <= bound && p.Metrics.SlowListingsStopped.Load() >= 8-bound }) {
		t.Errorf("%d slow listings run, %d were stopped; want at most %d running", h.active.Load(), p.Metrics.SlowListingsStopped.Load(), bound)
	}

	// Meanwhile the rest of the mount works.
	opCtx := ctxFor(t, 1500*time.Millisecond)
	if got, err := p.List(opCtx, "/"); err != nil || len(got) != 1 {
		t.Errorf("List / beside the slow listings: %d entries, %v", len(got), err)
	}
	r := p.OpenReader("/r")
	buf := make([]byte, 7)
	if n, err := r.ReadAt(opCtx, buf, 0); (err != nil && n != len(buf)) || !bytes.Equal(buf[:n], []byte("read me")) {
		t.Errorf("read beside the slow listings: %q, %v", buf[:n], err)
	}
	_ = r.Close()
	if err := p.Store(opCtx, "/w", strings.NewReader("written"), 7); err != nil {
		t.Errorf("write beside the slow listings: %v", err)
	}
	if a := h.active.Load(); a > bound {
		t.Errorf("%d slow listings running, want at most %d", a, bound)
	}

	wg.Wait()
	for i, err := range errs {
		if !timedOut(err) {
			t.Errorf("dripping listing %d: %v, want its own timeout", i, err)
		}
	}
	p.mu.Lock()
	slow := p.slowListings
	p.mu.Unlock()
	if slow != 0 {
		t.Errorf("%d slow slots still taken after every listing ended", slow)
	}
	_ = p.Close()
	h.close()
}
