package pool

import (
	"context"
	"errors"
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
