package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestDirsFreshFromArrival: a listing that takes longer than the TTL to
// arrive is fresh for the TTL after it arrived, not expired on arrival
// (issue: each lookup of an `ls -l` started a new 15 s LIST).
func TestDirsFreshFromArrival(t *testing.T) {
	clk := newClock()
	d := NewDirs(10*time.Second, 10, clk.now)
	var calls atomic.Int64
	slow := func(context.Context) ([]fs.FileInfo, error) {
		calls.Add(1)
		clk.advance(15 * time.Second) // the LIST takes longer than the TTL
		return files("a", "b"), nil
	}
	start := clk.now()
	l := mustGet(t, d, "/slow", slow)
	if !l.Started.Equal(start) || !l.Arrived.Equal(start.Add(15*time.Second)) {
		t.Errorf("Started, Arrived = %v, %v; want %v, +15s", l.Started, l.Arrived, start)
	}
	clk.advance(9 * time.Second)
	if got := mustGet(t, d, "/slow", slow); got != l {
		t.Error("listing expired before the TTL counted from its arrival")
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("loads = %d, want 1", c)
	}
	clk.advance(time.Second)
	if _, ok := d.Peek("/slow"); ok {
		t.Error("listing still fresh a TTL after it arrived")
	}
}

// TestDirsSweep: expired listings are dropped by Sweep without being asked
// for, so their memory goes; fresh ones stay.
func TestDirsSweep(t *testing.T) {
	clk := newClock()
	d := NewDirs(10*time.Second, 100, clk.now)
	for i := range 5 {
		mustGet(t, d, fmt.Sprintf("/old%d", i), (&counter{entries: files("x", "y")}).load)
	}
	clk.advance(6 * time.Second)
	mustGet(t, d, "/new", (&counter{entries: files("z")}).load)
	clk.advance(4 * time.Second) // the five old ones are expired now
	d.Sweep()
	s := d.Stats()
	if s.Entries != 1 || s.Swept != 5 || s.Bytes != EntryOverhead+2 {
		t.Errorf("after Sweep: %+v, want the one fresh listing of %d bytes, 5 swept", s, EntryOverhead+2)
	}
	if _, ok := d.Peek("/new"); !ok {
		t.Error("fresh listing swept")
	}
}

// TestDirsSweepEvery: the timer sweeps, and its goroutine ends with ctx.
func TestDirsSweepEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(3*time.Second, 100, nil)
		mustGet(t, d, "/a", (&counter{entries: files("x")}).load)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		d.SweepEvery(ctx, SweepInterval(3*time.Second)) // every 1.5 s
		time.Sleep(2900 * time.Millisecond)
		synctest.Wait()
		if s := d.Stats(); s.Entries != 1 {
			t.Fatalf("swept a listing before it expired: %+v", s)
		}
		time.Sleep(200 * time.Millisecond) // the sweep at 3 s finds it expired
		synctest.Wait()
		if s := d.Stats(); s.Entries != 0 || s.Bytes != 0 || s.Swept != 1 {
			t.Errorf("expired listing not swept: %+v", s)
		}
		cancel()
		synctest.Wait() // synctest fails the test if the sweeper outlives it
	})
}

// TestDirsByteBudget: held listings never exceed the byte budget; least
// recently used go first, and one larger than the budget is returned but
// not kept.
func TestDirsByteBudget(t *testing.T) {
	name := func(i int) string { return fmt.Sprintf("%s%03d", strings.Repeat("n", 97), i) } // 100 bytes
	per := int64(EntryOverhead + 200)
	entries := func(n int) []fs.FileInfo {
		out := make([]fs.FileInfo, n)
		for i := range out {
			out[i] = fileInfo{name: name(i)}
		}
		return out
	}
	d := NewDirsBytes(time.Minute, 1000, 10*per, nil)
	for i := range 20 {
		l := mustGet(t, d, fmt.Sprintf("/d%d", i), (&counter{entries: entries(3)}).load)
		if l.Bytes() != 3*per {
			t.Fatalf("listing estimate = %d, want %d", l.Bytes(), 3*per)
		}
		if s := d.Stats(); s.Bytes > d.MaxBytes() || s.Bytes != int64(s.Entries)*3*per {
			t.Fatalf("after %d listings: %+v over budget %d or miscounted", i+1, s, d.MaxBytes())
		}
	}
	for i, want := range map[int]bool{19: true, 17: true, 16: false, 0: false} {
		if _, ok := d.Peek(fmt.Sprintf("/d%d", i)); ok != want {
			t.Errorf("/d%d held = %v, want %v", i, ok, want)
		}
	}
	huge := mustGet(t, d, "/huge", (&counter{entries: entries(11)}).load)
	if len(huge.Names) != 11 {
		t.Errorf("huge listing returned %d names", len(huge.Names))
	}
	if _, ok := d.Peek("/huge"); ok {
		t.Error("listing larger than the budget kept")
	}
	if _, ok := d.Peek("/d19"); !ok {
		t.Error("a listing too large to keep evicted others")
	}
	// Update re-estimates.
	d.Update("/d19", func(m map[string]fs.FileInfo) { m["more"] = fileInfo{name: "more"} })
	if s := d.Stats(); s.Bytes != int64(s.Entries-1)*3*per+3*per+EntryOverhead+8 {
		t.Errorf("after Update: %+v", s)
	}
	d.Purge()
	if s := d.Stats(); s.Bytes != 0 || s.Entries != 0 {
		t.Errorf("after Purge: %+v", s)
	}
}

