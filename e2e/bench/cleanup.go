package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Everything the bench creates (mounts, servers, the namespace, temporary
// files) registers how to undo it here, so that a normal end, an error, a
// timeout and Ctrl-C all leave the machine as it was.
type cleanups struct {
	mu    sync.Mutex
	items []*cleanup
}

type cleanup struct {
	name string
	once sync.Once
	fn   func()
	c    *cleanups
}

var atExit cleanups

// add registers fn; the returned handle runs it early (and only once).
func (c *cleanups) add(name string, fn func()) *cleanup {
	it := &cleanup{name: name, fn: fn, c: c}
	c.mu.Lock()
	c.items = append(c.items, it)
	c.mu.Unlock()
	return it
}

// Run undoes this item now and forgets it.
func (it *cleanup) Run() {
	it.once.Do(it.fn)
	it.c.mu.Lock()
	defer it.c.mu.Unlock()
	for i, x := range it.c.items {
		if x == it {
			it.c.items = append(it.c.items[:i], it.c.items[i+1:]...)
			break
		}
	}
}

// runAll undoes everything still registered, newest first.
func (c *cleanups) runAll() {
	for {
		c.mu.Lock()
		if len(c.items) == 0 {
			c.mu.Unlock()
			return
		}
		it := c.items[len(c.items)-1]
		c.mu.Unlock()
		it.Run()
	}
}

// handleSignals cancels the run on the first SIGINT/SIGTERM/SIGHUP, letting
// it unwind through its own cleanups; if that takes over 30 s, or on a
// second signal, it cleans up from here and exits.
func handleSignals(cancel func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\n%v: stopping, cleaning up (again to force)\n", s)
		cancel()
		select {
		case <-sigs:
		case <-time.After(30 * time.Second):
		}
		atExit.runAll()
		os.Exit(130)
	}()
}
