package pool

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// TestBackgroundDialsCountAgainstItsLimit: background may hold at most
// max-1 connections, dials in progress included. Before, bgLent counted a
// connection only once its dial was done, so background gets that started
// together on a pool with nothing idle all passed roomLocked and dialled:
// background then held every connection.
func TestBackgroundDialsCountAgainstItsLimit(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 3 })
	bg := priority.Background(ctxT(t))
	ctx, cancel := context.WithTimeout(bg, time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []*conn
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := p.get(ctx, useOp, false); err == nil {
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p.mu.Lock()
	bgLent := p.bgLent
	p.mu.Unlock()
	for _, c := range got {
		p.put(c, false)
	}
	if len(got) > 2 || bgLent > 2 {
		t.Errorf("background holds %d connections (bgLent %d) of 3, want at most 2", len(got), bgLent)
	}
}

// TestForegroundStreamDialsCountAgainstTheStreamLimit: streams may hold
// at most max-1 connections, dials in progress included (before, a stream
// counted only once dialled).
func TestForegroundStreamDialsCountAgainstTheStreamLimit(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 3 })
	ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []*conn
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := p.get(ctx, useStream, false); err == nil {
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, c := range got {
		p.put(c, false)
	}
	if len(got) > 2 {
		t.Errorf("foreground streams hold %d connections of 3, want at most 2 (one left for commands)", len(got))
	}
}

// hookHandler calls on for every record whose message is msg.
type hookHandler struct {
	msg string
	on  func()
}

func (h hookHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h hookHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.on()
	}
	return nil
}
func (h hookHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h hookHandler) WithGroup(string) slog.Handler      { return h }

// TestPreemptedConnectionGivenBackIsDropped: preempt picks a background
// holder under Pool.mu but closes its sockets after letting go of the lock.
// A holder that gives its connection back in between (it finished right at
// the end of the grace) must not put it on the idle list: the cut would land
// there, on the program's operation that takes it next, as ErrPreempted,
// which is never retried. (The hook in the logger only widens the window
// between Unlock and interrupt.) Before, the connection went idle healthy.
func TestPreemptedConnectionGivenBackIsDropped(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	var held *conn
	var p *Pool
	p = newPool(t, srv, func(c *Config) {
		c.MaxConns = 1
		c.Logger = slog.New(hookHandler{msg: "background work preempted for a program's request", on: func() {
			p.put(held, false) // the holder finishes now
		}})
	})
	bg := priority.Background(ctxT(t))
	c, err := p.get(bg, useOp, false)
	if err != nil {
		t.Fatal(err)
	}
	held = c
	if _, err := p.Stat(ctxT(t), "/one"); err != nil {
		t.Errorf("a program's Stat after a background holder gave its connection back at the grace's end: %v", err)
	}
}