// TestDirsGetWithin: a caller that needs one name gives up on a listing
// still arriving after its patience, without stopping it; a later caller
// joins the same load instead of starting another, and the listing is
// stored when it arrives.
func TestDirsGetWithin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		release := make(chan struct{})
		var calls atomic.Int64
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			calls.Add(1)
			select {
			case <-release:
				return files("a"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if _, err := d.GetWithin(context.Background(), "/d", time.Second, load); !errors.Is(err, ErrStillLoading) {
			t.Fatalf("GetWithin err = %v, want ErrStillLoading", err)
		}
		// The patience counts from the load's start: a second caller is
		// told at once.
		start := time.Now()
		if _, err := d.GetWithin(context.Background(), "/d", time.Second, load); !errors.Is(err, ErrStillLoading) {
			t.Fatalf("second GetWithin err = %v", err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("second GetWithin waited %v for a load already past its patience", waited)
		}
		close(release)
		synctest.Wait()
		if c := calls.Load(); c != 1 {
			t.Errorf("loads = %d, want 1", c)
		}
		l, err := d.GetWithin(context.Background(), "/d", time.Second, noLoad(t))
		if err != nil || len(l.Names) != 1 {
			t.Errorf("after arrival: %v, %v", l, err)
		}
		// A quick load is simply waited for.
		l, err = d.GetWithin(context.Background(), "/e", time.Second, (&counter{entries: files("b")}).load)
		if err != nil || len(l.Names) != 1 {
			t.Errorf("quick load: %v, %v", l, err)
		}
		// The caller's own end still cancels a load nobody else waits for.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.GetWithin(ctx, "/f", time.Second, load); !errors.Is(err, context.Canceled) {
			t.Errorf("dead ctx: %v", err)
		}
	})
}

// TestDirsDisownedLoadNobodyWaitsForIsCancelled: a load left running for
// the cache (its callers took ErrStillLoading) is cancelled once a change
// disowns it, instead of holding its connection to its deadline while the
// next lookup starts another beside it.
func TestDirsDisownedLoadNobodyWaitsForIsCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		var running atomic.Int64
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			running.Add(1)
			defer running.Add(-1)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		for range 3 {
			if _, err := d.GetWithin(context.Background(), "/d", time.Second, load); !errors.Is(err, ErrStillLoading) {
				t.Fatalf("GetWithin err = %v, want ErrStillLoading", err)
			}
			d.Update("/d", func(map[string]fs.FileInfo) {})
			synctest.Wait()
		}
		if n := running.Load(); n != 0 {
			t.Errorf("%d disowned loads still running, want 0", n)
		}
	})
}

// TestDirsLoadDisownedDuringPatienceIsCancelled: a change that disowns a
// load while its only caller is still within its patience cancels it once
// that caller gives up.
func TestDirsLoadDisownedDuringPatienceIsCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		var running atomic.Int64
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			running.Add(1)
			defer running.Add(-1)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		done := make(chan error, 1)
		go func() {
			_, err := d.GetWithin(context.Background(), "/d", time.Second, load)
			done <- err
		}()
		time.Sleep(500 * time.Millisecond)
		d.Update("/d", func(map[string]fs.FileInfo) {})
		if err := <-done; !errors.Is(err, ErrStillLoading) {
			t.Fatalf("GetWithin err = %v, want ErrStillLoading", err)
		}
		synctest.Wait()
		if n := running.Load(); n != 0 {
			t.Errorf("%d disowned loads still running, want 0", n)
		}
	})
}

// TestDirsLoadCancelledWithItsCallersDeadline: when the last caller gives
// up at its deadline, the load is cancelled with that deadline as the
// cause (the pool takes it as a server that kept them waiting), not with a
// plain cancellation.
func TestDirsLoadCancelledWithItsCallersDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		cause := make(chan error, 1)
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := d.Get(ctx, "/d", load); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get err = %v, want the deadline", err)
		}
		if got := <-cause; !errors.Is(got, context.DeadlineExceeded) {
			t.Errorf("load cancelled with cause %v, want the callers' deadline", got)
		}
	})
}

// A caller whose deadline stops a load returns once the load has ended, so
// that what the load's end tells the pool (a server that kept it waiting)
// is known before the kernel retries: a retry started a moment earlier
// waited a whole timeout again (TestFaultStallFailsInTimeThenRecovers, ls
// after 12 s with timeout=6s).
func TestDirsCallerThatStopsALoadWaitsForItsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		var ended atomic.Bool
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // the pool cutting its connection
			ended.Store(true)
			return nil, ctx.Err()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := d.Get(ctx, "/d", load); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get err = %v, want the deadline", err)
		}
		if !ended.Load() {
			t.Error("Get returned before the load it stopped had ended")
		}
	})
}

// A load that does not honour its context keeps the caller that stopped it
// no longer than stoppedLoadWait.
func TestDirsCallerWaitsForAStoppedLoadBriefly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		release := make(chan struct{})
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			<-release
			return nil, ctx.Err()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if _, err := d.GetWithin(ctx, "/d", time.Hour, load); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("GetWithin err = %v, want the deadline", err)
		}
		if took := time.Since(start); took != time.Second+stoppedLoadWait {
			t.Errorf("GetWithin returned after %v, want the deadline and stoppedLoadWait (%v)", took, time.Second+stoppedLoadWait)
		}
		close(release)
	})
}
