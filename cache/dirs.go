package cache

import (
	"context"
	"io/fs"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Dirs caches directory listings by absolute remote path ("/a/b"; "/" for
// the root) for a fixed TTL. A name absent from a cached listing is a
// negative entry: lookups of it are answered without the server.
//
// Loads are shared: concurrent Gets of one directory run one load. The load
// runs in its own goroutine under a context that keeps the first caller's
// values but not its cancellation, so one impatient caller cannot fail the
// load for the others; it is cancelled when every caller has given up.
type Dirs struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex                       // guards the fields below
	lru      *simplelru.LRU[string, *Listing] // bounded by maxDirs
	inflight map[string]*dirFlight            // by dir; at most one per dir
	hits     uint64                           // Gets answered from the cache
	misses   uint64                           // Gets that had to wait for a load
	loads    uint64                           // load calls started
}

// dirFlight is a listing load plus what Dirs needs to stop it.
type dirFlight struct {
	flight[*Listing]
	waiters int                // callers still waiting; guarded by Dirs.mu
	cancel  context.CancelFunc // cancels the load's context
}

// DirStats is a snapshot of a Dirs' counters.
type DirStats struct {
	Hits, Misses, Loads uint64
	Entries             int // listings held, including expired ones not yet dropped
}

// NewDirs returns a listing cache keeping each listing for ttl and at most
// maxDirs listings (least recently used dropped first; values below 1 mean 1).
// ttl ≤ 0 keeps nothing: every Get loads, though concurrent Gets of one
// directory still share one load. now nil means time.Now; tests inject a
// clock here.
func NewDirs(ttl time.Duration, maxDirs int, now func() time.Time) *Dirs {
	if now == nil {
		now = time.Now
	}
	lru, err := simplelru.NewLRU[string, *Listing](max(maxDirs, 1), nil)
	if err != nil {
		panic(err) // only for size ≤ 0, excluded above
	}
	return &Dirs{ttl: ttl, now: now, lru: lru, inflight: make(map[string]*dirFlight)}
}

// freshLocked returns dir's listing if it is cached and unexpired, dropping
// an expired one. touch says whether to mark it recently used.
func (d *Dirs) freshLocked(dir string, touch bool) (*Listing, bool) {
	var l *Listing
	var ok bool
	if touch {
		l, ok = d.lru.Get(dir)
	} else {
		l, ok = d.lru.Peek(dir)
	}
	if !ok {
		return nil, false
	}
	if d.now().Sub(l.Fetched) >= d.ttl {
		d.lru.Remove(dir)
		return nil, false
	}
	return l, true
}

// Get returns dir's unexpired cached listing, or loads it. Concurrent
// callers for one dir share one load. A caller whose ctx ends gets
// ctx.Err() at once while the load goes on for the others. Load errors go
// to every sharer and are not cached. If dir is invalidated (or updated)
// while its load runs, the result still goes to that load's callers but is
// not stored, and later Gets start a fresh load.
func (d *Dirs) Get(ctx context.Context, dir string, load func(ctx context.Context) ([]fs.FileInfo, error)) (*Listing, error) {
	d.mu.Lock()
	if l, ok := d.freshLocked(dir, true); ok {
		d.hits++
		d.mu.Unlock()
		return l, nil
	}
	if err := ctx.Err(); err != nil {
		d.mu.Unlock()
		return nil, err
	}
	d.misses++
	f := d.inflight[dir]
	if f == nil {
		f = d.startLocked(ctx, dir, load)
	}
	f.waiters++
	d.mu.Unlock()

	if err := f.wait(ctx); err != nil {
		d.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			// Nobody wants the result any more: free the connection it holds.
			d.disownLocked(dir, f)
			f.cancel()
		}
		d.mu.Unlock()
		return nil, err
	}
	return f.val, f.err
}

