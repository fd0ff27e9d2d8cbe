package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"slices"
	"sync"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/ftpsfs/ftpsfs/cache"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// Small files fetched ahead. A program that reads the files of a directory
// one by one (cat *, grep -r, a backup) pays several round trips per file
// (open, REST/RETR, the transfer's end), which on a long link dwarf the
// transfer of a small file. So when the file opened for reading is the one
// after the previous one in its directory's listing order, the next few
// small files (one block at most) are fetched into the block cache, under
// the keys their own opens will use, by a few background workers: their
// opens then read without a round trip. An open out of that order stops
// it for the directory.
//
// A prefetch never changes what is read: it fetches under the version its
// listing gives (a changed file gets a new key), skips a file with a
// spool (written here) or no longer listed as it was, and checks that
// again with its cache flight registered, so a local change that comes
// later (InvalidatePath) disowns the flight and its result is not stored.
const (
	defaultPrefetch = 8       // files fetched ahead of the reader, per directory (Config.PrefetchFiles)
	walkSpread      = 8       // how far apart the opens of one walk may be (parallel readers)
	prefetchMaxDirs = 64      // directories whose reading order is followed
	maxPrefetchSize = 8 << 20 // bytes ahead at most, and an eighth of the block cache
)

// errPrefetchStale: the file changed since it was queued; not fetched.
var errPrefetchStale = errors.New("prefetch: file changed since it was listed")

// filePrefetch follows reading order per directory and runs the fetches.
//
// mu guards every field but ctx and stop; it is a leaf, never held across
// the network (the workers take it only to pick a job and to settle its
// bytes).
type filePrefetch struct {
	ctx  context.Context // ended at unmount: workers stop, fetches end
	stop context.CancelFunc

	mu      sync.Mutex
	walks   *simplelru.LRU[string, *dirWalk] // by remote directory
	queue   []prefetchJob
	workers int   // worker goroutines running
	bytes   int64 // sizes of the files fetched ahead and not opened since
	// fetching are the files workers are fetching now; orphans those of
	// them whose walk ended meanwhile: their bytes stay counted until the
	// fetch ends, so ended walks never put more in flight than the budget.
	fetching map[string]bool
	orphans  map[string]int64
}

func newFilePrefetch() filePrefetch {
	ctx, stop := context.WithCancel(context.Background())
	return filePrefetch{ctx: ctx, stop: stop, fetching: map[string]bool{}, orphans: map[string]int64{}}
}

// close stops prefetch for good (unmount): queued files are dropped and
// fetches running end.
func (fp *filePrefetch) close() {
	fp.stop()
	fp.mu.Lock()
	fp.queue = nil
	fp.mu.Unlock()
}

// dirWalk is the reading order seen in one directory.
type dirWalk struct {
	last  string           // the file last opened for reading
	until string           // the furthest file queued (names sort in listing order)
	ahead map[string]int64 // files queued or fetched and not opened yet: their sizes
}

// prefetchJob is one file to fetch ahead.
type prefetchJob struct {
	parent  *gofs.Inode // the directory's node: its child tells a file written here
	dir     string
	fi      fs.FileInfo
	fetched time.Time // the listing's Started: the file's content version names it
}

func (j prefetchJob) path() string { return path.Join(j.dir, j.fi.Name()) }

// prefetchBudget is how many bytes may be fetched ahead and not yet opened.
func (f *FS) prefetchBudget() int64 {
	return min(f.blocks.MaxBytes()/8, maxPrefetchSize)
}

// prefetchWorkers is how many files are fetched ahead at once: as many as
// there are stream slots (all connections but one). Each fetch is mostly
// round trips (EPSV, RETR, the data connection's handshake, the reply), so
// throughput grows with the fetches in flight; programs lose nothing by
// it, since the pool serves background work only while no program waits,
// keeps one connection back from it and takes the others back within a
// few round trips (package pool's scheduler).
func (f *FS) prefetchWorkers() int {
	if lo, ok := f.remote.(LaneOpener); ok {
		return max(1, lo.ReadLanes())
	}
	return 2
}

// smallFile reports whether fi is a regular file of one block at most,
// with something to read.
func (f *FS) smallFile(fi fs.FileInfo) bool {
	_, local := fi.(localEntry) // created or written here: not on the server yet
	return fi.Mode().IsRegular() && !local && fi.Size() > 0 && fi.Size() <= int64(f.cfg.BlockSize)
}

