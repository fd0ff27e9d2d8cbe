package cache

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// counter is a load function that counts calls and returns fixed entries.
type counter struct {
	calls   atomic.Int64
	entries []fs.FileInfo
}

func (c *counter) load(ctx context.Context) ([]fs.FileInfo, error) {
	c.calls.Add(1)
	return c.entries, nil
}

func mustGet(t *testing.T, d *Dirs, dir string, load func(context.Context) ([]fs.FileInfo, error)) *Listing {
	t.Helper()
	l, err := d.Get(context.Background(), dir, load)
	if err != nil {
		t.Fatalf("Get(%q): %v", dir, err)
	}
	return l
}

func noLoad(t *testing.T) func(context.Context) ([]fs.FileInfo, error) {
	return func(context.Context) ([]fs.FileInfo, error) {
		t.Error("load called; want answer from cache")
		return nil, errors.New("unexpected load")
	}
}

func TestDirsHitMiss(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	c := &counter{entries: files("b", "a", "c")}
	l1 := mustGet(t, d, "/x", c.load)
	l2 := mustGet(t, d, "/x", c.load)
	if l1 != l2 {
		t.Error("second Get returned a different *Listing")
	}
	if got := c.calls.Load(); got != 1 {
		t.Errorf("load calls = %d, want 1", got)
	}
	if !slices.Equal(l1.Names, []string{"a", "b", "c"}) {
		t.Errorf("Names = %v, want sorted a b c", l1.Names)
	}
	want := DirStats{Hits: 1, Misses: 1, Loads: 1, Entries: 1, Bytes: 3 * (EntryOverhead + 2)}
	if got := d.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestDirsTTL(t *testing.T) {
	clk := newClock()
	d := NewDirs(10*time.Second, 10, clk.now)
	c := &counter{entries: files("a")}
	l1 := mustGet(t, d, "/", c.load)
	if !l1.Started.Equal(clk.now()) || !l1.Arrived.Equal(clk.now()) {
		t.Errorf("Started, Arrived = %v, %v, want %v", l1.Started, l1.Arrived, clk.now())
	}
	clk.advance(9 * time.Second)
	if _, ok := d.Peek("/"); !ok {
		t.Error("Peek before expiry: not cached")
	}
	mustGet(t, d, "/", c.load)
	if got := c.calls.Load(); got != 1 {
		t.Fatalf("load calls before expiry = %d, want 1", got)
	}
	clk.advance(time.Second)
	if _, ok := d.Peek("/"); ok {
		t.Error("Peek at expiry: still cached")
	}
	if l := mustGet(t, d, "/", c.load); l == l1 {
		t.Error("expired listing returned")
	}
	if got := c.calls.Load(); got != 2 {
		t.Errorf("load calls after expiry = %d, want 2", got)
	}
}

func TestDirsNegativeLookup(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	mustGet(t, d, "/d", (&counter{entries: files("there")}).load)
	for _, name := range []string{"missing", "also-missing", "there"} {
		l := mustGet(t, d, "/d", noLoad(t))
		_, ok := l.Lookup(name)
		if want := name == "there"; ok != want {
			t.Errorf("Lookup(%q) = %v, want %v", name, ok, want)
		}
	}
	var nilListing *Listing
	if _, ok := nilListing.Lookup("x"); ok {
		t.Error("nil Listing found an entry")
	}
}

func TestDirsSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		release := make(chan struct{})
		var calls atomic.Int64
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			calls.Add(1)
			<-release
			return files("a"), nil
		}
		const n = 50
		got := make([]*Listing, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				l, err := d.Get(context.Background(), "/dir", load)
				if err != nil {
					t.Errorf("Get: %v", err)
				}
				got[i] = l
			})
		}
		synctest.Wait() // all 50 are waiting on the one load
		if c := calls.Load(); c != 1 {
			t.Errorf("load calls while blocked = %d, want 1", c)
		}
		close(release)
		wg.Wait()
		for i, l := range got {
			if l == nil || l != got[0] {
				t.Fatalf("caller %d got %p, want shared %p", i, l, got[0])
			}
		}
		if s := d.Stats(); s.Loads != 1 || s.Misses != n {
			t.Errorf("Stats = %+v, want 1 load, %d misses", s, n)
		}
	})
}

func TestDirsWaiterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		release := make(chan struct{})
		var loadCtx context.Context
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			loadCtx = ctx
			<-release
			return files("a"), nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		impatient := make(chan error, 1)
		go func() {
			_, err := d.Get(ctx, "/d", load)
			impatient <- err
		}()
		patient := make(chan *Listing, 1)
		go func() {
			l, err := d.Get(context.Background(), "/d", load)
			if err != nil {
				t.Errorf("patient Get: %v", err)
			}
			patient <- l
		}()
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case err := <-impatient:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("impatient Get err = %v, want context.Canceled", err)
			}
		default:
			t.Fatal("impatient Get did not return after its ctx was cancelled")
		}
		if err := loadCtx.Err(); err != nil {
			t.Errorf("load ctx ended (%v) although a caller still waits", err)
		}
		close(release)
		if l := <-patient; l == nil || len(l.Names) != 1 {
			t.Errorf("patient got %v", l)
		}
		if _, ok := d.Peek("/d"); !ok {
			t.Error("listing not stored after the load finished")
		}
	})
}

func TestDirsLastWaiterCancelsLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(time.Minute, 10, nil)
		var calls atomic.Int64
		load := func(ctx context.Context) ([]fs.FileInfo, error) {
			calls.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := d.Get(ctx, "/d", load); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get err = %v, want DeadlineExceeded", err)
		}
		synctest.Wait() // the load goroutine saw its ctx end and returned
		if len(d.inflight) != 0 {
			t.Error("abandoned load still registered")
		}
		// An already-ended ctx does not start a load.
		if _, err := d.Get(ctx, "/d", load); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get with dead ctx err = %v", err)
		}
		if c := calls.Load(); c != 1 {
			t.Errorf("load calls = %d, want 1", c)
		}
	})
}

func TestDirsLoadErrorNotCached(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	boom := errors.New("boom")
	var calls int
	load := func(context.Context) ([]fs.FileInfo, error) {
		calls++
		if calls == 1 {
			return nil, boom
		}
		return files("a"), nil
	}
	if _, err := d.Get(context.Background(), "/d", load); !errors.Is(err, boom) {
		t.Fatalf("first Get err = %v, want boom", err)
	}
	if _, ok := d.Peek("/d"); ok {
		t.Error("error result cached")
	}
	mustGet(t, d, "/d", load)
	if calls != 2 {
		t.Errorf("load calls = %d, want 2", calls)
	}
}

func TestDirsInvalidateDuringLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		inv  func(d *Dirs)
	}{
		{"Invalidate", func(d *Dirs) { d.Invalidate("/a/b") }},
		{"InvalidateTree", func(d *Dirs) { d.InvalidateTree("/a") }},
		{"Update", func(d *Dirs) { d.Update("/a/b", func(map[string]fs.FileInfo) {}) }},
		{"Purge", func(d *Dirs) { d.Purge() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := NewDirs(time.Minute, 10, nil)
				release := make(chan struct{})
				var calls atomic.Int64
				load := func(ctx context.Context) ([]fs.FileInfo, error) {
					if calls.Add(1) == 1 {
						<-release
						return files("old"), nil
					}
					return files("new"), nil
				}
				res := make(chan *Listing, 1)
				go func() {
					l, _ := d.Get(context.Background(), "/a/b", load)
					res <- l
				}()
				synctest.Wait()
				tc.inv(d)
				// A Get after the change must not join the stale load.
				if l := mustGet(t, d, "/a/b", load); !slices.Equal(l.Names, []string{"new"}) {
					t.Errorf("Get after invalidation = %v, want [new]", l.Names)
				}
				close(release)
				if l := <-res; l == nil || !slices.Equal(l.Names, []string{"old"}) {
					t.Errorf("in-flight caller got %v, want its load's result", l)
				}
				synctest.Wait()
				if l, ok := d.Peek("/a/b"); ok && slices.Contains(l.Names, "old") {
					t.Error("stale load's result was stored")
				}
			})
		})
	}
}

func TestDirsInvalidateTree(t *testing.T) {
	all := []string{"/", "/a", "/a/b", "/a/b/c", "/ab", "/b"}
	for _, tc := range []struct {
		dir  string
		kept []string
	}{
		{"/a", []string{"/", "/ab", "/b"}},
		{"/a/", []string{"/", "/ab", "/b"}},
		{"/a/b", []string{"/", "/a", "/ab", "/b"}},
		{"/ab", []string{"/", "/a", "/a/b", "/a/b/c", "/b"}},
		{"/", nil},
	} {
		d := NewDirs(time.Minute, 100, nil)
		for _, p := range all {
			mustGet(t, d, p, (&counter{}).load)
		}
		d.InvalidateTree(tc.dir)
		var kept []string
		for _, p := range all {
			if _, ok := d.Peek(p); ok {
				kept = append(kept, p)
			}
		}
		if !slices.Equal(kept, tc.kept) {
			t.Errorf("InvalidateTree(%q) kept %v, want %v", tc.dir, kept, tc.kept)
		}
	}
}

