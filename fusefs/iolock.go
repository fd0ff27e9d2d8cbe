package fusefs

import (
	"context"
	"fmt"
	"sync"
)

// ioLock is a mutex whose waiters may give up: it is held across whole
// uploads, and an open, write or truncate queued behind a multi-GB STOR
// must fail when its timeout ends instead of hanging uninterruptibly.
// It remembers which handle holds it, so that a handle never times out
// behind its own upload: the kernel sends FLUSH for every close() of a
// dup'd or inherited descriptor (a forked child exiting), and the owner's
// next write must then wait, not fail. The zero value is unlocked.
type ioLock struct {
	once sync.Once
	ch   chan struct{} // holds one token while locked

	mu     sync.Mutex // guards holder; a leaf
	holder *handle    // who holds the token, if a handle does
}

func (l *ioLock) token() chan struct{} {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	return l.ch
}

// Lock waits however long it takes: for uploads, releases and unlink, which
// must not fail because another handle of the file is uploading. by is the
// handle taking it, or nil.
func (l *ioLock) Lock(by *handle) {
	l.token() <- struct{}{}
	l.setHolder(by)
}

// lock waits until ctx ends, or for as long as it takes when by itself
// holds the lock; the error wraps ctx.Err().
func (l *ioLock) lock(ctx context.Context, by *handle) error {
	select {
	case l.token() <- struct{}{}:
		l.setHolder(by)
		return nil
	default:
	}
	if by != nil && l.heldBy() == by {
		l.Lock(by)
		return nil
	}
	select {
	case l.token() <- struct{}{}:
		l.setHolder(by)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for another transfer of the file: %w", ctx.Err())
	}
}

func (l *ioLock) Unlock() {
	l.setHolder(nil)
	select {
	case <-l.token():
	default:
		panic("fusefs: unlock of an unlocked ioLock")
	}
}

func (l *ioLock) setHolder(h *handle) {
	l.mu.Lock()
	l.holder = h
	l.mu.Unlock()
}

func (l *ioLock) heldBy() *handle {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder
}
