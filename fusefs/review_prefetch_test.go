package fusefs

import (
	"context"
	"io/fs"
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

// REVIEW: a prefetch that a program joined and that failed is retried by
// cache.Dirs.Prefetch, which calls the load function twice; the
// prefetcher's wrapper runs "defer p.done()" on each call, so inflight is
// decremented twice for one increment. Every joined failing prefetch (a
// 550 directory the walk reaches while it is being prefetched) leaves one
// more load allowed: dir_prefetch stops bounding anything.
func TestReviewJoinedFailedPrefetchKeepsInflightBound(t *testing.T) {
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