func TestDirsInvalidate(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	mustGet(t, d, "/a", (&counter{}).load)
	mustGet(t, d, "/a/b", (&counter{}).load)
	d.Invalidate("/a")
	if _, ok := d.Peek("/a"); ok {
		t.Error("/a still cached")
	}
	if _, ok := d.Peek("/a/b"); !ok {
		t.Error("Invalidate(/a) dropped /a/b")
	}
	d.Purge()
	if s := d.Stats(); s.Entries != 0 {
		t.Errorf("Entries after Purge = %d", s.Entries)
	}
}

func TestDirsUpdateCopyOnWrite(t *testing.T) {
	clk := newClock()
	d := NewDirs(10*time.Second, 10, clk.now)
	old := mustGet(t, d, "/d", (&counter{entries: files("a", "b")}).load)
	clk.advance(5 * time.Second)
	d.Update("/d", func(m map[string]fs.FileInfo) {
		delete(m, "a")
		m["c"] = fileInfo{name: "c", size: 3}
		m["nil"] = nil // dropped
	})
	if !slices.Equal(old.Names, []string{"a", "b"}) || len(old.Entries) != 2 {
		t.Errorf("old listing changed: %v", old.Names)
	}
	if _, ok := old.Lookup("c"); ok {
		t.Error("old listing sees the new entry")
	}
	cur, ok := d.Peek("/d")
	if !ok {
		t.Fatal("updated listing not cached")
	}
	if !slices.Equal(cur.Names, []string{"b", "c"}) {
		t.Errorf("updated Names = %v, want [b c]", cur.Names)
	}
	if fi, ok := cur.Lookup("c"); !ok || fi.Size() != 3 {
		t.Errorf("Lookup(c) = %v, %v", fi, ok)
	}
	if !cur.Started.Equal(old.Started) || !cur.Arrived.Equal(old.Arrived) {
		t.Error("Update reset the TTL clock")
	}
	clk.advance(5 * time.Second)
	if _, ok := d.Peek("/d"); ok {
		t.Error("updated listing outlived the original TTL")
	}
	// Nothing cached: no-op, fn not called.
	d.Update("/d", func(map[string]fs.FileInfo) { t.Error("fn called with nothing cached") })
	d.Update("/none", func(map[string]fs.FileInfo) { t.Error("fn called with nothing cached") })
	if _, ok := d.Peek("/none"); ok {
		t.Error("Update created a listing")
	}
}

func TestDirsLRUBound(t *testing.T) {
	d := NewDirs(time.Minute, 2, nil)
	mustGet(t, d, "/a", (&counter{}).load)
	mustGet(t, d, "/b", (&counter{}).load)
	mustGet(t, d, "/a", noLoad(t)) // /a now most recent
	mustGet(t, d, "/c", (&counter{}).load)
	if _, ok := d.Peek("/b"); ok {
		t.Error("least recently used /b kept")
	}
	for _, p := range []string{"/a", "/c"} {
		if _, ok := d.Peek(p); !ok {
			t.Errorf("%s dropped", p)
		}
	}
	if s := d.Stats(); s.Entries != 2 {
		t.Errorf("Entries = %d, want 2", s.Entries)
	}
}

func TestDirsTTLZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDirs(0, 10, nil)
		c := &counter{entries: files("a")}
		mustGet(t, d, "/d", c.load)
		mustGet(t, d, "/d", c.load)
		if got := c.calls.Load(); got != 2 {
			t.Errorf("sequential load calls = %d, want 2", got)
		}
		if _, ok := d.Peek("/d"); ok {
			t.Error("ttl 0 kept a listing")
		}

		release := make(chan struct{})
		var calls atomic.Int64
		load := func(context.Context) ([]fs.FileInfo, error) {
			calls.Add(1)
			<-release
			return nil, nil
		}
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() { d.Get(context.Background(), "/e", load) })
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if got := calls.Load(); got != 1 {
			t.Errorf("concurrent load calls = %d, want 1", got)
		}
		if s := d.Stats(); s.Entries != 0 {
			t.Errorf("Entries = %d, want 0", s.Entries)
		}
	})
}
