package pool

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// listWithin runs List and fails the test if it has not returned within d.
func listWithin(t *testing.T, p *Pool, ctx context.Context, dir string, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := p.List(ctx, dir); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("List %s still running %v after it was started", dir, d)
		return nil
	}
}

// Before the fix an endless listing went on after its deadline: closing
// the control connection does not stop the library reading the data
// connection, and the per-read timeout never trips while bytes come.
func TestEndlessListingStopsAtItsDeadline(t *testing.T) {
	checkGoroutines(t)
	h := startHostile(t, func(h *hostile) { h.list = only("/endless", endless(0)) })
	p := h.pool(nil)
	err := listWithin(t, p, ctxFor(t, 300*time.Millisecond), "/endless", 2*time.Second)
	if !timedOut(err) {
		t.Errorf("endless listing: %v, want a timeout", err)
	}
	if !waitFor(2*time.Second, func() bool { return h.dataCut.Load() == 1 }) {
		t.Error("the server's data connection was never closed")
	}
	if !waitFor(2*time.Second, func() bool { return p.OpenConns() == 0 }) {
		t.Errorf("%d connections still open", p.OpenConns())
	}
	_ = p.Close()
	h.close()
}

// A cancellation (the cache's load, once nobody waits for it) stops a
// listing as a deadline does.
func TestEndlessListingStopsWhenCancelled(t *testing.T) {
	checkGoroutines(t)
	h := startHostile(t, func(h *hostile) { h.list = only("/endless", endless(0)) })
	p := h.pool(nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	err := listWithin(t, p, ctx, "/endless", 2*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled endless listing: %v, want context.Canceled", err)
	}
	if !waitFor(2*time.Second, func() bool { return h.dataCut.Load() == 1 }) {
		t.Error("the server's data connection was never closed")
	}
	if !waitFor(2*time.Second, func() bool { return p.OpenConns() == 0 }) {
		t.Errorf("%d connections still open", p.OpenConns())
	}
	// The pool still works: a plain listing on a fresh connection.
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Errorf("List after the cancelled one: %v", err)
	}
	_ = p.Close()
	h.close()
}

// drip sends "220 " and then one byte every interval, never a line end.
func drip(every time.Duration) func(w net.Conn) error {
	return func(w net.Conn) error {
		if _, err := w.Write([]byte("220 ")); err != nil {
			return err
		}
		for {
			time.Sleep(every)
			if _, err := w.Write([]byte("x")); err != nil {
				return err
			}
		}
	}
}

// flood sends prefix, then lines of continuation text up to n bytes in all,
// then holds the connection open without a final line.
func flood(w net.Conn, prefix string, n int) error {
	if _, err := w.Write([]byte(prefix + "\r\n")); err != nil {
		return err
	}
	line := []byte(" " + strings.Repeat("y", 1000) + "\r\n")
	for sent := 0; sent < n; sent += len(line) {
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	_, err := w.Read(make([]byte, 1)) // until the client goes
	return err
}

// Before the fix a greeting that comes a byte at a time held the dial (and
// the operation waiting for it) for as long as the server went on: the
// per-read timeout never trips.
func TestDrippingGreetingFailsTheDialInTime(t *testing.T) {
	checkGoroutines(t)
	h := startHostile(t, func(h *hostile) { h.greet = drip(100 * time.Millisecond) })
	p := h.pool(func(c *Config) { c.Timeout = time.Second })
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Check(ctxT(t), "/") }()
	select {
	case err := <-done:
		var de *DialError
		if !timedOut(err) || !errors.As(err, &de) {
			t.Errorf("Check against a dripping greeting: %v, want a DialError that timed out", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("took %v with timeout 1s", took)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Check against a dripping greeting still running after 4s (timeout 1s)")
	}
	_ = p.Close()
	h.close()
}

// A dial its caller abandoned goes on in the background, but not beyond
// one timeout from its start: before the fix it lasted as long as the
// server dripped.
func TestAbandonedDialEndsWithinItsTimeout(t *testing.T) {
	checkGoroutines(t)
	h := startHostile(t, func(h *hostile) { h.greet = drip(100 * time.Millisecond) })
	p := h.pool(func(c *Config) { c.Timeout = time.Second })
	if _, err := p.List(ctxFor(t, 200*time.Millisecond), "/"); !timedOut(err) {
		t.Fatalf("List while the greeting drips: %v", err)
	}
	if !waitFor(2500*time.Millisecond, func() bool { return p.OpenConns() == 0 }) {
		t.Fatalf("the abandoned dial still runs %v after its timeout", 1500*time.Millisecond)
	}
	_ = p.Close()
	h.close()
}

// Warm-up logins end at the warm-up's deadline, not when the server stops.
func TestWarmEndsAtItsDeadline(t *testing.T) {
	checkGoroutines(t)
	h := startHostile(t, func(h *hostile) { h.greet = drip(100 * time.Millisecond) })
	p := h.pool(func(c *Config) { c.Timeout = 10 * time.Second })
	start := time.Now()
	p.Warm(ctxFor(t, 300*time.Millisecond), 3)
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("Warm took %v with a 300 ms deadline", took)
	}
	if !waitFor(time.Second, func() bool { return p.OpenConns() == 0 }) {
		t.Errorf("%d warm-up logins still running after the deadline", p.OpenConns())
	}
	_ = p.Close()
	h.close()
}

// ftpsfs check probes through the mount's own dialer: the same bound holds.
func TestDrippingGreetingFailsTheProbeInTime(t *testing.T) {
	h := startHostile(t, func(h *hostile) { h.greet = drip(100 * time.Millisecond) })
	cfg := h.config(func(c *Config) { c.Timeout = time.Second })
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := Probe(ctxFor(t, 4*cfg.Timeout), cfg, "/")
		done <- err
	}()
	select {
	case err := <-done:
		if !timedOut(err) {
			t.Errorf("Probe against a dripping greeting: %v, want a timeout", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("took %v with timeout 1s", took)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Probe against a dripping greeting still running after 6s (timeout 1s)")
	}
}

// An endless greeting costs bounded memory: the control connection's
// budget breaks it. Before the fix the client read all 4 MiB and then
// waited for the rest until the per-read timeout.
func TestEndlessGreetingBreaksWithTheBudget(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.greet = func(w net.Conn) error { return flood(w, "220-welcome", 4<<20) }
	})
	p := h.pool(func(c *Config) { c.Timeout = 3 * time.Second })
	if err := p.Check(ctxT(t), "/"); !errors.Is(err, ErrReplyTooLarge) {
		t.Errorf("Check against an endless greeting: %v, want ErrReplyTooLarge", err)
	}
	if _, err := Probe(ctxT(t), h.config(func(c *Config) { c.Timeout = 3 * time.Second }), "/"); !errors.Is(err, ErrReplyTooLarge) {
		t.Errorf("Probe against an endless greeting: %v, want ErrReplyTooLarge", err)
	}
}

