package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
	"github.com/ftpsfs/ftpsfs/pool"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// A tree walk (find, du, rsync, ls -R) lists one directory after another,
// each a round trip or more. When a program's listing of a directory
// arrives, dirPrefetch queues listings of its subdirectories, in listing
// order, and runs a few of them at once in the background on connections
// nobody else needs (cache.Dirs.Prefetch), so that the walk finds them
// listed.
//
// It stays at most one level ahead of the walk: only a listing a program
// listed (readdir) queues its children (a lookup only keeps the walk
// there wanted: see looked), so
// a prefetched listing nobody came to does not cascade. Each listing
// queues its children once, and a directory prefetched lately (refused,
// too large to cache, or listed) is not prefetched again for a while, so
// a program that touches a directory now and then costs no listings.
// Queued entries are dropped when nobody walks their parent any more: no
// program used it, or a directory below it, for prefetchIdle, and none
// waits there (a lookup or readdir in progress). Everything stops at
// unmount.
//
// Walks are mostly depth-first, so the queue serves the parent used last
// first (the deepest, on a tie), and when full drops the entries the walk
// reaches last: the tail of the parent used longest ago.
const (
	// prefetchQueueMax bounds the queue.
	prefetchQueueMax = 256
	// prefetchIdle is how long after the last program use of a parent
	// its queued children are still wanted.
	prefetchIdle = 3 * time.Second
	// prefetchRemember is how long a prefetched directory, and which
	// listing queued a directory's children, are remembered at most (the
	// listing cache's TTL if shorter); prefetchRememberMax how many.
	prefetchRemember    = time.Minute
	prefetchRememberMax = 4096
)

// dirPrefetch is the mount's listing prefetcher. A nil one does nothing.
type dirPrefetch struct {
	dirs   *cache.Dirs
	loader func(dir string) func(ctx context.Context) ([]fs.FileInfo, error)
	max    int                // prefetch loads in flight at most
	ctx    context.Context    // ends at unmount; stops the loads
	stop   context.CancelFunc // called at unmount

	mu       sync.Mutex              // guards the fields below; a leaf
	parents  map[string]*parentQueue // by parent dir, only those with queued children
	queued   map[string]bool         // dirs in some parent's queue
	n        int                     // len(queued), at most prefetchQueueMax
	waits    map[string]int          // by dir: programs waiting there now
	listed   recent[[2]time.Time]    // by dir: the listing (Started, Arrived) that queued its children
	tried    recent[struct{}]        // dirs prefetched lately, whatever came of it
	inflight int                     // prefetch loads running
}

// parentQueue is a parent's children still to prefetch, and the last
// program use of the parent or of a directory below it.
type parentQueue struct {
	dirs    []string // in listing order
	lastUse time.Time
}

type prefetchItem struct{ dir, parent string }

func newDirPrefetch(dirs *cache.Dirs, max int, loader func(string) func(context.Context) ([]fs.FileInfo, error)) *dirPrefetch {
	if max <= 0 || dirs.TTL() <= 0 { // a cache that keeps nothing has nothing to fetch ahead into
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	remember := min(dirs.TTL(), prefetchRemember)
	return &dirPrefetch{dirs: dirs, loader: loader, max: max, ctx: ctx, stop: stop,
		parents: make(map[string]*parentQueue), queued: make(map[string]bool), waits: make(map[string]int),
		listed: newRecent[[2]time.Time](remember, prefetchRememberMax),
		tried:  newRecent[struct{}](remember, prefetchRememberMax)}
}

// looked records a lookup answered from dir's listing: the walk is still
// there (its queued children stay wanted), but a lookup is no listing by a
// program, so nothing new is queued. Before, the listing a lookup loaded
// queued its subdirectories too: `cp f /mnt/dir/` listed every sibling of
// dir in the background, and on a 2-core machine that cost a large upload
// at a 20 ms round trip a sixth of its speed (make bench -scenarios f).
func (p *dirPrefetch) looked(dir string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.touchLocked(dir, time.Now())
	p.mu.Unlock()
}

// used records that a program listed dir (readdir) and got l, and queues
// the listings of its subdirectories (symlinks are not followed) the first
// time it sees l.
func (p *dirPrefetch) used(dir string, l *cache.Listing) {
	if p == nil || l == nil {
		return
	}
	now := time.Now()
	id := [2]time.Time{l.Started, l.Arrived}
	p.mu.Lock()
	p.touchLocked(dir, now)
	prev, seen := p.listed.get(dir, now)
	first := !seen || prev != id
	if first {
		p.listed.put(dir, id, now)
		// The first queue-full of a huge directory's subdirectories: the
		// walk reaches them first.
		var kids []string
		for _, name := range l.Names {
			if len(kids) == prefetchQueueMax {
				break
			}
			kid := joinName(dir, name)
			if fi := l.Entries[name]; fi != nil && fi.IsDir() && !p.queued[kid] && !p.tried.has(kid, now) {
				kids = append(kids, kid)
			}
		}
		p.queueLocked(dir, kids, now)
	}
	p.mu.Unlock()
	if first {
		p.pump()
	}
}

// waiting records that a program waits in dir (a lookup or readdir
// there) until the returned func is called: meanwhile the queued children
// of dir and of its ancestors stay wanted, and the end counts as a use.
// Without it a walk waiting on a listing slower than prefetchIdle would
// lose its queued siblings.
func (p *dirPrefetch) waiting(dir string) func() {
	if p == nil {
		return func() {}
	}
	p.mu.Lock()
	p.waits[dir]++
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		if p.waits[dir]--; p.waits[dir] <= 0 {
			delete(p.waits, dir)
		}
		p.touchLocked(dir, time.Now())
		p.mu.Unlock()
	}
}

