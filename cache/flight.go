package cache

import (
	"context"
	"errors"
	"time"
)

// flight is one load in progress, shared by every caller that asks for the
// same key while it runs. val and err are written once by the loader before
// done is closed, so waiters read them without a lock after <-done.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error

	// keep says whether the result may be stored when the load ends. It is
	// guarded by the owning cache's mu and cleared by invalidation: a load
	// that started before a change may not show it, so its result goes to
	// the callers already waiting but is never cached.
	keep bool
}

func newFlight[T any]() *flight[T] {
	return &flight[T]{done: make(chan struct{}), keep: true}
}

// wait blocks until the load ends or ctx does. It returns ctx.Err() if ctx
// ended first; otherwise nil, and the caller reads val and err.
func (f *flight[T]) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	default:
	}
	// Prefer a finished result over a context that ended at the same time.
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitFor is wait bounded by patience: ended is false if the load was
// still running when patience ran out.
func (f *flight[T]) waitFor(ctx context.Context, patience time.Duration) (ended bool, err error) {
	select {
	case <-f.done:
		return true, nil
	default:
	}
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case <-f.done:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	}
}

// isContextErr reports whether err is a context's own error (possibly
// wrapped), as opposed to a failure of the remote operation.
func isContextErr(err error) bool {
	return err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
