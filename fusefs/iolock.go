package fusefs

import (
	"context"
	"fmt"
	"sync"
)

// ioLock is a mutex whose waiters may give up: it is held across whole
// uploads, and an open, write or truncate queued behind a multi-GB STOR
// must fail when its timeout ends instead of hanging uninterruptibly.
// The zero value is unlocked.
type ioLock struct {
	once sync.Once
	ch   chan struct{} // holds one token while locked
}

func (l *ioLock) token() chan struct{} {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	return l.ch
}

// Lock waits however long it takes: for uploads, releases and unlink, which
// must not fail because another handle of the file is uploading.
func (l *ioLock) Lock() { l.token() <- struct{}{} }

// lock waits until ctx ends; the error wraps ctx.Err().
func (l *ioLock) lock(ctx context.Context) error {
	select {
	case l.token() <- struct{}{}:
		return nil
	default:
	}
	select {
	case l.token() <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for another transfer of the file: %w", ctx.Err())
	}
}

func (l *ioLock) Unlock() {
	select {
	case <-l.token():
	default:
		panic("fusefs: unlock of an unlocked ioLock")
	}
}
