package pool

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// TestRev2BackgroundDialsCountAgainstItsLimit: background may hold at most
// max-1 connections. bgLent only counts a connection once its dial is
// done, so background gets that start together on a pool with nothing idle
// all pass roomLocked and dial: background then holds every connection.
func TestRev2BackgroundDialsCountAgainstItsLimit(t *testing.T) {
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

// TestRev2ForegroundStreamDialsCountAgainstTheStreamLimit: streams may hold
// at most max-1 connections; streams are counted only once dialled.
func TestRev2ForegroundStreamDialsCountAgainstTheStreamLimit(t *testing.T) {
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
