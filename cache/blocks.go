package cache

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// BlockKey names one block of one version of a remote file.
type BlockKey struct {
	Path string
	// Version is the file's identity at fetch time (e.g. size+mtime), so a
	// changed file gets new keys and stale blocks simply age out.
	Version string
	Index   int64 // block number; for a piece, its first byte
	// Piece is the length of a piece: a range fetched on its own, not a
	// whole block, for a read outside any sequential run. It keeps the two
	// kinds apart: a piece is never served as a block. 0 for a block.
	Piece int64
}

// Blocks is an LRU of file blocks bounded in bytes, with single-flight
// fills: concurrent readers of one block share one download.
//
// Slices it returns are shared with the cache and with other readers: they
// must not be modified. Slices given to it (from a fill or Add) become the
// cache's and must not be modified afterwards either.
//
// Bytes are counted as cap(data), the memory a block actually pins, so
// fills should return slices sized to their data.
type Blocks struct {
	maxBytes int64
	patience atomic.Pointer[func() time.Duration] // see SetPatience

	mu        sync.Mutex                       // guards the fields below
	lru       *simplelru.LRU[BlockKey, []byte] // evicted by bytes, not by count
	paths     map[string]map[BlockKey]struct{} // keys held, by path, for InvalidatePath and InvalidateTree
	inflight  map[BlockKey]*blockFlight        // fills running
	bytes     int64                            // sum of cap over held blocks; ≤ maxBytes
	hits      uint64
	misses    uint64
	evictions uint64 // blocks dropped to make room (not invalidations)
}

// errFillPanicked is what waiters get when the fill they share panics.
var errFillPanicked = errors.New("cache: block fill panicked")

// blockFlight is a fill; ctxErr records that it failed because the
// filler's own context ended, which says nothing about the block.
type blockFlight struct {
	flight[[]byte]
	ctxErr bool
	// bg: the fill is background work (read-ahead, prefetch), started
	// under fillCtx. A foreground caller joining it promotes fillCtx and
	// waits only the patience for it (see join).
	bg      bool
	fillCtx context.Context
}

// DefaultPatience is how long a foreground Get waits for a background
// fill of its block before fetching on its own, unless SetPatience says
// otherwise: a few round trips on a slow link.
const DefaultPatience = 100 * time.Millisecond

// BlockStats is a snapshot of a Blocks' counters.
type BlockStats struct {
	Hits, Misses, Evictions uint64
	Bytes                   int64 // held, counted as cap of each block
	Entries                 int
}

// NewBlocks returns a block cache holding at most maxBytes bytes. With
// maxBytes ≤ 0 nothing is kept, but concurrent Gets still share fills.
func NewBlocks(maxBytes int64) *Blocks {
	b := &Blocks{
		maxBytes: maxBytes,
		paths:    make(map[string]map[BlockKey]struct{}),
		inflight: make(map[BlockKey]*blockFlight),
	}
	// simplelru needs an entry limit; make it unreachable so only the byte
	// bound in addLocked evicts.
	lru, err := simplelru.NewLRU[BlockKey, []byte](math.MaxInt, b.onRemoveLocked)
	if err != nil {
		panic(err) // only for size ≤ 0
	}
	b.lru = lru
	return b
}

// SetPatience sets how long a foreground Get waits for a background fill
// it joined (asked at each wait, so it can follow a measured round trip).
// A result ≤ 0 means DefaultPatience.
func (b *Blocks) SetPatience(patience func() time.Duration) { b.patience.Store(&patience) }

// Patience is how long a foreground caller waits for background work.
func (b *Blocks) Patience() time.Duration {
	if p := b.patience.Load(); p != nil {
		if d := (*p)(); d > 0 {
			return d
		}
	}
	return DefaultPatience
}

// patienceKey carries a Get's own patience (WithPatience).
type patienceKey struct{}

// WithPatience bounds how long a Get under ctx waits for background work
// it joins to d, in place of Patience: for a caller that waited for that
// work already elsewhere, so that its waits add up to one patience.
func WithPatience(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, patienceKey{}, max(d, 0))
}

// patienceFor is the patience of a Get under ctx.
func (b *Blocks) patienceFor(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(patienceKey{}).(time.Duration); ok {
		return d
	}
	return b.Patience()
}

// MaxBytes is the cache's bound.
func (b *Blocks) MaxBytes() int64 { return b.maxBytes }

// onRemoveLocked keeps bytes and the path index in step with the LRU; the
// LRU calls it for every removal (eviction, Remove, Purge).
func (b *Blocks) onRemoveLocked(key BlockKey, data []byte) {
	b.bytes -= int64(cap(data))
	if keys := b.paths[key.Path]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(b.paths, key.Path)
		}
	}
}

// Get returns the block for key, from the cache or by calling fill. Only
// one fill per key runs at a time: other callers wait for it, honouring
// their own ctx while they wait. A fill error goes to every waiter and is
// not cached, except that a waiter whose fill failed only because the
// filler's ctx ended (not its own) retries, filling itself if need be.
// A block larger than the cache is returned but not kept.
//
// A fill started under a background ctx (package priority) is background
// work: a foreground caller that joins it promotes it, waits for it no
// longer than Patience, then fills on its own (the background result is
// then not stored), and retries on any error of it, since background
// work gives up quietly (e.g. preempted).
//
// The returned slice is shared: callers must not modify it.
func (b *Blocks) Get(ctx context.Context, key BlockKey, fill func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	b.mu.Lock()
	if data, ok := b.lru.Get(key); ok {
		b.hits++
		b.mu.Unlock()
		return data, nil
	}
	b.misses++
	for {
		// b.mu is held here.
		f := b.inflight[key]
		if f == nil {
			f = &blockFlight{flight: *newFlight[[]byte](), bg: priority.IsBackground(ctx), fillCtx: ctx}
			b.inflight[key] = f
			b.mu.Unlock()
			return b.fill(ctx, key, f, fill)
		}
		b.mu.Unlock()
		data, again, err := b.join(ctx, key, f)
		if !again {
			return data, err
		}
		// Look again: another waiter may have refilled the block or
		// started a fill meanwhile.
		b.mu.Lock()
		if data, ok := b.lru.Get(key); ok {
			b.mu.Unlock()
			return data, nil
		}
	}
}

