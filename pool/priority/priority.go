// Package priority tells work a program waits for (foreground) from work
// done ahead of need (background: read-ahead, prefetched listings and
// files). It is a context value so that it travels with the work through
// the cache into the pool without either knowing the other.
//
// Background work can be promoted: when a program starts waiting for a
// load that prefetch started (it joins the load's cache flight), the load
// becomes foreground from then on, so it is not held back behind the
// program's own requests. Promotion is one-way and safe from any goroutine.
package priority

import (
	"context"
	"sync"
)

// token is the class of the work under one Background context.
type token struct {
	once     sync.Once
	promoted chan struct{} // closed by Promote
}

type key struct{}

// Background returns a context for speculative work under parent. Work
// under it is served only when no program is waiting, and yields to work
// a program waits for (see package pool), until Promote is called on it.
func Background(parent context.Context) context.Context {
	return context.WithValue(parent, key{}, &token{promoted: make(chan struct{})})
}

// Promote records that a program now waits for the work under ctx. It does
// nothing to a foreground context.
func Promote(ctx context.Context) {
	if t, ok := ctx.Value(key{}).(*token); ok {
		t.once.Do(func() { close(t.promoted) })
	}
}

// IsBackground reports whether ctx carries background work that no
// program waits for (yet).
func IsBackground(ctx context.Context) bool {
	t, ok := ctx.Value(key{}).(*token)
	if !ok {
		return false
	}
	select {
	case <-t.promoted:
		return false
	default:
		return true
	}
}

// Promoted returns a channel closed when the background work under ctx is
// promoted; nil (a channel that never fires) for a foreground context. A
// background request waiting its turn selects on it to go ahead at once.
func Promoted(ctx context.Context) <-chan struct{} {
	if t, ok := ctx.Value(key{}).(*token); ok {
		return t.promoted
	}
	return nil
}
