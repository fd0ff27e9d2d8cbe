package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// The tests here are the README's promise that a slow or endless server
// costs bounded time and memory (issue: bounded in time and memory).

// TestEndlessListingStops: a listing that never ends fails at timeout=,
// and then the work stops: the process's memory stops growing within a
// second, and the server sees the data connection end.
func TestEndlessListingStops(t *testing.T) {
	// 1 KB names at most 20,000 a second (20 MB/s): 50 s of listing.
	b := startBounded(t, testserver.EmbeddedOptions{Listings: map[string]testserver.Synthetic{
		"/endless": {Entries: 1_000_000, NameLen: 1000, Delay: 50 * time.Microsecond},
	}}, "timeout=2s")
	base := b.settle(t)
	pid := b.m.cmd.Process.Pid
	r := runFor(30*time.Second, "ls", filepath.Join(b.m.Dir, "endless"))
	if r.err == nil || !strings.Contains(r.out, "Connection timed out") {
		t.Fatalf("ls of an endless listing: %v; want ETIMEDOUT", r)
	}
	if r.took > 3*time.Second {
		t.Errorf("ls of an endless listing failed %v after it began; timeout=2s", r.took)
	}
	time.Sleep(time.Second)
	settled, err := readRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	peak := peakRSS(pid, stop)
	time.Sleep(2 * time.Second)
	close(stop)
	// 8 MiB is allocator noise; the listing arrived at 20 MB/s.
	if grew := <-peak - settled; grew > 8<<10 {
		t.Errorf("RSS grew by %d KiB in the 2 s after the listing had failed for a second", grew)
	}
	if got := b.srv.Listings("/endless"); got != 1 {
		t.Errorf("%d listings of /endless sent, want 1", got)
	}
	b.backToBase(t, base)
}

// TestDrippingListingsSpareTheMount: eight directories whose listings send
// a line a second take every connection at first; once they count as slow
// they may hold only half, so a read, a listing and a write elsewhere
// succeed before any of the eight has timed out. Afterwards the mount is
// back to its baseline.
func TestDrippingListingsSpareTheMount(t *testing.T) {
	listings := map[string]testserver.Synthetic{}
	for i := range 8 {
		listings[fmt.Sprintf("/drip%d", i)] = testserver.Synthetic{Entries: 100, Delay: time.Second}
	}
	// timeout= beyond the 2 s after which a listing counts as slow.
	b := startBounded(t, testserver.EmbeddedOptions{Listings: listings}, "timeout=4s")
	base := b.settle(t)
	type done struct {
		r  result
		at time.Time
	}
	timed := func(limit time.Duration, name string, args ...string) <-chan done {
		ch := make(chan done, 1)
		go func() {
			r := runFor(limit, name, args...)
			ch <- done{r, time.Now()}
		}()
		return ch
	}
	var slow []<-chan done
	for i := range 8 {
		slow = append(slow, timed(30*time.Second, "ls", filepath.Join(b.m.Dir, fmt.Sprintf("drip%d", i))))
	}
	time.Sleep(300 * time.Millisecond) // all eight are waiting on their listings
	others := map[string]<-chan done{
		"read":    timed(20*time.Second, "cat", filepath.Join(b.m.Dir, "hello.txt")),
		"listing": timed(20*time.Second, "ls", filepath.Join(b.m.Dir, "tree")),
		"write":   timed(20*time.Second, "sh", "-c", "echo written > "+filepath.Join(b.m.Dir, "new.txt")),
	}
	want := map[string]string{"read": "hello\n", "listing": "a.txt\n", "write": ""}
	var lastOther time.Time
	for what, ch := range others {
		d := <-ch
		if d.r.err != nil || d.r.out != want[what] {
			t.Errorf("%s beside eight dripping listings: %v", what, d.r)
		}
		if d.at.After(lastOther) {
			lastOther = d.at
		}
	}
	for i, ch := range slow {
		d := <-ch
		if d.r.err == nil || !strings.Contains(d.r.out, "Connection timed out") {
			t.Errorf("ls drip%d: %v; want ETIMEDOUT", i, d.r)
		}
		if !d.at.After(lastOther) {
			t.Errorf("ls drip%d ended before the read, the listing and the write had all finished: they waited for its connection", i)
		}
	}
	if got, err := os.ReadFile(filepath.Join(b.srv.Opts.Root, "new.txt")); err != nil || string(got) != "written\n" {
		t.Errorf("the server has new.txt = %q, %v", got, err)
	}
	b.backToBase(t, base)
}

