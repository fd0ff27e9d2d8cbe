package pool

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// hold runs an operation on p that keeps its connection until release is
// closed or the connection is cut under it; started is closed once it
// holds one.
func hold(p *Pool, ctx context.Context, started, release chan struct{}, calls *int) error {
	return p.do(ctx, "HOLD", "/", true, func(c *conn) error {
		if *calls++; *calls == 1 {
			close(started) // a retry (which must not happen) is counted, not fatal
		}
		for !c.interrupted.Load() {
			select {
			case <-release:
				return nil
			case <-time.After(time.Millisecond):
			}
		}
		return errors.New("connection closed under the operation")
	})
}

// waitState waits until cond holds on p's state under its lock.
func waitState(t *testing.T, p *Pool, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		ok := cond()
		p.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// schedMargin is what a foreground get may take beyond bgGrace: the
// preempted holder's return and a fresh login on loopback, under -race.
const schedMargin = 2 * time.Second

// TestForegroundPreemptsBackgroundAfterGrace: with one connection held by
// background work that does not give it back, a program's request waits
// at most the grace (plus a login), and the background operation fails
// with ErrPreempted, is not retried and does not mark the server
// unresponsive.
func TestForegroundPreemptsBackgroundAfterGrace(t *testing.T) {
	checkGoroutines(t)
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 1 })
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	calls := 0
	bgErr := make(chan error, 1)
	go func() { bgErr <- hold(p, priority.Background(ctxT(t)), started, release, &calls) }()
	<-started
	start := time.Now()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List behind background work: %v", err)
	}
	took := time.Since(start)
	if limit := p.bgGrace() + schedMargin; took > limit {
		t.Errorf("List waited %v behind background work, want at most %v", took, limit)
	}
	err := <-bgErr
	if !errors.Is(err, ErrPreempted) {
		t.Errorf("background operation ended with %v, want ErrPreempted", err)
	}
	if calls != 1 {
		t.Errorf("preempted operation ran %d times, want once (never retried)", calls)
	}
	if n := p.Metrics.Preemptions.Load(); n != 1 {
		t.Errorf("%d preemptions counted, want 1", n)
	}
	if p.unresponsive.Load() {
		t.Error("a preemption marked the server unresponsive")
	}
}

// TestForegroundDoesNotPreemptForeground: a program's request waits for
// another program's request however long it takes (within its context);
// only background work is preempted.
func TestForegroundDoesNotPreemptForeground(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 1 })
	started, release := make(chan struct{}), make(chan struct{})
	calls := 0
	fgErr := make(chan error, 1)
	go func() { fgErr <- hold(p, ctxT(t), started, release, &calls) }()
	<-started
	ctx, cancel := context.WithTimeout(ctxT(t), 10*p.bgGrace())
	defer cancel()
	if _, err := p.List(ctx, "/"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("List while a foreground op holds the only connection: %v, want its deadline", err)
	}
	close(release)
	if err := <-fgErr; err != nil {
		t.Errorf("the holder failed: %v", err)
	}
	if n := p.Metrics.Preemptions.Load(); n != 0 {
		t.Errorf("%d preemptions of foreground work", n)
	}
}

