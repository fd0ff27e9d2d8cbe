package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// Prefetch starts a background load of dir, without waiting for it, unless
// dir's listing is fresh or already loading, or the cache keeps nothing
// (ttl ≤ 0); it reports whether it started one. The load runs under
// priority.Background, so the pool serves it only when no program waits,
// and a program that asks for dir meanwhile joins it and promotes it
// (join). Its result is stored like any other, whether
// or not anyone joined (that is the point), unless a change disowns it
// (Update, Invalidate): a listing that started before a local change is
// never stored. A stored prefetch enters the LRU as most recently used,
// ahead of listings programs use: simplelru cannot add at the cold end.
//
// ctx is the lifetime of prefetching, not a request's: its values go to
// load and its end stops the load (unmount). load bounds itself (its own
// deadline), as for Get. A background load that fails is only retried,
// once and in the foreground, if a program waits for it when it ends and
// it failed only by giving way (ErrGaveWay): the pool may have preempted
// it before the promotion reached it, and the joiner must not get that
// error. finish decides that under Dirs.mu, so a
// program that joins at the last moment is either seen or starts its own
// load. A load that ran out of time (its context's deadline, or a network
// deadline) is not retried: its deadline was the joiners' bound too. An
// unjoined failure is dropped quietly (nothing stored).
func (d *Dirs) Prefetch(ctx context.Context, dir string, load func(ctx context.Context) ([]fs.FileInfo, error)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.freshLocked(dir, false); ok || d.inflight[dir] != nil || ctx.Err() != nil || d.ttl <= 0 {
		return false
	}
	f := d.startLocked(priority.Background(ctx), dir, func(lctx context.Context) ([]fs.FileInfo, error) {
		// startLocked detached lctx from ctx; the end of prefetching still
		// stops it.
		lctx, cancel := context.WithCancel(lctx)
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		return load(lctx)
	})
	f.prefetch = ctx // the load goroutine reads it in finish, under d.mu
	return true
}

// ErrGaveWay marks a background load's failure that says nothing about
// the directory: the load gave way to programs (the pool preempted it, or
// dropped it as slow). Only such a failure is retried for a program that
// joined; any other (refused, too large) is the directory's answer, and a
// second listing would only double what it cost. The prefetch's load
// function wraps its error with it.
var ErrGaveWay = errors.New("background load gave way to programs")

// retryLocked says whether a prefetch f that ended with err is to run
// again, in the foreground, instead of publishing err (see Prefetch); it
// says so at most once per flight.
func (d *Dirs) retryLocked(f *dirFlight, err error) bool {
	if !errors.Is(err, ErrGaveWay) || f.prefetch == nil || f.waiters == 0 || f.prefetch.Err() != nil || f.ctx.Err() != nil ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	f.prefetch = nil
	priority.Promote(f.ctx) // already done by the joiner; the retry must not be background
	return true
}
