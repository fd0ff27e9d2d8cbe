package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/priority"
)

func key(path string, idx int64) BlockKey { return BlockKey{Path: path, Version: "v1", Index: idx} }

func fillWith(data []byte) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { return data, nil }
}

// checkBytes verifies the byte accounting against the blocks actually held.
func checkBytes(t *testing.T, b *Blocks) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var sum int64
	for _, v := range b.lru.Values() {
		sum += int64(cap(v))
	}
	if sum != b.bytes {
		t.Fatalf("bytes = %d, held blocks sum to %d", b.bytes, sum)
	}
	if b.bytes > b.maxBytes {
		t.Fatalf("bytes = %d > max %d", b.bytes, b.maxBytes)
	}
	n := 0
	for _, keys := range b.paths {
		n += len(keys)
	}
	if n != b.lru.Len() {
		t.Fatalf("path index holds %d keys, LRU %d", n, b.lru.Len())
	}
}

func TestBlocksByteBound(t *testing.T) {
	const maxBytes = 10_000
	b := NewBlocks(maxBytes)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		k := key(fmt.Sprintf("/f%d", r.IntN(5)), r.Int64N(20))
		data := make([]byte, r.IntN(3000))
		if i%2 == 0 {
			b.Add(k, data)
		} else if _, err := b.Get(context.Background(), k, fillWith(data)); err != nil {
			t.Fatal(err)
		}
		checkBytes(t, b)
		if i%300 == 0 {
			b.InvalidatePath("/f1")
			checkBytes(t, b)
		}
	}
	if s := b.Stats(); s.Evictions == 0 || s.Entries == 0 {
		t.Errorf("Stats = %+v: expected evictions and entries", s)
	}
}

func TestBlocksLRUOrder(t *testing.T) {
	b := NewBlocks(300)
	for i := range int64(3) {
		b.Add(key("/f", i), make([]byte, 100))
	}
	if _, err := b.Get(context.Background(), key("/f", 0), nil); err != nil { // hit: 0 becomes newest
		t.Fatal(err)
	}
	b.Add(key("/f", 3), make([]byte, 100)) // evicts 1, the least recently used
	for i, want := range []bool{true, false, true, true} {
		if _, ok := b.Peek(key("/f", int64(i))); ok != want {
			t.Errorf("block %d held = %v, want %v", i, ok, want)
		}
	}
	b.Add(key("/f", 4), make([]byte, 250)) // needs 3 evictions: 2, 0, 3
	for i, want := range []bool{false, false, false, false, true} {
		if _, ok := b.Peek(key("/f", int64(i))); ok != want {
			t.Errorf("after big add, block %d held = %v, want %v", i, ok, want)
		}
	}
	if s := b.Stats(); s.Evictions != 4 || s.Bytes != 250 || s.Entries != 1 {
		t.Errorf("Stats = %+v, want 4 evictions, 250 bytes, 1 entry", s)
	}
	checkBytes(t, b)
}

func TestBlocksAddReplaces(t *testing.T) {
	b := NewBlocks(1000)
	k := key("/f", 0)
	b.Add(k, make([]byte, 100))
	b.Add(k, make([]byte, 300))
	if s := b.Stats(); s.Bytes != 300 || s.Entries != 1 || s.Evictions != 0 {
		t.Errorf("Stats = %+v, want 300 bytes in 1 entry", s)
	}
	b.Add(k, make([]byte, 2000)) // oversize replacement drops the old block
	if _, ok := b.Peek(k); ok {
		t.Error("oversize replacement kept")
	}
	checkBytes(t, b)
}

func TestBlocksSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		release := make(chan struct{})
		var calls atomic.Int64
		fill := func(context.Context) ([]byte, error) {
			calls.Add(1)
			<-release
			return []byte("data"), nil
		}
		const n = 30
		got := make([][]byte, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				data, err := b.Get(context.Background(), key("/f", 7), fill)
				if err != nil {
					t.Errorf("Get: %v", err)
				}
				got[i] = data
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if c := calls.Load(); c != 1 {
			t.Errorf("fill calls = %d, want 1", c)
		}
		for i, data := range got {
			if string(data) != "data" || &data[0] != &got[0][0] {
				t.Fatalf("caller %d got %q, not the shared block", i, data)
			}
		}
		if s := b.Stats(); s.Misses != n || s.Hits != 0 || s.Entries != 1 {
			t.Errorf("Stats = %+v", s)
		}
	})
}

func TestBlocksFillErrorNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		boom := errors.New("426 transfer aborted")
		release := make(chan struct{})
		var calls atomic.Int64
		fail := func(context.Context) ([]byte, error) {
			calls.Add(1)
			<-release
			return nil, boom
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := b.Get(context.Background(), key("/f", 0), fail)
				errs <- err
			}()
		}
		synctest.Wait()
		close(release)
		for range 2 {
			if err := <-errs; !errors.Is(err, boom) {
				t.Errorf("Get err = %v, want boom", err)
			}
		}
		if c := calls.Load(); c != 1 {
			t.Errorf("fill calls = %d, want 1 (the waiter must not retry a real error)", c)
		}
		if _, ok := b.Peek(key("/f", 0)); ok {
			t.Error("error cached")
		}
		data, err := b.Get(context.Background(), key("/f", 0), fillWith([]byte("ok")))
		if err != nil || string(data) != "ok" {
			t.Errorf("Get after error = %q, %v", data, err)
		}
	})
}

func TestBlocksFillerCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		var calls atomic.Int64
		fill := func(ctx context.Context) ([]byte, error) {
			if calls.Add(1) == 1 {
				<-ctx.Done() // the first filler hangs until its reader gives up
				return nil, fmt.Errorf("RETR: %w", ctx.Err())
			}
			return []byte("data"), nil
		}
		fctx, cancel := context.WithCancel(context.Background())
		fillerErr := make(chan error, 1)
		go func() {
			_, err := b.Get(fctx, key("/f", 0), fill)
			fillerErr <- err
		}()
		synctest.Wait()
		waiter := make(chan []byte, 1)
		go func() {
			data, err := b.Get(context.Background(), key("/f", 0), fill)
			if err != nil {
				t.Errorf("waiter Get: %v", err)
			}
			waiter <- data
		}()
		synctest.Wait()
		cancel()
		if err := <-fillerErr; !errors.Is(err, context.Canceled) {
			t.Errorf("filler err = %v, want Canceled", err)
		}
		if data := <-waiter; string(data) != "data" {
			t.Errorf("waiter got %q, want data from its own retry", data)
		}
		if c := calls.Load(); c != 2 {
			t.Errorf("fill calls = %d, want 2", c)
		}
	})
}

func TestBlocksWaiterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		release := make(chan struct{})
		fill := func(context.Context) ([]byte, error) {
			<-release
			return []byte("data"), nil
		}
		done := make(chan []byte, 1)
		go func() {
			data, _ := b.Get(context.Background(), key("/f", 0), fill)
			done <- data
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		werr := make(chan error, 1)
		go func() {
			_, err := b.Get(ctx, key("/f", 0), fill)
			werr <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-werr; !errors.Is(err, context.Canceled) {
			t.Errorf("waiter err = %v, want Canceled", err)
		}
		close(release)
		if data := <-done; string(data) != "data" {
			t.Errorf("filler got %q", data)
		}
		if _, ok := b.Peek(key("/f", 0)); !ok {
			t.Error("block not stored")
		}
	})
}

func TestBlocksFillPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		release := make(chan struct{})
		go func() {
			defer func() { _ = recover() }()
			b.Get(context.Background(), key("/f", 0), func(context.Context) ([]byte, error) {
				<-release
				panic("bug")
			})
		}()
		synctest.Wait()
		werr := make(chan error, 1)
		go func() {
			_, err := b.Get(context.Background(), key("/f", 0), nil)
			werr <- err
		}()
		synctest.Wait()
		close(release)
		if err := <-werr; !errors.Is(err, errFillPanicked) {
			t.Errorf("waiter err = %v, want errFillPanicked", err)
		}
		if len(b.inflight) != 0 {
			t.Error("panicked fill still registered")
		}
	})
}

