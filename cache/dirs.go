package cache

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// Dirs caches directory listings by absolute remote path ("/a/b"; "/" for
// the root) for a fixed TTL counted from each listing's arrival. A name
// absent from a cached listing is a negative entry: lookups of it are
// answered without the server.
//
// Memory is bounded twice: by the number of listings (maxDirs) and by
// their estimated bytes (MaxBytes; see EntryOverhead), least recently used
// dropped first. A listing larger than the whole budget goes to its
// callers but is not kept. Expired listings are dropped by [Dirs.Sweep]
// (run it on a timer with [Dirs.SweepEvery]) without waiting to be asked
// for again.
//
// Loads are shared: concurrent Gets of one directory run one load. The load
// runs in its own goroutine under a context that keeps the first caller's
// values but not its cancellation, so one impatient caller cannot fail the
// load for the others; it is cancelled when every caller has given up.
type Dirs struct {
	ttl      time.Duration
	maxBytes int64
	now      func() time.Time

	mu       sync.Mutex                       // guards the fields below
	lru      *simplelru.LRU[string, *Listing] // bounded by maxDirs and maxBytes
	bytes    int64                            // sum of Bytes() over held listings; ≤ maxBytes
	inflight map[string]*dirFlight            // by dir; at most one per dir
	hits     uint64                           // Gets answered from the cache
	misses   uint64                           // Gets that had to wait for a load
	loads    uint64                           // load calls started
	swept    uint64                           // expired listings dropped by Sweep
}

// DefaultMaxBytes is the listing cache's byte budget unless told otherwise:
// about 250,000 entries with short names.
const DefaultMaxBytes = 64 << 20

// ErrStillLoading is what [Dirs.GetWithin] returns when the listing is
// still arriving after the caller's patience ran out; the load goes on.
var ErrStillLoading = errors.New("cache: listing still arriving")

// dirFlight is a listing load plus what Dirs needs to stop it.
type dirFlight struct {
	flight[*Listing]
	waiters int                     // callers still waiting; guarded by Dirs.mu
	cancel  context.CancelCauseFunc // cancels the load's context; the cause says why (see disownLocked)
	started time.Time               // when the load began
	ctx     context.Context         // the load's; a joiner promotes it (priority.Promote)
	// arriving are its entries so far (partial.go); set before the load
	// starts, closed when it ends or is disowned.
	arriving *arrivals
	// prefetch is the prefetching lifetime of a background load that may
	// still be retried once (Prefetch); nil otherwise. Guarded by Dirs.mu.
	prefetch context.Context
}

// DirStats is a snapshot of a Dirs' counters.
type DirStats struct {
	Hits, Misses, Loads uint64
	Swept               uint64 // expired listings dropped by Sweep
	Entries             int    // listings held, including expired ones not yet swept
	Bytes               int64  // their estimated memory
}

// NewDirs returns a listing cache keeping each listing for ttl after it
// arrived, at most maxDirs listings (values below 1 mean 1) and at most
// DefaultMaxBytes of them. ttl ≤ 0 keeps nothing: every Get loads, though
// concurrent Gets of one directory still share one load. now nil means
// time.Now; tests inject a clock here.
func NewDirs(ttl time.Duration, maxDirs int, now func() time.Time) *Dirs {
	return NewDirsBytes(ttl, maxDirs, DefaultMaxBytes, now)
}

// NewDirsBytes is NewDirs with a byte budget of maxBytes (≤ 0 keeps
// nothing, as ttl ≤ 0 does).
func NewDirsBytes(ttl time.Duration, maxDirs int, maxBytes int64, now func() time.Time) *Dirs {
	if now == nil {
		now = time.Now
	}
	d := &Dirs{ttl: ttl, maxBytes: maxBytes, now: now, inflight: make(map[string]*dirFlight)}
	lru, err := simplelru.NewLRU[string, *Listing](max(maxDirs, 1), d.onRemoveLocked)
	if err != nil {
		panic(err) // only for size ≤ 0, excluded above
	}
	d.lru = lru
	return d
}

// MaxBytes is the byte budget.
func (d *Dirs) MaxBytes() int64 { return d.maxBytes }

