package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// slowLister is the fake remote with one directory whose listing takes
// delay (or until its context ends), counting the listings of it.
type slowLister struct {
	*fakeRemote
	dir   string
	delay time.Duration
	slow  atomic.Int64
}

func (s *slowLister) List(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	if dir == s.dir {
		s.slow.Add(1)
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.fakeRemote.List(ctx, dir)
}

// TestLookupWhileListingArrives: a stat of one name in a directory whose
// listing has been arriving for more than lookupPatience asks the server
// about that name; the listing goes on, is not started again, and answers
// what comes after it.
func TestLookupWhileListingArrives(t *testing.T) {
	r := &slowLister{fakeRemote: newFakeRemote(), dir: "/slow", delay: 3 * time.Second}
	r.oneNameStat = true
	r.add("/slow/a.txt", []byte("abc"))
	r.add("/slow/b.txt", []byte("b"))
	mnt := mountRemote(t, r, 1<<20, false, nil)
	start := time.Now()
	fi, err := os.Stat(filepath.Join(mnt, "slow", "a.txt"))
	if err != nil || fi.Size() != 3 {
		t.Fatalf("stat while the listing arrives: %v, %v", fi, err)
	}
	if took := time.Since(start); took >= r.delay {
		t.Errorf("stat waited %v, the whole listing", took)
	}
	if _, err := os.Stat(filepath.Join(mnt, "slow", "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a missing name while the listing arrives: %v", err)
	}
	if n := r.stats.Load(); n != 2 {
		t.Errorf("%d Stats asked, want 2 (one per name)", n)
	}
	out, err := exec.Command("ls", filepath.Join(mnt, "slow")).Output()
	if err != nil || strings.Fields(string(out))[1] != "b.txt" {
		t.Errorf("ls: %q, %v", out, err)
	}
	if n := r.slow.Load(); n != 1 {
		t.Errorf("%d listings of /slow, want 1 (the stats joined it)", n)
	}
}

// TestLsLSlowerThanTTL: with a listing slower than dir_cache_ttl, `ls -l`
// costs one listing (READDIRPLUS answers from the listing its readdir
// read) and finishes.
func TestLsLSlowerThanTTL(t *testing.T) {
	r := &slowLister{fakeRemote: newFakeRemote(), dir: "/slow", delay: 1500 * time.Millisecond}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		r.add("/slow/"+n, []byte(n))
	}
	mnt, _ := reviewMount(t, r, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ls", "-l", filepath.Join(mnt, "slow")).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -l: %v: %s", err, out)
	}
	if n := strings.Count(string(out), "\n"); n != 6 {
		t.Errorf("ls -l printed %d lines, want 6:\n%s", n, out)
	}
	if n := r.slow.Load(); n != 1 {
		t.Errorf("%d listings of /slow for one ls -l, want 1", n)
	}
}

// TestLookupWaitsForListingWithoutMLST: on a server whose Stat would guess
// the mode (SIZE, MDTM and CWD: a 0600 file would show 0644, to every user
// under allow_other) or list the directory again, a lookup during a slow
// listing waits for it and answers from it.
func TestLookupWaitsForListingWithoutMLST(t *testing.T) {
	r := &slowLister{fakeRemote: newFakeRemote(), dir: "/slow", delay: 1500 * time.Millisecond}
	r.add("/slow/a.txt", []byte("abc"))
	mnt := mountRemote(t, r, 1<<20, false, nil)
	start := time.Now()
	fi, err := os.Stat(filepath.Join(mnt, "slow", "a.txt"))
	if err != nil || fi.Size() != 3 {
		t.Fatalf("stat while the listing arrives: %v, %v", fi, err)
	}
	if took := time.Since(start); took < r.delay {
		t.Errorf("stat answered after %v, before the listing arrived (%v)", took, r.delay)
	}
	if n := r.stats.Load(); n != 0 {
		t.Errorf("%d Stats asked of a server without MLST, want 0", n)
	}
	if n := r.slow.Load(); n != 1 {
		t.Errorf("%d listings of /slow, want 1", n)
	}
}