func TestBlocksInvalidatePath(t *testing.T) {
	b := NewBlocks(1 << 20)
	keys := []BlockKey{
		{"/a", "v1", 0, 0}, {"/a", "v1", 1, 0}, {"/a", "v2", 0, 0}, {"/a", "v1", 4096, 65536}, // a piece too
		{"/ab", "v1", 0, 0}, {"/b", "v1", 0, 0}, {"/a/x", "v1", 0, 0},
	}
	for _, k := range keys {
		b.Add(k, make([]byte, 10))
	}
	b.InvalidatePath("/a")
	for i, k := range keys {
		_, ok := b.Peek(k)
		if want := i >= 4; ok != want {
			t.Errorf("%+v held = %v, want %v", k, ok, want)
		}
	}
	if s := b.Stats(); s.Bytes != 30 || s.Entries != 3 || s.Evictions != 0 {
		t.Errorf("Stats = %+v, want 30 bytes in 3 entries, no evictions", s)
	}
	if _, ok := b.paths["/a"]; ok {
		t.Error("path index still lists /a")
	}
	checkBytes(t, b)
}

// A rename or removal of a directory drops the blocks of everything
// below it, and a fill under it that was in flight is not stored; paths
// that only share a prefix keep theirs.
func TestBlocksInvalidateTree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		keys := []BlockKey{
			{"/a", "v1", 0, 0}, {"/a/x", "v1", 0, 0}, {"/a/x/y", "v2", 4096, 65536},
			{"/ab", "v1", 0, 0}, {"/b", "v1", 0, 0}, {"/ab/x", "v1", 0, 0},
		}
		for _, k := range keys {
			b.Add(k, make([]byte, 10))
		}
		release := make(chan struct{})
		var wg sync.WaitGroup
		for _, p := range []string{"/a/f", "/ab/f"} {
			wg.Go(func() {
				_, _ = b.Get(context.Background(), key(p, 0), func(context.Context) ([]byte, error) {
					<-release
					return []byte("old"), nil
				})
			})
		}
		synctest.Wait()
		b.InvalidateTree("/a/") // a trailing slash names the same directory
		close(release)
		wg.Wait()
		for i, k := range keys {
			if _, ok := b.Peek(k); ok != (i >= 3) {
				t.Errorf("%+v held = %v, want %v", k, ok, i >= 3)
			}
		}
		if _, ok := b.Peek(key("/a/f", 0)); ok {
			t.Error("fill under the tree that predates the invalidation was stored")
		}
		if _, ok := b.Peek(key("/ab/f", 0)); !ok {
			t.Error("fill outside the tree was not stored")
		}
		if len(b.paths) != 4 {
			t.Errorf("path index holds %d paths, want 4 (/ab, /b, /ab/x, /ab/f)", len(b.paths))
		}
		checkBytes(t, b)
	})
}

func TestBlocksInvalidateDuringFill(t *testing.T) {
	for _, tc := range []struct {
		name string
		inv  func(*Blocks)
	}{
		{"InvalidatePath", func(b *Blocks) { b.InvalidatePath("/f") }},
		{"Purge", func(b *Blocks) { b.Purge() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := NewBlocks(1 << 20)
				release := make(chan struct{})
				done := make(chan []byte, 1)
				go func() {
					data, _ := b.Get(context.Background(), key("/f", 0), func(context.Context) ([]byte, error) {
						<-release
						return []byte("old"), nil
					})
					done <- data
				}()
				synctest.Wait()
				tc.inv(b)
				close(release)
				if data := <-done; string(data) != "old" {
					t.Errorf("filler got %q", data)
				}
				if _, ok := b.Peek(key("/f", 0)); ok {
					t.Error("fill that predates the invalidation was stored")
				}
			})
		})
	}
}

