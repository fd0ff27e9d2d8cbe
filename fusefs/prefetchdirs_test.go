package fusefs

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// listGate is the fake remote with Lists counted per directory, and the
// ones gate picks held until release is closed (or their context ends).
// A held List answers as the server did when it was asked, as a real
// listing in flight does.
type listGate struct {
	*fakeRemote
	gate    func(dir string, call int) bool // nil holds none
	release chan struct{}
	arrived chan string // one value per held List

	mu     sync.Mutex
	counts map[string]int

	cur, peak atomic.Int64 // held Lists now, and at most
}

func newListGate(r *fakeRemote, gate func(dir string, call int) bool) *listGate {
	return &listGate{fakeRemote: r, gate: gate, release: make(chan struct{}), arrived: make(chan string, 64), counts: map[string]int{}}
}

func (g *listGate) List(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	entries, err := g.fakeRemote.List(ctx, dir)
	g.mu.Lock()
	g.counts[dir]++
	held := g.gate != nil && g.gate(dir, g.counts[dir])
	g.mu.Unlock()
	if !held {
		return entries, err
	}
	n := g.cur.Add(1)
	defer g.cur.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.arrived <- dir
	select {
	case <-g.release:
		return entries, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *listGate) count(dir string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.counts[dir]
}

// mountPrefetch mounts r with dir_prefetch=n and returns the mount point,
// the tree, and an unmount the test may call early (cleanup calls it too).
func mountPrefetch(t *testing.T, r Remote, n int) (string, *FS, func()) {
	t.Helper()
	dir := t.TempDir()
	fsys := New(r, cache.NewDirs(time.Minute, 1000, nil), cache.NewBlocks(1<<20), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Timeout: 5 * time.Second,
		SpoolDir: t.TempDir(), DirPrefetch: n,
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: time.Second, EntryTimeout: time.Second})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	var once sync.Once
	unmount := func() {
		once.Do(func() {
			if err := server.Unmount(); err != nil {
				t.Errorf("unmount: %v", err)
			}
			server.Wait()
		})
	}
	t.Cleanup(unmount)
	return dir, fsys, unmount
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// prefetchIdle reports whether the prefetcher has nothing queued or running.
func (p *dirPrefetch) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight == 0 && p.n == 0
}

func subdirTree(r *fakeRemote, n int) []string {
	var subs []string
	for i := range n {
		sub := fmt.Sprintf("/sub%02d", i)
		subs = append(subs, sub)
		r.add(sub+"/f", []byte("x"))
	}
	return subs
}

// After a program lists a directory, its subdirectories are listed in the
// background, and lookups inside them then cost no listing.
func TestPrefetchListsSubdirsOfReaddir(t *testing.T) {
	r := newFakeRemote()
	subs := subdirTree(r, 10)
	r.links["/link"] = "sub00" // never followed
	g := newListGate(r, nil)
	mnt, fsys, _ := mountPrefetch(t, g, 4)
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "prefetch of every subdirectory", func() bool {
		return fsys.dirAhead.idle() && !slices.ContainsFunc(subs, func(s string) bool { return g.count(s) == 0 })
	})
	for _, sub := range subs {
		if _, err := os.Stat(filepath.Join(mnt, sub, "f")); err != nil {
			t.Fatal(err)
		}
		if n := g.count(sub); n != 1 {
			t.Errorf("%s listed %d times; want once, by the prefetch", sub, n)
		}
	}
	if n := g.count("/link"); n != 0 {
		t.Errorf("symlink listed %d times; want never", n)
	}
}

// No more than dir_prefetch listings are fetched ahead at once.
func TestPrefetchBoundsLoadsInFlight(t *testing.T) {
	r := newFakeRemote()
	subs := subdirTree(r, 10)
	g := newListGate(r, func(dir string, _ int) bool { return dir != "/" })
	mnt, fsys, _ := mountPrefetch(t, g, 2)
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatal(err)
	}
	<-g.arrived
	<-g.arrived
	time.Sleep(100 * time.Millisecond) // room for a wrong third start to show
	if n := g.cur.Load(); n != 2 {
		t.Errorf("%d prefetch loads in flight; want 2", n)
	}
	close(g.release)
	waitFor(t, "the rest of the prefetch", func() bool {
		return fsys.dirAhead.idle() && !slices.ContainsFunc(subs, func(s string) bool { return g.count(s) == 0 })
	})
	if p := g.peak.Load(); p > 2 {
		t.Errorf("peak %d prefetch loads at once; want at most 2", p)
	}
}

// A listing prefetched but never used does not queue its own
// subdirectories: the prefetch stays one level ahead of the walk.
func TestPrefetchDoesNotCascadeUnused(t *testing.T) {
	r := newFakeRemote()
	r.add("/a/inner/x", nil)
	r.add("/b/inner/x", nil)
	g := newListGate(r, nil)
	mnt, fsys, _ := mountPrefetch(t, g, 4)
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "prefetch of /a and /b", func() bool { return fsys.dirAhead.idle() && g.count("/a") == 1 && g.count("/b") == 1 })
	if n := g.count("/a/inner") + g.count("/b/inner"); n != 0 {
		t.Fatalf("unused prefetched listings cascaded: %d listings of inner", n)
	}
	if _, err := os.ReadDir(filepath.Join(mnt, "a")); err != nil { // the walk comes to /a
		t.Fatal(err)
	}
	waitFor(t, "prefetch of /a/inner", func() bool { return fsys.dirAhead.idle() && g.count("/a/inner") == 1 })
	if n := g.count("/b/inner"); n != 0 {
		t.Errorf("/b/inner listed %d times; nobody walked /b", n)
	}
	if n := g.count("/a"); n != 1 {
		t.Errorf("/a listed %d times; want once, by the prefetch", n)
	}
}

