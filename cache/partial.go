package cache

import (
	"context"
	"io/fs"
	"sync"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
)

// arrivals are the entries a listing still arriving has given so far (see
// package arriving): a lookup of one name can be answered from them
// instead of waiting for the whole listing. They answer only "found": a
// name not among them may still come. They hold at most maxArrivals
// entries: they are outside the listing budget, and a 250,000-entry
// listing would hold about 47 MiB more while it arrives; beyond the cap,
// names are not offered early and a lookup waits for the listing as it
// would without them. They are dropped when the load ends or is disowned:
// after Update or Invalidate a local change must win over what a load that
// may predate it said.
type arrivals struct {
	mu      sync.Mutex // guards the fields below; a leaf, taken under Dirs.mu or alone
	entries map[string]fs.FileInfo
	closed  bool          // the load ended or was disowned: nothing is kept or answered
	more    chan struct{} // closed at the next change; made when a waiter asks for it
}

var _ arriving.Sink = (*arrivals)(nil)

// maxArrivals caps one load's arrivals: about 4 MiB of entries, which
// covers the directories a program looks names up in while they arrive.
const maxArrivals = 20000

func newArrivals() *arrivals { return &arrivals{entries: map[string]fs.FileInfo{}} }

// Arrived keeps fi; the remote calls it from the load's goroutine.
func (a *arrivals) Arrived(fi fs.FileInfo) {
	if fi == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	if _, known := a.entries[fi.Name()]; !known && len(a.entries) >= maxArrivals {
		return // not offered early: a lookup waits for the listing
	}
	a.entries[fi.Name()] = fi
	a.wakeLocked()
}

// Withdrawn forgets name: the listing named it again.
func (a *arrivals) Withdrawn(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.entries, name)
}

// close drops the entries and wakes the waiters.
func (a *arrivals) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.entries = nil
	a.wakeLocked()
}

func (a *arrivals) wakeLocked() {
	if a.more != nil {
		close(a.more)
		a.more = nil
	}
}

// lookup returns name's entry if it has arrived; otherwise a channel
// closed when more arrive or the arrivals close (nil once closed).
func (a *arrivals) lookup(name string) (fs.FileInfo, bool, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, false, nil
	}
	if fi, ok := a.entries[name]; ok {
		return fi, true, nil
	}
	if a.more == nil {
		a.more = make(chan struct{})
	}
	return nil, false, a.more
}

// LookupArriving returns name's entry from dir's listing still being
// loaded, if that listing has given it yet. false means only "not yet":
// it is no negative answer.
func (d *Dirs) LookupArriving(dir, name string) (fs.FileInfo, bool) {
	d.mu.Lock()
	f := d.inflight[dir]
	d.mu.Unlock()
	if f == nil {
		return nil, false
	}
	fi, ok, _ := f.arriving.lookup(name)
	return fi, ok
}

// GetArriving is Get for a caller that wants one name and cannot ask the
// server about it alone: it returns the listing when it arrives, or,
// after patience (counted from the load's start, as in GetWithin), as soon
// as the listing still arriving has given name, a partial view of it
// holding that entry only. A name the listing has not given yet is waited
// for until the listing ends: only then is it known to be absent.
func (d *Dirs) GetArriving(ctx context.Context, dir, name string, patience time.Duration, load func(ctx context.Context) ([]fs.FileInfo, error)) (*Listing, error) {
	l, f, age, err := d.join(ctx, dir, load)
	if l != nil || err != nil {
		return l, err
	}
	pctx, cancel := context.WithTimeout(ctx, max(patience-age, 0))
	err = f.wait(pctx)
	cancel()
	if err == nil {
		return f.val, f.err
	}
	for {
		if err := ctx.Err(); err != nil {
			d.leave(dir, f, err)
			return nil, err
		}
		fi, ok, more := f.arriving.lookup(name)
		if ok {
			d.leave(dir, f, nil)
			return partialListing(fi, f.started), nil
		}
		select {
		case <-f.done:
			return f.val, f.err
		case <-more: // nil once closed: then only the end of the load
		case <-ctx.Done():
		}
	}
}

// partialListing is the view of a listing still arriving that holds one
// entry of it.
func partialListing(fi fs.FileInfo, started time.Time) *Listing {
	l := listingFromMap(map[string]fs.FileInfo{fi.Name(): fi}, started, time.Time{})
	l.Partial = true
	return l
}