// readOpened records that n, at p, was opened for reading and queues the
// next files of its directory when this continues a walk in listing order.
func (f *FS) readOpened(n *fileNode, p string) {
	if f.cfg.PrefetchFiles < 0 {
		return
	}
	dir, name := path.Dir(p), path.Base(p)
	l, ok := f.dirs.Peek(dir)
	if !ok {
		return
	}
	_, parent := n.Parent()
	if parent == nil {
		return
	}
	budget, workers := f.prefetchBudget(), f.prefetchWorkers() // before fp.mu: a leaf
	fp := &f.prefetch
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.ctx.Err() != nil {
		return // unmounted
	}
	w := fp.walkLocked(dir)
	if size, ok := w.ahead[name]; ok {
		delete(w.ahead, name)
		fp.bytes -= size
		// Opened before its turn came: the program's read fetches it.
		fp.queue = slices.DeleteFunc(fp.queue, func(j prefetchJob) bool { return j.dir == dir && j.fi.Name() == name })
	}
	if name == w.last {
		return // opened again
	}
	switch {
	case w.last != "" && within(l, w.last, name):
		fp.passLocked(dir, w, w.last)
		w.last = name // on in listing order
	case w.last != "" && within(l, name, w.last):
		return // just behind: programs reading files in parallel
	default:
		w.last = name
		fp.stopLocked(dir, w)
		return
	}
	next := name
	for range f.cfg.PrefetchFiles {
		if next = nextFile(l, next); next == "" {
			break
		}
		if next <= w.until {
			continue // queued already
		}
		fi, _ := l.Lookup(next)
		if !f.smallFile(fi) {
			w.until = next
			continue
		}
		if !fp.roomLocked(dir, fi.Size(), budget) {
			break
		}
		w.until = next
		w.ahead[next] = fi.Size()
		fp.bytes += fi.Size()
		fp.queue = append(fp.queue, prefetchJob{parent: parent, dir: dir, fi: fi, fetched: l.Started})
	}
	for fp.workers < workers && fp.workers < len(fp.queue) {
		fp.workers++
		go f.prefetchWorker()
	}
}

// walkLocked returns dir's walk, starting one if there is none.
func (fp *filePrefetch) walkLocked(dir string) *dirWalk {
	if fp.walks == nil {
		// Evicting a walk ends it: its queued files are dropped (they
		// would be fetched uncounted), and its files fetched already stay
		// cached as any block does but no longer hold back other walks.
		lru, err := simplelru.NewLRU[string, *dirWalk](prefetchMaxDirs, func(dir string, w *dirWalk) {
			fp.stopLocked(dir, w)
		})
		if err != nil {
			panic(err) // only for a size ≤ 0
		}
		fp.walks = lru
	}
	w, ok := fp.walks.Get(dir)
	if !ok {
		w = &dirWalk{ahead: map[string]int64{}}
		fp.walks.Add(dir, w)
	}
	return w
}

// forgetTree ends the walks in dir and below it (renamed or removed): a
// directory moved in under the name is a new walk, and files fetched
// ahead there no longer hold the budget.
func (fp *filePrefetch) forgetTree(dir string) {
	under := underTree(dir)
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.walks == nil {
		return
	}
	for _, d := range fp.walks.Keys() {
		if under(d) {
			fp.walks.Remove(d) // the eviction callback stops it
		}
	}
}

// stopLocked ends dir's walk: queued files of it are dropped.
func (fp *filePrefetch) stopLocked(dir string, w *dirWalk) {
	fp.queue = slices.DeleteFunc(fp.queue, func(j prefetchJob) bool { return j.dir == dir })
	for name, size := range w.ahead {
		fp.releaseLocked(path.Join(dir, name), size)
	}
	clear(w.ahead)
	w.until = ""
}

// passLocked stops counting the files of w fetched ahead that sort before
// name, the file opened before this one: the walk passed them by two
// opens, so the program skipped them (cat *.txt among other files). They
// stay cached, but would otherwise hold the budget for the rest of the
// walk, which reclaimLocked never frees. Files passed by one open only
// are kept: parallel readers of the walk (xargs -P) open them a little
// late.
func (fp *filePrefetch) passLocked(dir string, w *dirWalk, name string) {
	passed := false
	for file, size := range w.ahead {
		if file < name {
			delete(w.ahead, file)
			fp.releaseLocked(path.Join(dir, file), size)
			passed = true
		}
	}
	if passed {
		fp.queue = slices.DeleteFunc(fp.queue, func(j prefetchJob) bool { return j.dir == dir && j.fi.Name() < name })
	}
}

// releaseLocked stops counting the size bytes of file p fetched ahead,
// or, while a worker is fetching it, once that fetch ends.
func (fp *filePrefetch) releaseLocked(p string, size int64) {
	if fp.fetching[p] {
		fp.orphans[p] += size
		return
	}
	fp.bytes -= size
}

