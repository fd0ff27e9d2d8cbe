package fusefs

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// TestHotPieceStaysCached: a piece read again and again between others
// stays in a block cache too small for all of them (hits count as uses),
// instead of leaving in the order pieces came.
func TestHotPieceStaysCached(t *testing.T) {
	const size, readLen = 48 << 20, 4096
	data := randBytes(size)
	r := &countingRemote{fakeRemote: newFakeRemote()}
	r.add("/big.bin", data)
	fsys := New(r, cache.NewDirs(time.Minute, 100, nil), cache.NewBlocks(4*minPieceBytes), Config{Timeout: 10 * time.Second})
	ctx := context.Background()
	fi, err := r.Stat(ctx, "/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := fsys.newHandle(nil, "/big.bin", fi, version(fi), false)
	read := func(off int64) {
		t.Helper()
		res, ok, errno := h.readIsolated(ctx, off, off+readLen)
		if !ok || errno != 0 {
			t.Fatalf("isolated read at %d: served %v, errno %v", off, ok, errno)
		}
		got, _ := res.Bytes(make([]byte, readLen))
		if !bytes.Equal(got, data[off:off+readLen]) {
			t.Fatalf("isolated read at %d: wrong bytes", off)
		}
	}
	const hot, colds = 8 << 20, 6
	for i := range colds {
		read(hot)
		read(int64(16+6*i) << 20) // far from the hot piece and each other
	}
	read(hot)
	if got, want := r.served.Load(), int64(1+colds)*minPieceBytes; got > want {
		t.Errorf("fetched %d KiB, want %d KiB: the hot piece was fetched again", got>>10, want>>10)
	}
}
