package fusefs

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

func dirListing(names ...string) *cache.Listing {
	m := map[string]fs.FileInfo{}
	for _, n := range names {
		m[n] = fakeInfo{name: n, mode: fs.ModeDir | 0o755}
	}
	return &cache.Listing{Entries: m, Names: names, Started: time.Now(), Arrived: time.Now()}
}

// A prefetch that a program joined and that failed (a 550 directory the
// walk reaches while it is being prefetched) is retried by
// cache.Dirs.Prefetch, which calls the load function again; it is still
// counted out of inflight once, so dir_prefetch keeps bounding.
func TestPrefetchJoinedFailureKeepsInflightBound(t *testing.T) {
	dirs := cache.NewDirs(time.Minute, 100, nil)
	release := make(chan struct{})
	var cur, peak atomic.Int64
	loader := func(dir string) func(context.Context) ([]fs.FileInfo, error) {
		return func(ctx context.Context) ([]fs.FileInfo, error) {
			n := cur.Add(1)
			defer cur.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if dir == "/denied" {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil, fs.ErrPermission // 550
			}
			<-ctx.Done() // the other prefetches stall (an endless listing)
			return nil, ctx.Err()
		}
	}
	p := newDirPrefetch(dirs, 1, loader)
	defer p.close()
	p.used("/", dirListing("denied"))
	waitFor(t, "the prefetch of /denied to start", func() bool { return cur.Load() == 1 })
	// The walk reaches /denied while it is being prefetched: it joins.
	got := make(chan error, 1)
	go func() {
		_, err := dirs.Get(context.Background(), "/denied", loader("/denied"))
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // the Get joins and promotes
	close(release)
	if err := <-got; err == nil {
		t.Fatal("join of a 550 directory succeeded")
	}
	p.mu.Lock()
	n := p.inflight
	p.mu.Unlock()
	if n != 0 {
		t.Errorf("inflight = %d after the only prefetch ended; want 0", n)
	}
	// With max 1, a new walk must run one prefetch at a time.
	p.used("/w", dirListing("a", "b", "c"))
	time.Sleep(100 * time.Millisecond)
	if c := cur.Load(); c > 1 {
		t.Errorf("%d prefetch loads in flight with dir_prefetch=1", c)
	}
}

// A program that touches /home once every few seconds (a lookup answered
// from the same cached listing) does not re-queue its subdirectories, and
// the ones the server refuses (550: other users' homes) are not listed
// again: no storm of up to 256 failing LISTs every prefetchIdle.
func TestPrefetchFailuresNotRepeatedByIdleUses(t *testing.T) {
	dirs := cache.NewDirs(time.Minute, 100, nil)
	var lists atomic.Int64
	loader := func(dir string) func(context.Context) ([]fs.FileInfo, error) {
		return func(ctx context.Context) ([]fs.FileInfo, error) {
			lists.Add(1)
			return nil, fs.ErrPermission // 550
		}
	}
	p := newDirPrefetch(dirs, 4, loader)
	defer p.close()
	home := dirListing("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8")
	p.used("/home", home)
	waitFor(t, "the first prefetch round", func() bool { return p.idle() && lists.Load() == 8 })
	for i := range 2 {
		time.Sleep(prefetchIdle + 100*time.Millisecond)
		// Any other directory's new listing (here an empty one) prunes
		// /home's walked entry, and with it the memory that /home's
		// listing already queued its children.
		p.used(fmt.Sprintf("/elsewhere%d", i), dirListing())
		p.used("/home", home) // a lookup in /home, answered from the same listing
	}
	waitFor(t, "prefetcher idle", p.idle)
	if n := lists.Load(); n != 8 {
		t.Errorf("%d LISTs of /home's 8 refused subdirectories after 3 uses of one listing; want 8", n)
	}
}

// A walk that waits for a slow listing (here its own next directory,
// /a/s0, which it joined while it was being prefetched) is still walking
// /a: when that load ends and the queue is pumped, /a's queued siblings
// are still wanted. On a server whose listings take longer than
// prefetchIdle, where prefetch helps most, the walk stays ahead.
func TestPrefetchSlowListingKeepsQueuedSiblings(t *testing.T) {
	dirs := cache.NewDirs(time.Minute, 100, nil)
	var mu sync.Mutex
	listed := map[string]int{}
	loader := func(dir string) func(context.Context) ([]fs.FileInfo, error) {
		return func(ctx context.Context) ([]fs.FileInfo, error) {
			mu.Lock()
			listed[dir]++
			mu.Unlock()
			if dir == "/a/s0" {
				time.Sleep(prefetchIdle + 500*time.Millisecond) // a slow server
			}
			return nil, nil
		}
	}
	p := newDirPrefetch(dirs, 1, loader)
	defer p.close()
	p.used("/a", dirListing("s0", "s1", "s2", "s3"))
	// The walk descends into /a/s0 at once and waits for its listing.
	l, err := dirs.Get(context.Background(), "/a/s0", loader("/a/s0"))
	if err != nil {
		t.Fatal(err)
	}
	p.used("/a/s0", l)
	waitFor(t, "prefetcher idle", p.idle)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range []string{"/a/s1", "/a/s2", "/a/s3"} {
		if listed[s] == 0 {
			t.Errorf("%s never prefetched, though the walk was in /a all along", s)
		}
	}
}

// used costs no scan of every recently used directory: a walk over a tree
// whose listings are cached (a second find within dir_cache_ttl) uses
// thousands of directories a second, here 40,000 back to back, under
// dirPrefetch.mu on the lookup/readdir path.
func TestPrefetchUsedIsNotQuadratic(t *testing.T) {
	p := newDirPrefetch(cache.NewDirs(time.Minute, 10, nil), 1, nil)
	p.close()
	empty := dirListing()
	start := time.Now()
	for i := range 40000 {
		p.used(fmt.Sprintf("/t/d%d", i), empty)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("40,000 uses took %v", took)
	}
}

// find, du, rsync and ls -R walk depth-first: when the walk enters the
// first subdirectory of a large directory and the queue is full, its
// children push out the siblings the walk reaches last, not the ones it
// visits next.
func TestPrefetchFullQueueKeepsTheWalksNextSiblings(t *testing.T) {
	dirs := cache.NewDirs(time.Minute, 1000, nil)
	hold := make(chan struct{})
	defer close(hold)
	loader := func(string) func(context.Context) ([]fs.FileInfo, error) {
		return func(ctx context.Context) ([]fs.FileInfo, error) {
			select { // a slow server: nothing drains the queue meanwhile
			case <-hold:
			case <-ctx.Done():
			}
			return nil, ctx.Err()
		}
	}
	p := newDirPrefetch(dirs, 1, loader)
	defer p.close()
	var big []string
	for i := range 300 {
		big = append(big, fmt.Sprintf("s%03d", i))
	}
	p.used("/big", dirListing(big...))
	var kids []string
	for i := range 20 {
		kids = append(kids, fmt.Sprintf("k%02d", i))
	}
	p.used("/big/s000", dirListing(kids...)) // the walk enters the first one
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.queued["/big/s001"] {
		t.Errorf("/big/s001, the walk's next directory after /big/s000's subtree, was dropped from the queue; /big/s255 queued: %v", p.queued["/big/s255"])
	}
}

// A program waiting in a directory below a parent (its own lookup or
// readdir of a slow listing, not a prefetch it joined) keeps the parent's
// queued children wanted, however long it waits.
func TestPrefetchWaitingProgramKeepsQueuedSiblings(t *testing.T) {
	dirs := cache.NewDirs(time.Minute, 100, nil)
	release := make(chan struct{})
	var mu sync.Mutex
	listed := map[string]int{}
	loader := func(dir string) func(context.Context) ([]fs.FileInfo, error) {
		return func(ctx context.Context) ([]fs.FileInfo, error) {
			mu.Lock()
			listed[dir]++
			mu.Unlock()
			if dir == "/a/s0" {
				<-release
			}
			return nil, nil
		}
	}
	p := newDirPrefetch(dirs, 1, loader)
	defer p.close()
	p.used("/a", dirListing("s0", "s1", "s2"))
	end := p.waiting("/a/x/deep") // the walk waits for a slow listing below /a
	p.mu.Lock()
	p.parents["/a"].lastUse = time.Now().Add(-prefetchIdle - time.Second) // as if it waited that long
	p.mu.Unlock()
	close(release)
	waitFor(t, "prefetcher idle", p.idle)
	end()
	mu.Lock()
	defer mu.Unlock()
	for _, s := range []string{"/a/s1", "/a/s2"} {
		if listed[s] == 0 {
			t.Errorf("%s never prefetched, though a program waited below /a", s)
		}
	}
}

// With a listing cache that keeps nothing (dir_cache_ttl=0) there is no
// prefetcher: every listing it queued would be refused by Dirs.Prefetch.
func TestPrefetchOffWithoutListingCache(t *testing.T) {
	if p := newDirPrefetch(cache.NewDirs(0, 10, nil), 4, nil); p != nil {
		p.close()
		t.Error("a prefetcher over a cache that keeps nothing")
	}
}