// TestBackgroundLeavesOneConnection: background work holds at most all
// connections but one, so a program's request gets one without waiting.
func TestBackgroundLeavesOneConnection(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 3 })
	bg := priority.Background(ctxT(t))
	var held []*conn
	for range 2 {
		c, err := p.get(bg, useOp, false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	if c, err := p.get(ctx, useOp, false); err == nil {
		p.put(c, false)
		t.Error("background got the last connection")
	}
	start := time.Now()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	if n := p.Metrics.Preemptions.Load(); n != 0 {
		t.Errorf("List preempted background work (%d) instead of using the free connection (took %v)", n, time.Since(start))
	}
	for _, c := range held {
		p.put(c, false)
	}
}

// order records which operations got a connection, in turn.
type order struct {
	mu   sync.Mutex
	seen []string
}

func (o *order) op(p *Pool, ctx context.Context, name string, done *sync.WaitGroup) {
	done.Add(1)
	go func() {
		defer done.Done()
		_ = p.do(ctx, "NOOP", "/", true, func(c *conn) error {
			o.mu.Lock()
			o.seen = append(o.seen, name)
			o.mu.Unlock()
			return c.sc.NoOp()
		})
	}()
}

// queued sets up one connection held by a foreground op, and returns a
// release for it.
func queued(t *testing.T) (*Pool, func()) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 1 })
	started, release := make(chan struct{}), make(chan struct{})
	calls := 0
	go func() { _ = hold(p, ctxT(t), started, release, &calls) }()
	<-started
	return p, func() { close(release) }
}

// TestSchedulerOrder: background waits while a program's request waits,
// even one that asked later; background gets are served in the order they
// asked; one promoted while waiting goes before the others.
func TestSchedulerOrder(t *testing.T) {
	checkGoroutines(t)
	cases := []struct {
		name    string
		promote bool
		want    string
	}{
		{"foreground first, then FIFO", false, "fg bg1 bg2"},
		{"promoted background first", true, "fg bg2 bg1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, release := queued(t)
			var o order
			var done sync.WaitGroup
			o.op(p, priority.Background(ctxT(t)), "bg1", &done)
			waitState(t, p, "bg1 queued", func() bool { return len(p.bgQueue) == 1 })
			bg2 := priority.Background(ctxT(t))
			o.op(p, bg2, "bg2", &done)
			waitState(t, p, "bg2 queued", func() bool { return len(p.bgQueue) == 2 })
			if tc.promote {
				priority.Promote(bg2)
				waitState(t, p, "bg2 promoted", func() bool { return len(p.bgQueue) == 1 && p.waiting == 1 })
			}
			o.op(p, ctxT(t), "fg", &done)
			waitState(t, p, "fg waiting", func() bool { return p.waiting == 1+boolInt(tc.promote) })
			release()
			done.Wait()
			got := o.seen
			if tc.promote {
				// The promoted get and the foreground one are both
				// foreground: either may go first, both before bg1.
				if len(got) == 3 && got[0] == "bg2" && got[1] == "fg" {
					got[0], got[1] = "fg", "bg2"
				}
			}
			if s := join(got); s != tc.want {
				t.Errorf("served in order %q, want %q", s, tc.want)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// TestLaneYieldsToForegroundWithinGrace: a lane reading block after block
// gives its connection back to a program's request before its next read,
// so the request does not wait for a preemption (the grace is long here,
// so that a slow machine does not preempt), and the lane goes on reading
// the right bytes afterwards.
func TestLaneYieldsToForegroundWithinGrace(t *testing.T) {
	checkGoroutines(t)
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 1 })
	p.minGrace = 5 * time.Second
	data := files["big.bin"]
	lane := p.OpenLaneReader("/big.bin")
	defer lane.Close()
	stop := make(chan struct{})
	laneErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for off := int64(0); off+4096 <= int64(len(data)); off += 4096 {
			select {
			case <-stop:
				laneErr <- nil
				return
			default:
			}
			if _, err := lane.ReadAt(ctxT(t), buf, off); err != nil {
				laneErr <- err
				return
			}
			if !bytes.Equal(buf, data[off:off+4096]) {
				laneErr <- errors.New("lane read wrong bytes")
				return
			}
		}
		laneErr <- nil
	}()
	waitState(t, p, "lane streaming", func() bool { return p.bgStreams == 1 })
	start := time.Now()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	if n := p.Metrics.Preemptions.Load(); n != 0 {
		t.Errorf("the lane was preempted (List took %v) instead of yielding", time.Since(start))
	}
	close(stop)
	if err := <-laneErr; err != nil {
		t.Errorf("lane after yielding: %v", err)
	}
}
