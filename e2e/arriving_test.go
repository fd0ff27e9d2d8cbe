package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// TestStatWhileListingArrives: on a server without MLST (LIST only, as
// vsftpd), a directory whose listing drips 2,000 entries over 15 s: a stat
// of an entry listed early is answered from the listing still arriving,
// well before it ends, with the entry's size and mode; a stat of a name
// not in the directory is ENOENT (once the listing has ended); the
// directory is listed once. Before, every stat waited for the whole
// listing.
func TestStatWhileListingArrives(t *testing.T) {
	const entries, listingTakes = 2000, 15 * time.Second
	b := startBounded(t, testserver.EmbeddedOptions{ListOnly: true, Listings: map[string]testserver.Synthetic{
		"/drip": {Entries: entries, Delay: listingTakes / entries, Size: 1234, Mode: 0o640},
	}}, "timeout=40s")
	base := b.settle(t)
	name := "f10"
	name += strings.Repeat("x", 16-len(name)) // how the synthetic listing names entry 10
	start := time.Now()
	fi, err := statWithin(t, 30*time.Second, filepath.Join(b.m.Dir, "drip", name))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("stat of an entry listed early: %v", err)
	}
	t.Logf("stat of an entry listed early took %v", took)
	if took >= 5*time.Second {
		t.Errorf("stat of an entry listed early took %v, the listing %v", took, listingTakes)
	}
	if fi.Size() != 1234 || fi.Mode() != 0o640 {
		t.Errorf("stat: size %d mode %v, want 1234 and 0640", fi.Size(), fi.Mode())
	}
	if _, err := statWithin(t, 40*time.Second, filepath.Join(b.m.Dir, "drip", "not-there")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a name not in the directory: %v, want ENOENT", err)
	}
	if got := b.srv.Listings("/drip"); got != 1 {
		t.Errorf("%d listings of /drip sent, want 1", got)
	}
	b.backToBase(t, base)
}

// statWithin is os.Stat, failing the test if it has not returned after d.
func statWithin(t *testing.T, d time.Duration, p string) (os.FileInfo, error) {
	t.Helper()
	type res struct {
		fi  os.FileInfo
		err error
	}
	ch := make(chan res, 1)
	go func() {
		fi, err := os.Stat(p)
		ch <- res{fi, err}
	}()
	select {
	case r := <-ch:
		return r.fi, r.err
	case <-time.After(d):
		t.Fatalf("stat %s still running after %v", p, d)
		return nil, fmt.Errorf("unreachable")
	}
}
