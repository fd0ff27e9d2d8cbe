package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// gatedLoad is a load that reports its context on started and returns
// entries when release is closed (or its context ends).
type gatedLoad struct {
	started chan context.Context
	release chan struct{}
	entries []fs.FileInfo
	err     error
}

func newGatedLoad(entries ...string) *gatedLoad {
	return &gatedLoad{started: make(chan context.Context, 4), release: make(chan struct{}), entries: files(entries...)}
}

func (g *gatedLoad) load(ctx context.Context) ([]fs.FileInfo, error) {
	g.started <- ctx
	select {
	case <-g.release:
		return g.entries, g.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func waitStored(t *testing.T, d *Dirs, dir string) *Listing {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		_, loading := d.inflight[dir]
		d.mu.Unlock()
		if l, ok := d.Peek(dir); ok && !loading {
			return l
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("listing of %s never stored", dir)
	return nil
}

// A prefetched listing nobody asked for is stored when it arrives, and
// its load ran as background work.
func TestPrefetchStoresUnjoinedListing(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	g := newGatedLoad("x")
	if !d.Prefetch(context.Background(), "/a", g.load) {
		t.Fatal("Prefetch of an unknown dir started nothing")
	}
	if lctx := <-g.started; !priority.IsBackground(lctx) {
		t.Error("prefetch load runs in the foreground; want background")
	}
	close(g.release)
	if l := waitStored(t, d, "/a"); len(l.Names) != 1 {
		t.Errorf("stored %v, want [x]", l.Names)
	}
	mustGet(t, d, "/a", noLoad(t))
}

// A program that asks for a directory being prefetched joins the load and
// promotes it, instead of starting a second one.
func TestPrefetchPromotedOnJoin(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	g := newGatedLoad("x")
	d.Prefetch(context.Background(), "/a", g.load)
	lctx := <-g.started
	got := make(chan *Listing, 1)
	go func() {
		l, _ := d.Get(context.Background(), "/a", noLoad(t))
		got <- l
	}()
	select {
	case <-priority.Promoted(lctx):
	case <-time.After(5 * time.Second):
		t.Fatal("joining Get did not promote the prefetch")
	}
	close(g.release)
	if l := <-got; l == nil || len(l.Names) != 1 {
		t.Fatalf("joiner got %v", l)
	}
}

// Prefetch of a fresh or loading directory does nothing.
func TestPrefetchSkipsFreshAndLoading(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	mustGet(t, d, "/fresh", (&counter{entries: files("x")}).load)
	if d.Prefetch(context.Background(), "/fresh", noLoad(t)) {
		t.Error("Prefetch of a fresh listing started a load")
	}
	g := newGatedLoad()
	if !d.Prefetch(context.Background(), "/b", g.load) {
		t.Fatal("first Prefetch started nothing")
	}
	<-g.started
	if d.Prefetch(context.Background(), "/b", noLoad(t)) {
		t.Error("Prefetch of a loading dir started a second load")
	}
	close(g.release)
	waitStored(t, d, "/b")
	if n := d.Stats().Loads; n != 2 {
		t.Errorf("loads = %d, want 2", n)
	}
}

// A local change while a prefetch is in flight means its result, which
// may predate the change, is not stored: the next Get loads anew.
func TestPrefetchDisownedByChange(t *testing.T) {
	for name, change := range map[string]func(d *Dirs){
		"update":     func(d *Dirs) { d.Update("/a", func(map[string]fs.FileInfo) {}) },
		"invalidate": func(d *Dirs) { d.Invalidate("/a") },
		"tree":       func(d *Dirs) { d.InvalidateTree("/") },
	} {
		t.Run(name, func(t *testing.T) {
			d := NewDirs(time.Minute, 10, nil)
			g := newGatedLoad("old")
			d.Prefetch(context.Background(), "/a", g.load)
			lctx := <-g.started
			change(d)
			close(g.release)
			<-lctx.Done() // nobody waits and it will not be kept: stopped
			if l, ok := d.Peek("/a"); ok {
				t.Fatalf("stale prefetched listing stored: %v", l.Names)
			}
			if l := mustGet(t, d, "/a", (&counter{entries: files("new")}).load); l.Names[0] != "new" {
				t.Errorf("Get after the change = %v, want [new]", l.Names)
			}
		})
	}
}

// The end of prefetching (unmount) stops a load nobody joined.
func TestPrefetchStopsWithItsContext(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	ctx, cancel := context.WithCancel(context.Background())
	g := newGatedLoad("x")
	d.Prefetch(ctx, "/a", g.load)
	lctx := <-g.started
	cancel()
	<-lctx.Done()
	if d.Prefetch(ctx, "/b", noLoad(t)) {
		t.Error("Prefetch after its context ended started a load")
	}
}

// A promoted prefetch that failed (the pool may preempt background work
// just before the promotion reaches it) is retried once in the
// foreground, so the program that joined gets the listing, not that error.
func TestPrefetchJoinedFailureRetried(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	g := newGatedLoad("x")
	g.err = fmt.Errorf("LIST /a: %w", ErrGaveWay)
	calls := 0
	load := func(ctx context.Context) ([]fs.FileInfo, error) {
		calls++
		if calls == 1 {
			return g.load(ctx)
		}
		return files("x"), nil
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
	if err := <-got; err != nil {
		t.Fatalf("joiner got %v; want the retried listing", err)
	}
	if calls != 2 {
		t.Errorf("load calls = %d, want 2", calls)
	}
}

// A joined prefetch that ran out of time is not loaded again: its
// deadline bounded the joiners too.
func TestPrefetchJoinedTimeoutNotRetried(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	g := newGatedLoad("x")
	g.err = context.DeadlineExceeded
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
	if err := <-got; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("joiner got %v; want the deadline", err)
	}
	if calls != 1 {
		t.Errorf("load calls = %d, want 1", calls)
	}
}