// startLocked registers a load of dir and starts it. The goroutine ends
// when load returns; load must honour its context.
func (d *Dirs) startLocked(ctx context.Context, dir string, load func(ctx context.Context) ([]fs.FileInfo, error)) *dirFlight {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &dirFlight{flight: *newFlight[*Listing](), cancel: cancel}
	d.inflight[dir] = f
	d.loads++
	started := d.now()
	go func() {
		entries, err := load(lctx)
		d.finish(dir, f, entries, err, started)
	}()
	return f
}

// finish publishes a load's result to its waiters and, unless the load was
// disowned or the cache keeps nothing, stores it.
func (d *Dirs) finish(dir string, f *dirFlight, entries []fs.FileInfo, err error, started time.Time) {
	var l *Listing
	if err == nil {
		l = newListing(entries, started)
	}
	d.mu.Lock()
	if d.inflight[dir] == f {
		delete(d.inflight, dir)
	}
	if err == nil && f.keep && d.ttl > 0 {
		d.lru.Add(dir, l)
	}
	f.val, f.err = l, err
	d.mu.Unlock()
	f.cancel()
	close(f.done)
}

// disownLocked stops f's result from being stored and lets later Gets of
// dir start a new load instead of joining f.
func (d *Dirs) disownLocked(dir string, f *dirFlight) {
	f.keep = false
	if d.inflight[dir] == f {
		delete(d.inflight, dir)
	}
}

// Peek returns dir's listing if it is cached and unexpired. It never loads
// and changes neither recency nor the counters.
func (d *Dirs) Peek(dir string) (*Listing, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.freshLocked(dir, false)
}

// Invalidate drops dir's listing and disowns any load of it in flight.
func (d *Dirs) Invalidate(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lru.Remove(dir)
	if f := d.inflight[dir]; f != nil {
		d.disownLocked(dir, f)
	}
}

// InvalidateTree drops dir and every directory below it ("/a" drops "/a"
// and "/a/b" but not "/ab"), as a rename or removal of dir needs. It scans
// all cached listings, which maxDirs bounds.
func (d *Dirs) InvalidateTree(dir string) {
	dir = strings.TrimSuffix(dir, "/") // "/" becomes "", so prefix "/" matches all
	prefix := dir + "/"
	under := func(p string) bool { return p == dir || strings.HasPrefix(p, prefix) }

	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.lru.Keys() {
		if under(p) {
			d.lru.Remove(p)
		}
	}
	for p, f := range d.inflight {
		if under(p) {
			d.disownLocked(p, f)
		}
	}
}

// Update patches dir's cached listing after a change the caller made
// itself (create, remove, rename within dir), saving a reload. If an
// unexpired listing is cached, fn gets a fresh copy of its entries to
// modify; the result (Names rebuilt, nil entries dropped) replaces the
// listing, keeping its Fetched time so the TTL is not extended. Readers
// holding the old *Listing see no change. With nothing cached it does
// nothing. Either way a load of dir in flight is disowned, since it may
// predate the change.
//
// fn runs with the cache locked: it must be quick and must not call d.
func (d *Dirs) Update(dir string, fn func(entries map[string]fs.FileInfo)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.inflight[dir]; f != nil {
		d.disownLocked(dir, f)
	}
	old, ok := d.freshLocked(dir, true)
	if !ok {
		return
	}
	m := maps.Clone(old.Entries)
	if m == nil {
		m = make(map[string]fs.FileInfo)
	}
	fn(m)
	d.lru.Add(dir, listingFromMap(m, old.Fetched))
}

// Purge drops every listing and disowns every load in flight (SIGHUP).
func (d *Dirs) Purge() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lru.Purge()
	for p, f := range d.inflight {
		d.disownLocked(p, f)
	}
}

// Stats returns a snapshot of the counters.
func (d *Dirs) Stats() DirStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DirStats{Hits: d.hits, Misses: d.misses, Loads: d.loads, Entries: d.lru.Len()}
}