// roomLocked reports whether size more bytes fit the budget, reclaiming
// older walks' bytes if need be.
func (fp *filePrefetch) roomLocked(dir string, size, budget int64) bool {
	for fp.bytes+size > budget {
		if !fp.reclaimLocked(dir) {
			return false
		}
	}
	return true
}

// reclaimLocked makes room for dir's walk by forgetting the bytes of the
// walk followed longest ago in another directory (a program that stopped
// reading there leaves its files cached but must not stop prefetch for
// good). It reports whether it freed anything.
func (fp *filePrefetch) reclaimLocked(dir string) bool {
	for _, d := range fp.walks.Keys() { // oldest first
		if w, _ := fp.walks.Peek(d); d != dir && len(w.ahead) > 0 {
			fp.stopLocked(d, w)
			return true
		}
	}
	return false
}

// within reports whether file to is among the walkSpread regular files
// after from in l's order: several readers of one walk (xargs -P) open
// files a little out of order.
func within(l *cache.Listing, from, to string) bool {
	next := from
	for range walkSpread {
		if next = nextFile(l, next); next == "" || next > to {
			return false
		}
		if next == to {
			return true
		}
	}
	return false
}

// nextFile is the regular file after name in l's order, or "".
func nextFile(l *cache.Listing, name string) string {
	i, found := slices.BinarySearch(l.Names, name)
	if found {
		i++
	}
	for ; i < len(l.Names); i++ {
		if fi, _ := l.Lookup(l.Names[i]); fi.Mode().IsRegular() {
			return l.Names[i]
		}
	}
	return ""
}

// prefetchWorker fetches queued files until none are left.
func (f *FS) prefetchWorker() {
	fp := &f.prefetch
	for {
		fp.mu.Lock()
		if len(fp.queue) == 0 || fp.ctx.Err() != nil {
			fp.workers--
			fp.mu.Unlock()
			return
		}
		j := fp.queue[0]
		fp.queue = fp.queue[1:]
		p := j.path()
		fp.fetching[p] = true
		fp.mu.Unlock()
		err := f.prefetchFile(j)
		if err != nil {
			f.log.Debug("prefetch given up", "path", p, "err", err)
		}
		fp.mu.Lock()
		delete(fp.fetching, p)
		if size, ok := fp.orphans[p]; ok {
			delete(fp.orphans, p)
			fp.bytes -= size
		}
		if w, ok := fp.walks.Peek(j.dir); ok && err != nil {
			if size, ok := w.ahead[j.fi.Name()]; ok {
				delete(w.ahead, j.fi.Name())
				fp.bytes -= size
			}
		}
		fp.mu.Unlock()
	}
}

// prefetchFile fetches j's file into the block cache as background work:
// a program's requests go first, and any error just ends it (the open
// that needs the file fetches it and reports what goes wrong).
func (f *FS) prefetchFile(j prefetchJob) error {
	ctx, cancel := context.WithTimeout(priority.Background(f.prefetch.ctx), f.cfg.Timeout)
	defer cancel()
	if !f.stillListed(j) {
		return errPrefetchStale
	}
	p := j.path()
	// The version an open under the same listing would settle. Under a
	// rounded listing (LIST) that is one without an exact time, as for any
	// small file opened first: after dir_cache_ttl, the next open asks
	// MDTM and fetches it again. Asking MDTM here instead would cost every
	// file fetched ahead one more round trip, to save a download only for
	// walks repeated after the TTL.
	key := cache.BlockKey{Path: p, Version: f.openVersion(ctx, p, j.fi, j.fetched)}
	_, err := f.blocks.Get(ctx, key, func(ctx context.Context) ([]byte, error) {
		// Checked again with the flight registered: a change from here on
		// invalidates the path, which disowns this fill.
		if !f.stillListed(j) {
			return nil, errPrefetchStale
		}
		s := blockStream{reader: f.openLaneReader(p, j.fi.Size()), next: -1}
		defer func() { _ = s.reader.Close() }()
		return s.readBlock(ctx, 0, f.cfg.BlockSize, j.fi.Size())
	})
	return err
}

// stillListed reports whether j's file is as it was when queued: the same
// listing shows the same version, and nothing here writes it.
func (f *FS) stillListed(j prefetchJob) bool {
	l, ok := f.dirs.Peek(j.dir)
	if !ok || !l.Started.Equal(j.fetched) {
		return false
	}
	fi, ok := l.Lookup(j.fi.Name())
	if !ok || !f.smallFile(fi) || version(fi) != version(j.fi) {
		return false
	}
	if child := j.parent.GetChild(j.fi.Name()); child != nil {
		if n, ok := child.Operations().(*fileNode); ok {
			n.mu.Lock()
			written := n.w != nil || n.unlinked
			n.mu.Unlock()
			return !written
		}
	}
	return true
}