// A change made through the mount inside a directory whose prefetched
// listing is in flight shows afterwards: the listing, which the server
// answered before the change, is never shown in its place. With a server
// that answers one name (MLST) the lookup before mkdir does not wait for
// the listing, so the change lands while it is still in flight.
func TestPrefetchNeverShowsListingOlderThanChange(t *testing.T) {
	for _, oneName := range []bool{false, true} {
		t.Run(fmt.Sprintf("oneNameStat=%v", oneName), func(t *testing.T) {
			r := newFakeRemote()
			r.oneNameStat = oneName
			subdirTree(r, 3)
			g := newListGate(r, func(dir string, call int) bool { return dir == "/sub01" && call == 1 })
			mnt, _, _ := mountPrefetch(t, g, 4)
			if _, err := os.ReadDir(mnt); err != nil {
				t.Fatal(err)
			}
			<-g.arrived // the prefetch of /sub01 has the server's old answer
			done := make(chan error, 1)
			go func() {
				if err := os.Mkdir(filepath.Join(mnt, "sub01", "newdir"), 0o755); err != nil {
					done <- err
					return
				}
				done <- os.WriteFile(filepath.Join(mnt, "sub01", "newfile"), []byte("y"), 0o644)
			}()
			if oneName {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				close(g.release)
			} else {
				time.Sleep(50 * time.Millisecond) // the lookup joins the listing
				close(g.release)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			entries, err := os.ReadDir(filepath.Join(mnt, "sub01"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if want := []string{"f", "newdir", "newfile"}; !slices.Equal(names, want) {
				t.Errorf("listing after the change = %v, want %v", names, want)
			}
		})
	}
}

// Unmount stops prefetch loads still in flight.
func TestPrefetchStopsAtUnmount(t *testing.T) {
	r := newFakeRemote()
	subdirTree(r, 10)
	g := newListGate(r, func(dir string, _ int) bool { return dir != "/" })
	mnt, _, unmount := mountPrefetch(t, g, 3)
	if _, err := os.ReadDir(mnt); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		<-g.arrived
	}
	unmount()
	waitFor(t, "held listings to end", func() bool { return g.cur.Load() == 0 })
	time.Sleep(50 * time.Millisecond) // room for a wrong restart to show
	if n := g.cur.Load(); n != 0 {
		t.Errorf("%d prefetch loads started after unmount", n)
	}
}

// The queue holds at most prefetchQueueMax entries; when full, a new
// listing's children push out the tail of the parent used longest ago
// (what a depth-first walk reaches last), and an entry whose parent
// nobody walked for prefetchIdle is dropped, not loaded.
func TestPrefetchQueueBounds(t *testing.T) {
	p := newDirPrefetch(cache.NewDirs(time.Minute, 10, nil), 1, func(string) func(context.Context) ([]fs.FileInfo, error) {
		t.Error("a dropped entry was loaded")
		return nil
	})
	defer p.close()
	kids := func(parent string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s/%d", parent, i))
		}
		return out
	}
	now := time.Now()
	p.mu.Lock()
	p.queueLocked("/old", kids("/old", prefetchQueueMax), now.Add(-time.Second))
	p.queueLocked("/new", kids("/new", 10), now)
	if p.n != prefetchQueueMax || len(p.queued) != prefetchQueueMax {
		t.Errorf("queue holds %d (%d marked), want %d", p.n, len(p.queued), prefetchQueueMax)
	}
	if !p.queued["/old/245"] || p.queued["/old/246"] || !p.queued["/new/9"] {
		t.Errorf("kept /old/245 %v, /old/246 %v, /new/9 %v; want /old's tail dropped", p.queued["/old/245"], p.queued["/old/246"], p.queued["/new/9"])
	}
	for _, q := range p.parents {
		q.lastUse = now.Add(-prefetchIdle - time.Second)
	}
	p.mu.Unlock()
	if it, ok := p.next(); ok {
		t.Errorf("next gave %v, whose parent nobody walks", it)
	}
	if !p.idle() {
		t.Error("stale entries still queued")
	}
}

// A program inside a directory, at any depth, keeps its ancestors walked,
// so their queued subdirectories stay wanted while the walk is below them.
func TestPrefetchUseInsideKeepsParentWalked(t *testing.T) {
	p := newDirPrefetch(cache.NewDirs(time.Minute, 10, nil), 1, nil)
	p.close() // nothing may load: only the bookkeeping is under test
	old := time.Now().Add(-prefetchIdle - time.Second)
	p.parents["/p"] = &parentQueue{dirs: []string{"/p/x"}, lastUse: old}
	p.used("/p/a/b/c", &cache.Listing{Arrived: time.Now()})
	if at := p.parents["/p"].lastUse; !at.After(old) {
		t.Errorf("/p last walked %v; a use of /p/a/b/c should refresh it", at)
	}
}

// A lookup is no listing by a program: `cp f /mnt/sub00/` looks up sub00
// in the root, which loads the root's listing, but must not list every
// sibling of sub00 in the background (before, it did, and on a 2-core
// machine those listings cost a large upload at 20 ms a sixth of its
// speed).
func TestLookupListingQueuesNoPrefetch(t *testing.T) {
	r := newFakeRemote()
	subs := subdirTree(r, 6)
	g := newListGate(r, nil)
	mnt, fsys, _ := mountPrefetch(t, g, 4)
	if _, err := os.Stat(filepath.Join(mnt, "sub00", "f")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // what a prefetch would need to start
	waitFor(t, "the prefetcher to be idle", fsys.dirAhead.idle)
	for _, sub := range subs[1:] {
		if n := g.count(sub); n != 0 {
			t.Errorf("%s listed %d times after a lookup beside it; want 0", sub, n)
		}
	}
}