func TestBlocksOversize(t *testing.T) {
	b := NewBlocks(100)
	b.Add(key("/f", 1), make([]byte, 50))
	data, err := b.Get(context.Background(), key("/f", 0), fillWith(make([]byte, 101)))
	if err != nil || len(data) != 101 {
		t.Fatalf("Get = %d bytes, %v", len(data), err)
	}
	if _, ok := b.Peek(key("/f", 0)); ok {
		t.Error("oversize block kept")
	}
	if _, ok := b.Peek(key("/f", 1)); !ok {
		t.Error("oversize block evicted others")
	}
	if s := b.Stats(); s.Bytes != 50 || s.Evictions != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestBlocksZeroMax(t *testing.T) {
	b := NewBlocks(0)
	var calls int
	fill := func(context.Context) ([]byte, error) { calls++; return []byte("x"), nil }
	for range 2 {
		if _, err := b.Get(context.Background(), key("/f", 0), fill); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 || b.Stats().Entries != 0 {
		t.Errorf("calls = %d, stats = %+v", calls, b.Stats())
	}
}

func TestBlocksStats(t *testing.T) {
	b := NewBlocks(1000)
	ctx := context.Background()
	b.Get(ctx, key("/f", 0), fillWith(make([]byte, 400)))
	b.Get(ctx, key("/f", 0), nil)
	b.Get(ctx, key("/f", 0), nil)
	b.Get(ctx, key("/f", 1), fillWith(make([]byte, 400)))
	b.Get(ctx, key("/f", 2), fillWith(make([]byte, 400))) // evicts 0
	b.Peek(key("/f", 1))                                  // not counted
	want := BlockStats{Hits: 2, Misses: 3, Evictions: 1, Bytes: 800, Entries: 2}
	if got := b.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	b.Purge()
	if got := b.Stats(); got.Bytes != 0 || got.Entries != 0 || len(b.paths) != 0 {
		t.Errorf("after Purge: %+v", got)
	}
}

func BenchmarkBlocksGetHit(b *testing.B) {
	c := NewBlocks(64 << 20)
	k := key("/bench/file", 3)
	c.Add(k, make([]byte, 128<<10))
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Get(ctx, k, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlocksGetParallel(b *testing.B) {
	// Readers spread over many cached blocks: measures contention on b.mu.
	const blocks = 256
	c := NewBlocks(blocks * 4096)
	for i := range int64(blocks) {
		c.Add(key("/bench/file", i), make([]byte, 4096))
	}
	ctx := context.Background()
	fill := fillWith(make([]byte, 4096))
	var seed atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := seed.Add(97)
		for pb.Next() {
			if _, err := c.Get(ctx, key("/bench/file", i%blocks), fill); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	if s := c.Stats(); s.Misses != 0 {
		b.Errorf("%d misses in a hit benchmark", s.Misses)
	}
}

func TestBlocksForegroundJoinPromotesBackgroundFill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		var calls atomic.Int64
		fill := func(ctx context.Context) ([]byte, error) {
			calls.Add(1)
			<-priority.Promoted(ctx) // a background request waits its turn until promoted
			return []byte("data"), nil
		}
		bgDone := make(chan error, 1)
		go func() {
			_, err := b.Get(priority.Background(context.Background()), key("/f", 0), fill)
			bgDone <- err
		}()
		synctest.Wait()
		data, err := b.Get(context.Background(), key("/f", 0), fill)
		if err != nil || string(data) != "data" {
			t.Fatalf("foreground Get = %q, %v", data, err)
		}
		if err := <-bgDone; err != nil {
			t.Errorf("background Get: %v", err)
		}
		if c := calls.Load(); c != 1 {
			t.Errorf("fill calls = %d, want 1 (the foreground caller shares the promoted fill)", c)
		}
	})
}

func TestBlocksForegroundTakesOverStalledBackgroundFill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		b.SetPatience(func() time.Duration { return 40 * time.Millisecond })
		release := make(chan struct{})
		stalled := func(ctx context.Context) ([]byte, error) {
			<-release
			return []byte("late"), nil
		}
		bgDone := make(chan error, 1)
		go func() {
			_, err := b.Get(priority.Background(context.Background()), key("/f", 0), stalled)
			bgDone <- err
		}()
		synctest.Wait()
		start := time.Now()
		data, err := b.Get(context.Background(), key("/f", 0), fillWith([]byte("own")))
		if err != nil || string(data) != "own" {
			t.Fatalf("foreground Get = %q, %v; want its own fill", data, err)
		}
		if waited := time.Since(start); waited != 40*time.Millisecond {
			t.Errorf("foreground waited %v, want the patience (40ms)", waited)
		}
		close(release)
		if err := <-bgDone; err != nil {
			t.Errorf("background Get: %v", err)
		}
		if got, ok := b.Peek(key("/f", 0)); !ok || string(got) != "own" {
			t.Errorf("cached %q, %v; the overtaken background result must not replace the foreground one", got, ok)
		}
	})
}