// touchLocked counts a use of dir for dir and every ancestor with queued
// children: a walk inside a directory is still a walk of it. It costs
// one map look-up per level.
func (p *dirPrefetch) touchLocked(dir string, now time.Time) {
	for d := dir; ; d = path.Dir(d) {
		if q := p.parents[d]; q != nil {
			q.lastUse = now
		}
		if d == "/" || d == "." {
			return
		}
	}
}

// queueLocked appends parent's kids (none queued already), making room by
// dropping the entries the walk reaches last (see the top of the file).
func (p *dirPrefetch) queueLocked(parent string, kids []string, now time.Time) {
	if len(kids) == 0 {
		return
	}
	if over := p.n + len(kids) - prefetchQueueMax; over > 0 {
		p.dropLocked(over, parent)
	}
	kids = kids[:min(len(kids), prefetchQueueMax-p.n)]
	q := p.parents[parent]
	if q == nil {
		q = &parentQueue{}
		p.parents[parent] = q
	}
	q.lastUse = now
	q.dirs = append(q.dirs, kids...)
	for _, k := range kids {
		p.queued[k] = true
	}
	p.n += len(kids)
}

// dropLocked drops up to n queued entries from the tails of the parents
// other than keep, least recently used parent first.
func (p *dirPrefetch) dropLocked(n int, keep string) {
	others := make([]string, 0, len(p.parents))
	for d := range p.parents {
		if d != keep {
			others = append(others, d)
		}
	}
	slices.SortFunc(others, func(a, b string) int { return p.parents[a].lastUse.Compare(p.parents[b].lastUse) })
	for _, d := range others {
		q := p.parents[d]
		for n > 0 && len(q.dirs) > 0 {
			last := q.dirs[len(q.dirs)-1]
			q.dirs = q.dirs[:len(q.dirs)-1]
			delete(p.queued, last)
			p.n--
			n--
		}
		if len(q.dirs) == 0 {
			delete(p.parents, d)
		}
		if n == 0 {
			return
		}
	}
}

// wantedLocked says whether a program walked parent (or below it) within
// prefetchIdle or waits there now.
func (p *dirPrefetch) wantedLocked(parent string, q *parentQueue, now time.Time) bool {
	if now.Sub(q.lastUse) <= prefetchIdle {
		return true
	}
	for d := range p.waits { // the programs waiting now: a handful
		if d == parent || parent == "/" || strings.HasPrefix(d, parent+"/") {
			return true
		}
	}
	return false
}

// next takes the next wanted entry, of the parent used last, and counts
// it in flight; false when nothing is queued, max loads run, or
// prefetching stopped. It drops the entries of parents nobody walks any
// more.
func (p *dirPrefetch) next() (prefetchItem, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for p.inflight < p.max && p.n > 0 && p.ctx.Err() == nil {
		var best string
		var bq *parentQueue
		for d, q := range p.parents { // at most prefetchQueueMax
			if !p.wantedLocked(d, q, now) {
				p.dropParentLocked(d, q)
				continue
			}
			if bq == nil || q.lastUse.After(bq.lastUse) || (q.lastUse.Equal(bq.lastUse) && len(d) > len(best)) {
				best, bq = d, q
			}
		}
		if bq == nil {
			return prefetchItem{}, false
		}
		dir := bq.dirs[0]
		bq.dirs = bq.dirs[1:]
		delete(p.queued, dir)
		p.n--
		if len(bq.dirs) == 0 {
			delete(p.parents, best)
		}
		if p.tried.has(dir, now) {
			continue // prefetched since it was queued
		}
		p.tried.put(dir, struct{}{}, now)
		p.inflight++
		return prefetchItem{dir: dir, parent: best}, true
	}
	return prefetchItem{}, false
}

func (p *dirPrefetch) dropParentLocked(d string, q *parentQueue) {
	for _, k := range q.dirs {
		delete(p.queued, k)
	}
	p.n -= len(q.dirs)
	delete(p.parents, d)
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
			defer once.Do(func() { p.done(it.dir, !priority.IsBackground(ctx)) })
			entries, err := load(ctx)
			if errors.Is(err, pool.ErrPreempted) {
				err = fmt.Errorf("%w: %w", cache.ErrGaveWay, err)
			}
			return entries, err
		})
		if !started { // fresh or loading already
			p.mu.Lock()
			p.inflight--
			p.mu.Unlock()
		}
	}
}

// done counts a prefetch load of dir's end and starts the next one. A
// load a program joined (promoted) is a use of dir: the program waited
// there, and its own use of the listing comes only after this pump.
func (p *dirPrefetch) done(dir string, joined bool) {
	p.mu.Lock()
	p.inflight--
	if joined {
		p.touchLocked(dir, time.Now())
	}
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
	p.parents, p.queued, p.n = make(map[string]*parentQueue), make(map[string]bool), 0
	p.listed.reset()
	p.tried.reset()
	p.mu.Unlock()
}
