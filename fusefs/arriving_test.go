package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
)

// arrivingLister is slowLister whose slow listing gives its entries named
// in early at once, as the pool does with lines it has parsed, and the
// whole listing only after delay.
type arrivingLister struct {
	slowLister
	early map[string]bool
}

func (s *arrivingLister) List(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	if dir == s.dir {
		entries, err := s.fakeRemote.List(ctx, dir)
		if err != nil {
			return nil, err
		}
		if sink := arriving.SinkFrom(ctx); sink != nil {
			for _, e := range entries {
				if s.early[e.Name()] {
					sink.Arrived(e)
				}
			}
		}
	}
	return s.slowLister.List(ctx, dir)
}

// TestLookupFromArrivingListing: on a server that cannot be asked about
// one name with its mode (LIST only), a stat of a name the slow listing
// has already given is answered from it, without waiting for the rest and
// without asking the server; a name it has not given waits for the
// listing's end, which says whether it exists.
func TestLookupFromArrivingListing(t *testing.T) {
	r := &arrivingLister{slowLister: slowLister{fakeRemote: newFakeRemote(), dir: "/slow", delay: 4 * time.Second},
		early: map[string]bool{"a.txt": true}}
	r.add("/slow/a.txt", []byte("abc"))
	r.add("/slow/b.txt", []byte("b"))
	mnt := mountRemote(t, r, 1<<20, false, nil)
	start := time.Now()
	fi, err := os.Stat(filepath.Join(mnt, "slow", "a.txt"))
	if err != nil || fi.Size() != 3 || fi.Mode() != 0o644 {
		t.Fatalf("stat of an entry already arrived: %v, %v", fi, err)
	}
	if took := time.Since(start); took >= r.delay {
		t.Errorf("stat of an entry already arrived waited %v, the whole listing", took)
	}
	if _, err := os.Stat(filepath.Join(mnt, "slow", "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a missing name: %v", err)
	}
	if took := time.Since(start); took < r.delay {
		t.Errorf("a missing name was answered after %v, before the listing ended", took)
	}
	if fi, err := os.Stat(filepath.Join(mnt, "slow", "b.txt")); err != nil || fi.Size() != 1 {
		t.Errorf("stat of b.txt after the listing: %v, %v", fi, err)
	}
	if n := r.stats.Load(); n != 0 {
		t.Errorf("%d Stats asked of a server without MLST, want 0", n)
	}
	if n := r.slow.Load(); n != 1 {
		t.Errorf("%d listings of /slow, want 1", n)
	}
}