// TestSlowListingFetchedOnce: a 2,000-entry listing that takes longer than
// dir_cache_ttl is fetched once, and `ls -l` of it finishes.
func TestSlowListingFetchedOnce(t *testing.T) {
	// 2,000 entries in 2.5 s, against a TTL of 2 s.
	b := startBounded(t, testserver.EmbeddedOptions{Listings: map[string]testserver.Synthetic{
		"/slow": {Entries: 2000, Delay: 1250 * time.Microsecond},
	}}, "timeout=5s", "dir_cache_ttl=2s")
	base := b.settle(t)
	r := runFor(20*time.Second, "ls", "-l", filepath.Join(b.m.Dir, "slow"))
	if r.err != nil {
		t.Fatalf("ls -l of a listing slower than dir_cache_ttl: %v", tail(r.out, 5))
	}
	if n := strings.Count(r.out, "\n"); n != 2001 { // and the "total" line
		t.Errorf("ls -l printed %d lines, want 2001", n)
	}
	if got := b.srv.Listings("/slow"); got != 1 {
		t.Errorf("%d listings of /slow sent, want 1", got)
	}
	b.backToBase(t, base)
}

// TestMLSDCurrentAndParentNotChildren: MLSD entries of type cdir and pdir
// name the directory itself and its parent, even with a relative name:
// they never show up as subdirectories.
func TestMLSDCurrentAndParentNotChildren(t *testing.T) {
	const modify = "Modify=20250102030405;"
	b := startBounded(t, testserver.EmbeddedOptions{Listings: map[string]testserver.Synthetic{
		"/facts": {Names: []string{
			// Each name ends its own line and injects a whole one after it.
			"plain.txt\r\nType=cdir;" + modify + " sub",
			"other.txt\r\nType=pdir;" + modify + " up",
		}},
	}})
	base := b.settle(t)
	r := runFor(20*time.Second, "ls", "-a", filepath.Join(b.m.Dir, "facts"))
	if r.err != nil {
		t.Fatalf("ls: %v", r)
	}
	if got := strings.Fields(r.out); strings.Join(got, " ") != ". .. other.txt plain.txt" {
		t.Errorf("ls -a shows %q, want . .. other.txt plain.txt", got)
	}
	for _, name := range []string{"sub", "up"} {
		if _, err := os.Stat(filepath.Join(b.m.Dir, "facts", name)); !os.IsNotExist(err) {
			t.Errorf("stat facts/%s: %v, want ENOENT", name, err)
		}
	}
	b.backToBase(t, base)
}

// TestHugeListingBounded: a 500,000-entry directory is beyond the default
// max_listing: it fails with EFBIG while it arrives, and the process's
// memory meanwhile stays within the README's bound for a listing being
// received (cache_size + 128 MiB + 1 KiB per entry up to max_listing).
func TestHugeListingBounded(t *testing.T) {
	const cacheSize, maxListing = 16 << 20, 250_000 // cache_size=16M, max_listing's default
	b := startBounded(t, testserver.EmbeddedOptions{Listings: map[string]testserver.Synthetic{"/huge": {Entries: 500_000}}},
		"timeout=20s", "cache_size=16M")
	base := b.settle(t)
	pid := b.m.cmd.Process.Pid
	stop := make(chan struct{})
	peak := peakRSS(pid, stop)
	r := runFor(60*time.Second, "ls", filepath.Join(b.m.Dir, "huge"))
	close(stop)
	if r.err == nil || !strings.Contains(r.out, "File too large") {
		t.Errorf("ls of 500,000 entries: %v; want EFBIG (max_listing)", r)
	}
	bound := int64(cacheSize+128<<20+maxListing<<10) >> 10
	p := <-peak
	t.Logf("peak RSS %d MiB, bound %d MiB", p>>10, bound>>10)
	if p > bound {
		t.Errorf("peak RSS %d KiB > the README's bound of %d KiB", p, bound)
	}
	if !strings.Contains(b.m.logs.String(), "max_listing") {
		t.Errorf("the log does not name max_listing:\n%s", tail(b.m.logs.String(), 10))
	}
	b.backToBase(t, base)
}

// TestExpiredListingsFreed: listings are freed once they expire, without
// their directories being asked for again.
func TestExpiredListingsFreed(t *testing.T) {
	listings := map[string]testserver.Synthetic{}
	for i := range 10 {
		listings[fmt.Sprintf("/d%d", i)] = testserver.Synthetic{Entries: 5000}
	}
	b := startBounded(t, testserver.EmbeddedOptions{Listings: listings}, "dir_cache_ttl=2s")
	base := b.settle(t)
	for i := range 10 {
		run(t, "ls", filepath.Join(b.m.Dir, fmt.Sprintf("d%d", i)))
	}
	if got := b.metric(t, "ftpsfs_dir_cache_bytes"); got < 10*5000*100 {
		t.Fatalf("the listing cache holds %v bytes after ten 5,000-entry listings", got)
	}
	// Sweeps run every second (half the TTL, at least 1 s): all ten are
	// gone at most 3 s after they arrived.
	deadline := time.Now().Add(5 * time.Second)
	for b.metric(t, "ftpsfs_dir_cache_listings") != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n, bytes := b.metric(t, "ftpsfs_dir_cache_listings"), b.metric(t, "ftpsfs_dir_cache_bytes"); n != 0 || bytes != 0 {
		t.Errorf("5 s after expiry the cache still holds %v listings, %v bytes", n, bytes)
	}
	b.backToBase(t, base)
}