// The same for an endless multi-line reply to a raw command (AVBL), whose
// reader had no cap before.
func TestEndlessReplyBreaksWithTheBudget(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, _ string) bool {
			if verb != "AVBL" {
				return false
			}
			_ = flood(w, "213-counting", 4<<20)
			return true
		}
	})
	p := h.pool(func(c *Config) { c.Timeout = 3 * time.Second })
	if _, err := p.Avail(ctxT(t), "/"); !errors.Is(err, ErrReplyTooLarge) {
		t.Errorf("AVBL answered endlessly: %v, want ErrReplyTooLarge", err)
	}
	if d := p.Metrics.Discards.Load(); d != 1 {
		t.Errorf("%d connections dropped, want the one that broke", d)
	}
	if r := p.Metrics.Retries.Load(); r != 0 {
		t.Errorf("retried %d times: the server would send as much again", r)
	}
}

// A directory larger than max_listing fails with ErrListingTooLarge, cut
// while it arrives: an endless listing stops at the cap, long before its
// deadline, and is not retried.
func TestListingLargerThanMaxListingFails(t *testing.T) {
	checkGoroutines(t)
	h := startHostile(t, func(h *hostile) {
		h.list = func(dir string, w net.Conn) error {
			n := map[string]int{"/ten": 10, "/big": 20}[dir]
			if dir == "/endless" {
				return endless(0)(dir, w)
			}
			for i := range n {
				if err := listLine(w, i); err != nil {
					return err
				}
			}
			return nil
		}
	})
	p := h.pool(func(c *Config) { c.MaxListing = 10; c.Timeout = 10 * time.Second })
	if got, err := p.List(ctxT(t), "/ten"); err != nil || len(got) != 10 {
		t.Errorf("listing of exactly max_listing entries: %d entries, %v", len(got), err)
	}
	start := time.Now()
	for _, dir := range []string{"/big", "/endless"} {
		_, err := p.List(ctxT(t), dir)
		if !errors.Is(err, ErrListingTooLarge) || !strings.Contains(err.Error(), "max_listing=10") {
			t.Errorf("List %s: %v, want ErrListingTooLarge naming max_listing=10", dir, err)
		}
		t.Logf("List %s: %v", dir, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the endless listing was cut after %v, not at the cap", took)
	}
	if n := h.listings.Load(); n != 3 {
		t.Errorf("%d LIST commands, want 3: a listing past the cap is not retried", n)
	}
	if !waitFor(2*time.Second, func() bool { return h.dataCut.Load() >= 1 }) {
		t.Error("the endless listing's data connection was not closed")
	}
	_ = p.Close()
	h.close()
}

// ftpsfs check lists the start directory with its own client: the same cap.
func TestProbeListingLargerThanMaxListingFails(t *testing.T) {
	h := startHostile(t, func(h *hostile) { h.list = only("/endless", endless(0)) })
	cfg := h.config(func(c *Config) { c.MaxListing = 10 })
	if _, err := Probe(ctxT(t), cfg, "/endless"); !errors.Is(err, ErrListingTooLarge) || !strings.Contains(err.Error(), "max_listing=10") {
		t.Errorf("Probe of an endless listing: %v, want ErrListingTooLarge naming max_listing=10", err)
	}
	if rep, err := Probe(ctxT(t), cfg, "/"); err != nil || rep.Entries != 1 {
		t.Errorf("Probe of a small listing: %v", err)
	}
}
