package cache

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"time"
)

// TestJoinerBeforeFinishNeverGetsThePreemption: a program that joins a
// prefetch after its load returned but before finish published the result
// is seen by finish (under d.mu) and gets the retried listing, never the
// background load's preemption. Before, the retry was decided outside
// d.mu and the joiner got ErrPreempted. (Found by review; the test queues
// the joiner on d.mu before the load returns, so the order is fixed.)
func TestJoinerBeforeFinishNeverGetsThePreemption(t *testing.T) {
	d := NewDirs(time.Minute, 100, time.Now)
	preempted := fmt.Errorf("LIST /d: %w", ErrGaveWay)
	release := make(chan struct{})
	calls := 0
	load := func(ctx context.Context) ([]fs.FileInfo, error) {
		calls++
		if calls == 1 {
			<-release
			return nil, preempted
		}
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !d.Prefetch(ctx, "/d", load) {
		t.Fatal("prefetch did not start")
	}
	d.mu.Lock()
	got := make(chan error, 1)
	go func() {
		_, err := d.Get(context.Background(), "/d", load)
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // the joiner waits for d.mu
	close(release)                    // the load fails, still unpromoted; finish waits for d.mu
	time.Sleep(50 * time.Millisecond)
	d.mu.Unlock()
	if err := <-got; err != nil {
		t.Errorf("a program joining a prefetch got the background load's error: %v", err)
	}
}