// onRemoveLocked keeps bytes in step with the LRU, which calls it for
// every removal (eviction by count, Remove, RemoveOldest, Purge).
func (d *Dirs) onRemoveLocked(_ string, l *Listing) { d.bytes -= l.Bytes() }

// addLocked stores l, dropping least recently used listings until it fits
// the byte budget; a listing larger than the budget is not kept (and any
// older listing of dir is dropped).
func (d *Dirs) addLocked(dir string, l *Listing) {
	d.lru.Remove(dir) // Add would replace in place without onRemoveLocked
	if d.ttl <= 0 || l.Bytes() > d.maxBytes {
		return
	}
	for d.bytes+l.Bytes() > d.maxBytes {
		if _, _, ok := d.lru.RemoveOldest(); !ok {
			break
		}
	}
	d.lru.Add(dir, l)
	d.bytes += l.Bytes()
}

// expiredLocked says whether l is past its TTL.
func (d *Dirs) expiredLocked(l *Listing) bool { return d.now().Sub(l.Arrived) >= d.ttl }

// Sweep drops every expired listing, so their memory is freed without
// their directories being asked for again.
func (d *Dirs) Sweep() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dir := range d.lru.Keys() {
		if l, ok := d.lru.Peek(dir); ok && d.expiredLocked(l) {
			d.lru.Remove(dir)
			d.swept++
		}
	}
}

// SweepEvery runs Sweep every interval until ctx ends, in one goroutine
// that returns when ctx does. The caller cancels ctx at unmount.
func (d *Dirs) SweepEvery(ctx context.Context, interval time.Duration) {
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				d.Sweep()
			}
		}
	}()
}

// SweepInterval is how often a mount sweeps: half the TTL, so an expired
// listing is held at most 1.5 TTL after it arrived, but not more often
// than once a second (each sweep scans every held listing).
func SweepInterval(ttl time.Duration) time.Duration { return max(ttl/2, time.Second) }

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
	if d.expiredLocked(l) {
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
	l, f, _, err := d.join(ctx, dir, load)
	if l != nil || err != nil {
		return l, err
	}
	if err := f.wait(ctx); err != nil {
		d.leave(dir, f, err)
		return nil, err
	}
	return f.val, f.err
}

// GetWithin is Get for a caller that needs only part of the listing (a
// lookup of one name): if dir's load has been running for patience (from
// its start, whoever started it) and still has not arrived, it returns
// ErrStillLoading and the caller asks the server about its one name
// instead. The load goes on for the other callers and for the cache; when
// nobody waits for it any more it still runs to its end, which its own
// context bounds (the load function's deadline), so that the listing is
// there for the next lookups instead of being started again by each.
func (d *Dirs) GetWithin(ctx context.Context, dir string, patience time.Duration, load func(ctx context.Context) ([]fs.FileInfo, error)) (*Listing, error) {
	l, f, age, err := d.join(ctx, dir, load)
	if l != nil || err != nil {
		return l, err
	}
	pctx, cancel := context.WithTimeout(ctx, max(patience-age, 0))
	defer cancel()
	if err := f.wait(pctx); err != nil {
		ownErr := ctx.Err()
		d.leave(dir, f, ownErr)
		if ownErr != nil {
			return nil, ownErr
		}
		return nil, ErrStillLoading
	}
	return f.val, f.err
}

// join returns dir's fresh cached listing, or else the load of it (started
// if none runs) with the caller counted among its waiters, and how long
// that load has been running.
func (d *Dirs) join(ctx context.Context, dir string, load func(ctx context.Context) ([]fs.FileInfo, error)) (*Listing, *dirFlight, time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.freshLocked(dir, true); ok {
		d.hits++
		return l, nil, 0, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, 0, err
	}
	d.misses++
	f := d.inflight[dir]
	if f == nil {
		f = d.startLocked(ctx, dir, load)
	}
	priority.Promote(f.ctx) // a program waits for it now (a prefetch's; see Prefetch)
	f.waiters++
	return nil, f, d.now().Sub(f.started), nil
}