// A caller that waited for the background work elsewhere already waits
// only what is left of its patience (WithPatience), down to not at all.
func TestBlocksForegroundWaitsItsOwnPatience(t *testing.T) {
	for _, own := range []time.Duration{10 * time.Millisecond, 0} {
		synctest.Test(t, func(t *testing.T) {
			b := NewBlocks(1 << 20)
			b.SetPatience(func() time.Duration { return 40 * time.Millisecond })
			release := make(chan struct{})
			go func() {
				_, _ = b.Get(priority.Background(context.Background()), key("/f", 0), func(context.Context) ([]byte, error) {
					<-release
					return []byte("late"), nil
				})
			}()
			synctest.Wait()
			start := time.Now()
			data, err := b.Get(WithPatience(context.Background(), own), key("/f", 0), fillWith([]byte("own")))
			if err != nil || string(data) != "own" {
				t.Fatalf("foreground Get = %q, %v; want its own fill", data, err)
			}
			if waited := time.Since(start); waited != own {
				t.Errorf("foreground waited %v, want its own patience (%v)", waited, own)
			}
			close(release)
			synctest.Wait()
		})
	}
}

func TestBlocksBackgroundJoinWaitsForBackgroundFill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		b.SetPatience(func() time.Duration { return time.Millisecond })
		release := make(chan struct{})
		var calls atomic.Int64
		slow := func(ctx context.Context) ([]byte, error) {
			calls.Add(1)
			<-release
			return []byte("data"), nil
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := b.Get(priority.Background(context.Background()), key("/f", 0), slow)
				errs <- err
			}()
		}
		synctest.Wait()
		time.Sleep(time.Second)
		close(release)
		for range 2 {
			if err := <-errs; err != nil {
				t.Errorf("Get: %v", err)
			}
		}
		if c := calls.Load(); c != 1 {
			t.Errorf("fill calls = %d, want 1 (background never takes over background)", c)
		}
	})
}

func TestBlocksForegroundRetriesFailedBackgroundFill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBlocks(1 << 20)
		preempted := errors.New("preempted")
		release := make(chan struct{})
		bgDone := make(chan error, 1)
		go func() {
			_, err := b.Get(priority.Background(context.Background()), key("/f", 0), func(context.Context) ([]byte, error) {
				<-release
				return nil, preempted
			})
			bgDone <- err
		}()
		synctest.Wait()
		fg := make(chan []byte, 1)
		go func() {
			data, err := b.Get(context.Background(), key("/f", 0), fillWith([]byte("own")))
			if err != nil {
				t.Errorf("foreground Get: %v (a background failure is not the foreground's)", err)
			}
			fg <- data
		}()
		synctest.Wait()
		close(release)
		if err := <-bgDone; !errors.Is(err, preempted) {
			t.Errorf("background Get err = %v, want preempted", err)
		}
		if data := <-fg; string(data) != "own" {
			t.Errorf("foreground got %q, want its own fill", data)
		}
	})
}
