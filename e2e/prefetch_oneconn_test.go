package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// With connections=1 (servers that allow one login per user) a listing
// fetched ahead may take the mount's only connection, but a program that
// then reads a file takes it back within a few round trips (the pool
// preempts background work), instead of waiting behind the prefetch of a
// dripping subdirectory until its timeout, as it did when prefetch came
// before the pool's scheduler (found by review).
func TestPrefetchLeavesTheOnlyConnection(t *testing.T) {
	b := startBounded(t, testserver.EmbeddedOptions{Listings: map[string]testserver.Synthetic{
		"/drip": {Entries: 100, Delay: time.Second},
	}}, "connections=1", "timeout=4s")
	b.settle(t)
	if _, err := os.ReadDir(b.m.Dir); err != nil { // ls: queues /drip and /tree
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the prefetch of /drip is under way
	r := runFor(20*time.Second, "cat", filepath.Join(b.m.Dir, "hello.txt"))
	t.Logf("cat: %v", r)
	if r.err != nil || r.took > 2*time.Second { // well below timeout=4s, which it waited before
		t.Errorf("cat of a file in a listed directory took %v (err %v) behind a prefetch", r.took, r.err)
	}
}
