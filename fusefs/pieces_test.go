package fusefs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpsfs/ftpsfs/cache"
)

// countingRemote counts the bytes its readers hand out: what a server
// would have sent (before what an abort leaves in flight).
type countingRemote struct {
	*fakeRemote
	served atomic.Int64
}

func (c *countingRemote) OpenReader(p string) RemoteReader {
	return &countingReader{RemoteReader: c.fakeRemote.OpenReader(p), served: &c.served}
}

type countingReader struct {
	RemoteReader
	served *atomic.Int64
}

func (r *countingReader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	n, err := r.RemoteReader.ReadAt(ctx, buf, off)
	r.served.Add(int64(n))
	return n, err
}

// mountBlocks mounts r with 1 MiB blocks, as ftpsfs does; what it logs
// goes to logs.
func mountBlocks(t *testing.T, r Remote, logs *syncBuffer) string {
	t.Helper()
	dir := t.TempDir()
	fsys := New(r, cache.NewDirs(time.Minute, 100, nil), cache.NewBlocks(256<<20), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Timeout: 10 * time.Second, SpoolDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: time.Second, EntryTimeout: time.Second})
	if err != nil {
		t.Fatalf("mount failed (is /dev/fuse there, and fuse3 installed? apt-get install fuse3): %v", err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

// TestRandomReadsFetchWhatTheyAsk: 200 random 64 KiB reads in a large file
// fetch about 200 × 64 KiB from the server, not a 1 MiB block each, and
// return the right bytes; reading the file through afterwards (whole
// blocks over the same places) is right too.
func TestRandomReadsFetchWhatTheyAsk(t *testing.T) {
	const size, n, readLen = 96 << 20, 200, 64 << 10
	data := randBytes(size)
	r := &countingRemote{fakeRemote: newFakeRemote()}
	r.add("/big.bin", data)
	var logs syncBuffer
	mnt := mountBlocks(t, r, &logs)
	f, err := os.Open(filepath.Join(mnt, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, readLen)
	prevEnd := int64(0)
	for i := range n {
		// Far from the previous read, as nearly all are in a file of GiBs;
		// a read near the previous one is taken for sequential, by design.
		off := rng.Int64N(size - readLen)
		for off < prevEnd+outOfOrderBytes && off+outOfOrderBytes > prevEnd {
			off = rng.Int64N(size - readLen)
		}
		prevEnd = off + readLen
		if _, err := f.ReadAt(buf, off); err != nil {
			t.Fatalf("read %d at %d: %v", i, off, err)
		}
		if !bytes.Equal(buf, data[off:off+readLen]) {
			t.Fatalf("read %d at %d: wrong bytes", i, off)
		}
	}
	t.Logf("served %d KiB for %d reads", r.served.Load()>>10, n)
	// The kernel asks for whole pages: 68 KiB for an unaligned 64 KiB.
	if got, limit := r.served.Load(), int64(2*n*readLen); got > limit {
		t.Errorf("%d random %d KiB reads fetched %d MiB from the server, want at most %d MiB",
			n, readLen>>10, got>>20, limit>>20)
	}
	whole := sha256.New()
	if _, err := io.Copy(whole, io.NewSectionReader(f, 0, size)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole.Sum(nil), sum(data)) {
		t.Error("the file read through after random reads differs from the server's")
	}
	if strings.Contains(logs.String(), "failed") {
		t.Errorf("reads failed:\n%s", logs.String())
	}
}

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestPieceIsNeverABlock: a piece at offset 0 (a short read far from the
// previous one) is cached under its own key, so reading block 0 whole
// afterwards gets the block, not the 64 KiB piece taken for it.
func TestPieceIsNeverABlock(t *testing.T) {
	data := randBytes(16 << 20)
	r := newFakeRemote()
	r.add("/f.bin", data)
	var logs syncBuffer
	mnt := mountBlocks(t, r, &logs)
	f, err := os.Open(filepath.Join(mnt, "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// No kernel readahead: the daemon sees the 4 KiB reads as they are.
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for _, off := range []int64{12 << 20, 0} { // far away, then a piece at 0
		if _, err := f.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+4096]) {
			t.Fatalf("read at %d: %v, or wrong bytes", off, err)
		}
	}
	got := make([]byte, 2<<20)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatalf("reading the first 2 MiB after a piece at 0: %v", err)
	}
	if !bytes.Equal(got, data[:2<<20]) {
		t.Error("the first 2 MiB read after a piece at 0 are wrong")
	}
	// A piece served as block 0 fails the read past its end (short read);
	// the kernel's retry then hides it from the program, not from the log.
	if strings.Contains(logs.String(), "failed") {
		t.Errorf("reads failed:\n%s", logs.String())
	}
}

func TestPieceIndex(t *testing.T) {
	var x pieceIndex
	f := pieceFile{"/a", "v"}
	x.add(f, piece{100, 50})
	x.add(f, piece{0, 64})
	x.add(f, piece{100, 50}) // again: kept once
	x.add(pieceFile{"/a", "w"}, piece{100, 50})
	if got := x.covering(f, 110, 150); len(got) != 1 || got[0] != (piece{100, 50}) {
		t.Errorf("covering [110,150) = %v", got)
	}
	if got := x.covering(f, 110, 151); len(got) != 0 {
		t.Errorf("covering [110,151) = %v, want none (past the piece)", got)
	}
	if got := x.covering(f, 10, 20); len(got) != 1 || got[0] != (piece{0, 64}) {
		t.Errorf("covering [10,20) = %v", got)
	}
	x.remove(f, piece{0, 64})
	if got := x.covering(f, 10, 20); len(got) != 0 {
		t.Errorf("after remove, covering [10,20) = %v", got)
	}
	for i := range maxPiecesPerFile + 10 {
		x.add(f, piece{int64(i) << 20, 1})
	}
	if got := len(x.files[f]); got > maxPiecesPerFile {
		t.Errorf("%d pieces indexed for one file, want at most %d", got, maxPiecesPerFile)
	}
}

func TestIsolated(t *testing.T) {
	var p pieceState
	for _, c := range []struct {
		off, end int64
		want     bool
	}{
		{0, 4096, false},              // the start of the file
		{4096, 1 << 20, false},        // sequential
		{600 << 20, 601 << 20, true},  // a seek
		{601 << 20, 602 << 20, false}, // sequential again
		{599 << 20, 600 << 20, false}, // the kernel's reads out of order
		{0, 4096, true},               // back to the start
	} {
		if got := p.isolated(c.off, c.end); got != c.want {
			t.Errorf("isolated(%d, %d) = %v, want %v", c.off, c.end, got, c.want)
		}
	}
}