// join waits for the fill f of key. again says that its result is not the
// caller's to take (the filler gave up, or background work was too slow
// for a foreground caller) and the caller should look again.
func (b *Blocks) join(ctx context.Context, key BlockKey, f *blockFlight) (data []byte, again bool, err error) {
	takeOver := f.bg && !priority.IsBackground(ctx)
	if takeOver {
		priority.Promote(f.fillCtx)
		ended, err := f.waitFor(ctx, b.patienceFor(ctx))
		if err != nil {
			return nil, false, err
		}
		if !ended {
			// Not making progress: the caller fills on its own, and later
			// callers join that fill instead.
			b.mu.Lock()
			b.disownLocked(key, f)
			b.mu.Unlock()
			return nil, true, nil
		}
	} else if err := f.wait(ctx); err != nil {
		return nil, false, err
	}
	if f.err == nil || !f.ctxErr && !takeOver {
		return f.val, false, f.err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

// fill runs fill for f's waiters and stores a good result unless the
// flight was disowned. The deferred part releases the waiters even if fill
// panics (the panic then continues up the caller's stack).
func (b *Blocks) fill(ctx context.Context, key BlockKey, f *blockFlight, fill func(ctx context.Context) ([]byte, error)) (data []byte, err error) {
	f.err = errFillPanicked
	defer func() {
		b.mu.Lock()
		if b.inflight[key] == f {
			delete(b.inflight, key)
		}
		if f.err == nil && f.keep {
			b.addLocked(key, f.val)
		}
		b.mu.Unlock()
		close(f.done)
	}()
	data, err = fill(ctx)
	f.val, f.err = data, err
	f.ctxErr = isContextErr(err) && ctx.Err() != nil
	return data, err
}

// Peek returns the block for key if it is cached. It neither fills nor
// changes recency or the counters. The slice must not be modified.
func (b *Blocks) Peek(key BlockKey) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Peek(key)
}

// Add stores data under key (read-ahead), replacing any block there. Data
// larger than the cache is not kept (and the old block is dropped).
func (b *Blocks) Add(key BlockKey, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addLocked(key, data)
}

// addLocked inserts data, first evicting least recently used blocks until
// it fits, so bytes never exceeds maxBytes.
func (b *Blocks) addLocked(key BlockKey, data []byte) {
	b.lru.Remove(key) // replacing: onRemoveLocked returns its bytes
	size := int64(cap(data))
	if size > b.maxBytes {
		return
	}
	for b.bytes+size > b.maxBytes {
		if _, _, ok := b.lru.RemoveOldest(); !ok {
			break
		}
		b.evictions++
	}
	b.lru.Add(key, data)
	b.bytes += size
	keys := b.paths[key.Path]
	if keys == nil {
		keys = make(map[BlockKey]struct{})
		b.paths[key.Path] = keys
	}
	keys[key] = struct{}{}
}

// Holds reports whether any block of path, of any version, is cached.
func (b *Blocks) Holds(path string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.paths[path]) > 0
}

// InvalidatePath drops every block of path, of any version, and disowns
// fills of it in flight so their (possibly stale) data is not stored.
func (b *Blocks) InvalidatePath(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for key := range b.paths[path] {
		b.lru.Remove(key) // deletes key from b.paths[path], safe during range
	}
	// Fills in flight are few (one per concurrent reader), so a scan is cheap.
	for key, f := range b.inflight {
		if key.Path == path {
			b.disownLocked(key, f)
		}
	}
}

// InvalidateTree drops every block of dir and of every path below it
// ("/a" drops "/a" and "/a/b" but not "/ab"), and disowns fills of them
// in flight, as a rename or removal of directory dir needs: a file moved
// in under an old name may have the same size and time, hence the same
// key, as the one that was there. It scans the path index and the fills
// in flight; renames of directories are rare next to reads.
func (b *Blocks) InvalidateTree(dir string) {
	under := underDir(dir)

	b.mu.Lock()
	defer b.mu.Unlock()
	for p, keys := range b.paths {
		if under(p) {
			for key := range keys {
				b.lru.Remove(key) // deletes from b.paths, safe during range
			}
		}
	}
	for key, f := range b.inflight {
		if under(key.Path) {
			b.disownLocked(key, f)
		}
	}
}

// disownLocked stops f's result from being stored and lets later Gets of
// key start a new fill instead of joining f.
func (b *Blocks) disownLocked(key BlockKey, f *blockFlight) {
	f.keep = false
	if b.inflight[key] == f {
		delete(b.inflight, key)
	}
}

// Purge drops every block and disowns every fill in flight (SIGHUP).
func (b *Blocks) Purge() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lru.Purge()
	for key, f := range b.inflight {
		b.disownLocked(key, f)
	}
}

// Stats returns a snapshot of the counters.
func (b *Blocks) Stats() BlockStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BlockStats{
		Hits: b.hits, Misses: b.misses, Evictions: b.evictions,
		Bytes: b.bytes, Entries: b.lru.Len(),
	}
}
