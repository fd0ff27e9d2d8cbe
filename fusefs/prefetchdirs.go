package fusefs

import (
	"context"
	"io/fs"
	"path"
	"sync"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// A tree walk (find, du, rsync, ls -R) lists one directory after another,
// each a round trip or more. When a program's listing of a directory
// arrives, dirPrefetch queues listings of its subdirectories, in listing
// order, and runs a few of them at once in the background on connections
// nobody else needs (cache.Dirs.Prefetch), so that the walk finds them
// listed.
//
// It stays at most one level ahead of the walk: only a listing a program
// used queues its children (used is called from readdir and lookups), so
// a prefetched listing nobody came to does not cascade. Queued entries
// are dropped when nobody walks their parent any more, and everything
// stops at unmount.
const (
	// prefetchQueueMax bounds the queue; when full the oldest entry goes:
	// the walk has moved on from it.
	prefetchQueueMax = 256
	// prefetchIdle is how long after the last program use of a parent
	// its queued children are still wanted.
	prefetchIdle = 3 * time.Second
)

// dirPrefetch is the mount's listing prefetcher. A nil one does nothing.
type dirPrefetch struct {
	dirs   *cache.Dirs
	loader func(dir string) func(ctx context.Context) ([]fs.FileInfo, error)
	max    int                // prefetch loads in flight at most
	ctx    context.Context    // ends at unmount; stops the loads
	stop   context.CancelFunc // called at unmount

	mu       sync.Mutex           // guards the fields below; a leaf
	queue    []prefetchItem       // FIFO, at most prefetchQueueMax
	queued   map[string]bool      // dirs in queue
	walked   map[string]walkState // by dir: programs' recent uses
	inflight int                  // prefetch loads running
}

type prefetchItem struct{ dir, parent string }

// walkState is a directory's last program use, and which listing's
// children were queued then (each listing queues them once). The listing
// is named by its times, not held: an idle mount must not keep listings
// the cache let go.
type walkState struct {
	at     time.Time
	queued [2]time.Time // Started, Arrived
}

func newDirPrefetch(dirs *cache.Dirs, max int, loader func(string) func(context.Context) ([]fs.FileInfo, error)) *dirPrefetch {
	if max <= 0 {
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	return &dirPrefetch{dirs: dirs, loader: loader, max: max, ctx: ctx, stop: stop,
		queued: make(map[string]bool), walked: make(map[string]walkState)}
}

// used records that a program used dir's listing l, and queues the
// listings of its subdirectories (symlinks are not followed) the first
// time it sees l.
func (p *dirPrefetch) used(dir string, l *cache.Listing) {
	if p == nil || l == nil {
		return
	}
	now := time.Now()
	id := [2]time.Time{l.Started, l.Arrived}
	p.mu.Lock()
	first := p.walked[dir].queued != id
	p.walked[dir] = walkState{at: now, queued: id}
	// A walk inside dir is still a walk of its parent: dir's queued
	// siblings stay wanted.
	if pw, ok := p.walked[path.Dir(dir)]; ok && dir != "/" {
		pw.at = now
		p.walked[path.Dir(dir)] = pw
	}
	if first {
		p.pruneLocked(now)
		// The first queue-full of a huge directory's subdirectories: the
		// walk reaches them first.
		pushed := 0
		for _, name := range l.Names {
			if pushed == prefetchQueueMax {
				break
			}
			if fi := l.Entries[name]; fi != nil && fi.IsDir() {
				p.pushLocked(prefetchItem{dir: joinName(dir, name), parent: dir})
				pushed++
			}
		}
	}
	p.mu.Unlock()
	if first {
		p.pump()
	}
}

// pushLocked appends it, dropping the oldest entry when the queue is full.
func (p *dirPrefetch) pushLocked(it prefetchItem) {
	if p.queued[it.dir] {
		return
	}
	if len(p.queue) >= prefetchQueueMax {
		delete(p.queued, p.queue[0].dir)
		p.queue = p.queue[1:]
	}
	p.queue = append(p.queue, it)
	p.queued[it.dir] = true
}

// pruneLocked forgets uses older than prefetchIdle, so walked stays as
// small as the walk's recent front.
func (p *dirPrefetch) pruneLocked(now time.Time) {
	for dir, w := range p.walked {
		if now.Sub(w.at) > prefetchIdle {
			delete(p.walked, dir)
		}
	}
}

// next takes the next wanted entry and counts it in flight; false when
// the queue is empty, max loads run, or prefetching stopped.
func (p *dirPrefetch) next() (prefetchItem, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for p.inflight < p.max && len(p.queue) > 0 && p.ctx.Err() == nil {
		it := p.queue[0]
		p.queue = p.queue[1:]
		delete(p.queued, it.dir)
		if w, ok := p.walked[it.parent]; !ok || now.Sub(w.at) > prefetchIdle {
			continue // nobody walks there any more
		}
		p.inflight++
		return it, true
	}
	return prefetchItem{}, false
}

// pump starts queued loads while fewer than max run. A load's end pumps
// again.
func (p *dirPrefetch) pump() {
	for {
		it, ok := p.next()
		if !ok {
			return
		}
		load := p.loader(it.dir)
		// Dirs.Prefetch runs this again, in the foreground, for a program
		// that joined a failed load: that run is the program's, and the
		// prefetch is counted out once.
		var once sync.Once
		started := p.dirs.Prefetch(p.ctx, it.dir, func(ctx context.Context) ([]fs.FileInfo, error) {
			defer once.Do(p.done)
			return load(ctx)
		})
		if !started { // fresh or loading already
			p.mu.Lock()
			p.inflight--
			p.mu.Unlock()
		}
	}
}

// done counts a prefetch load's end and starts the next one.
func (p *dirPrefetch) done() {
	p.mu.Lock()
	p.inflight--
	p.mu.Unlock()
	p.pump() // only starts loads: this one's result is published right after
}

// close stops prefetching: queued entries are dropped and running loads
// cancelled (unmount).
func (p *dirPrefetch) close() {
	if p == nil {
		return
	}
	p.stop()
	p.mu.Lock()
	p.queue, p.queued = nil, make(map[string]bool)
	p.mu.Unlock()
}