// leave counts a waiter that stopped waiting out of f. The last one out of
// a load nobody wants any more (its callers gave up, and cause says why,
// or a change disowned it) stops it and frees the connection it holds. The
// cause goes first: a deadline tells the pool the server kept them waiting,
// which disownLocked's own plain cancellation would not.
//
// A caller that gave up (cause set) and so stopped the load then waits for
// it to let go, at most stoppedLoadWait: what the load's end tells the pool
// (the server did not answer in time, so later operations get a short
// wait) must be known before the caller's error reaches the program. The
// kernel retries a lookup that failed at once, and that retry, started a
// moment before the pool heard, would wait a whole timeout again.
func (d *Dirs) leave(dir string, f *dirFlight, cause error) {
	d.mu.Lock()
	f.waiters--
	stopped := f.waiters == 0 && (cause != nil || !f.keep)
	if stopped {
		f.cancel(cause) // nil reads as context.Canceled
		d.disownLocked(dir, f)
	}
	d.mu.Unlock()
	if stopped && cause != nil {
		_, _ = f.waitFor(context.Background(), stoppedLoadWait)
	}
}

// stoppedLoadWait bounds how long a caller that stopped a load waits for
// it to end (see leave): a load honours its context within a few
// milliseconds (the pool closes the sockets under it).
const stoppedLoadWait = time.Second

// startLocked registers a load of dir and starts it. The goroutine ends
// when load returns; load must honour its context.
func (d *Dirs) startLocked(ctx context.Context, dir string, load func(ctx context.Context) ([]fs.FileInfo, error)) *dirFlight {
	lctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	f := &dirFlight{flight: *newFlight[*Listing](), cancel: cancel, started: d.now(), arriving: newArrivals()}
	lctx = arriving.WithSink(lctx, f.arriving)
	f.ctx = lctx
	d.inflight[dir] = f
	d.loads++
	go func() {
		for {
			entries, err := load(lctx)
			if d.finish(dir, f, entries, err) {
				return
			}
		}
	}()
	return f
}

// finish publishes a load's result to its waiters and, unless the load was
// disowned or the cache keeps nothing, stores it. It returns false instead
// when the load is to run again (retryLocked): decided under d.mu, where
// joins count themselves, so no joiner comes between the decision and the
// result.
func (d *Dirs) finish(dir string, f *dirFlight, entries []fs.FileInfo, err error) bool {
	var l *Listing
	if err == nil {
		l = newListing(entries, f.started, d.now())
	}
	d.mu.Lock()
	if d.retryLocked(f, err) {
		d.mu.Unlock()
		return false
	}
	if d.inflight[dir] == f {
		delete(d.inflight, dir)
	}
	if err == nil && f.keep {
		d.addLocked(dir, l)
	}
	f.val, f.err = l, err
	d.mu.Unlock()
	f.arriving.close()
	f.cancel(nil)
	close(f.done)
	return true
}

// disownLocked stops f's result from being stored and lets later Gets of
// dir start a new load instead of joining f.
func (d *Dirs) disownLocked(dir string, f *dirFlight) {
	f.keep = false
	f.arriving.close()
	if d.inflight[dir] == f {
		delete(d.inflight, dir)
	}
	if f.waiters == 0 {
		// Nobody waits and it will not be kept: free its connection. A plain
		// cancellation, which the pool does not take for a silent server.
		f.cancel(nil)
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

// underDir reports whether a path is dir or below it ("/a" holds "/a" and
// "/a/b" but not "/ab"; "/" holds every path).
func underDir(dir string) func(string) bool {
	dir = strings.TrimSuffix(dir, "/") // "/" becomes "", so prefix "/" matches all
	prefix := dir + "/"
	return func(p string) bool { return p == dir || strings.HasPrefix(p, prefix) }
}

// InvalidateTree drops dir and every directory below it ("/a" drops "/a"
// and "/a/b" but not "/ab"), as a rename or removal of dir needs. It scans
// all cached listings, which maxDirs bounds.
func (d *Dirs) InvalidateTree(dir string) {
	under := underDir(dir)

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
// listing, keeping its Started and Arrived times so the TTL is not
// extended. Readers
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
	d.addLocked(dir, listingFromMap(m, old.Started, old.Arrived))
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
	return DirStats{Hits: d.hits, Misses: d.misses, Loads: d.loads, Swept: d.swept, Entries: d.lru.Len(), Bytes: d.bytes}
}

// TTL is how long a listing is kept after it arrived.
func (d *Dirs) TTL() time.Duration { return d.ttl }
