package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"
)

// A program that joins a failing background load just as it returns (after
// load, before the flight ends) never gets the background error: the
// retry is decided where joins count themselves. Probabilistic: the window
// was a few instructions wide.
func TestPrefetchJoinAtLoadEndNeverGetsBackgroundError(t *testing.T) {
	errPreempted := fmt.Errorf("LIST /a: %w", ErrGaveWay)
	bad := 0
	const runs = 3000
	for range runs {
		d := NewDirs(time.Minute, 10, nil)
		returning := make(chan struct{})
		calls := 0
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			calls++
			if calls == 1 {
				close(returning)
				return nil, errPreempted // failed only because it was background
			}
			return files("x"), nil
		}
		got := make(chan error, 1)
		d.Prefetch(context.Background(), "/a", load)
		go func() {
			<-returning
			d.mu.Lock()
			f := d.inflight["/a"]
			d.mu.Unlock()
			if f == nil {
				got <- nil // finished before the join: a fresh foreground load
				return
			}
			_, err := d.Get(context.Background(), "/a", func(context.Context) ([]fs.FileInfo, error) { return files("x"), nil })
			got <- err
		}()
		if err := <-got; errors.Is(err, errPreempted) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d joiners got the background load's error", bad, runs)
	}
}

// A joined prefetch that hit a network deadline (the pool reports a server
// silent past timeout= as os.ErrDeadlineExceeded) is not retried: its
// joiner would wait a second timeout.
func TestPrefetchJoinedNetworkTimeoutNotRetried(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	calls := 0
	load := func(ctx context.Context) ([]fs.FileInfo, error) {
		calls++
		started <- struct{}{}
		<-release
		return nil, fmt.Errorf("MLSD /a: %w (read tcp: i/o timeout)", os.ErrDeadlineExceeded)
	}
	d.Prefetch(context.Background(), "/a", load)
	<-started
	got := make(chan error, 1)
	go func() {
		_, err := d.Get(context.Background(), "/a", load)
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // joined, promoted
	close(release)
	<-got
	if calls != 1 {
		t.Errorf("a load that timed out on the network was run %d times; want once", calls)
	}
}

// A joined prefetch that failed with the directory's own answer (too
// large, refused) is not listed again: only giving way is retried. Before,
// every failure but a deadline was, and a 500,000-entry directory beyond
// max_listing was received twice, running into the caller's timeout.
func TestPrefetchJoinedRealFailureNotRetried(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	g := newGatedLoad("x")
	g.err = errors.New("LIST /a: listing too large")
	calls := 0
	load := func(ctx context.Context) ([]fs.FileInfo, error) {
		calls++
		return g.load(ctx)
	}
	d.Prefetch(context.Background(), "/a", load)
	<-g.started
	got := make(chan error, 1)
	go func() {
		_, err := d.Get(context.Background(), "/a", noLoad(t))
		got <- err
	}()
	for d.Stats().Misses == 0 {
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	if err := <-got; err == nil || errors.Is(err, ErrGaveWay) {
		t.Fatalf("joiner got %v; want the directory's own failure", err)
	}
	if calls != 1 {
		t.Errorf("load calls = %d, want 1", calls)
	}
}
