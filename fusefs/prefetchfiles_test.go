package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// walkRemote is a fake remote that counts the streams read per file and
// can hold the streams of one file, or fail them.
type walkRemote struct {
	*fakeRemote
	mu      sync.Mutex
	streams map[string]int
	hold    string        // streams of this path wait for release, then serve what the file held at their open
	held    chan struct{} // receives when a stream of hold starts waiting
	release chan struct{}
	fail    string // streams of this path fail
}

func newWalkRemote() *walkRemote {
	return &walkRemote{fakeRemote: newFakeRemote(), streams: map[string]int{}}
}

func (r *walkRemote) OpenReader(p string) RemoteReader {
	return &countedReader{r: r, path: p}
}

// countedReader counts a stream when it is first read (a handle opens one
// at open, which sends nothing until it is read).
type countedReader struct {
	r      *walkRemote
	path   string
	reader RemoteReader
}

func (c *countedReader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	if c.reader == nil {
		c.reader = c.r.stream(c.path)
	}
	return c.reader.ReadAt(ctx, buf, off)
}

func (c *countedReader) Close() error { return nil }

func (r *walkRemote) stream(p string) RemoteReader {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams[p]++
	switch p {
	case r.hold:
		old, _ := r.content(p)
		return &heldReader{r: r, old: old}
	case r.fail:
		return &fakeReader{r: &fakeRemote{readErr: errInjected}, path: p}
	}
	return r.fakeRemote.OpenReader(p)
}

func (r *walkRemote) opened(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[p]
}

// heldReader serves the content a file had when it was opened, once
// released: a transfer that started before a change.
type heldReader struct {
	r    *walkRemote
	old  []byte
	once sync.Once
}

func (h *heldReader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	h.once.Do(func() {
		h.r.held <- struct{}{}
		<-h.r.release
	})
	if off >= int64(len(h.old)) {
		return 0, io.EOF
	}
	n := copy(buf, h.old[off:])
	if n < len(buf) {
		return n, io.EOF
	}
	return n, nil
}

func (h *heldReader) Close() error { return nil }

// mountWalk mounts r with a block cache of cacheBytes and 64 KiB blocks.
func mountWalk(t *testing.T, r Remote, cacheBytes int64) (string, *FS) {
	t.Helper()
	return mountWalkFetching(t, r, cacheBytes, 0)
}

// mountWalkFetching is mountWalk with Config.PrefetchFiles.
func mountWalkFetching(t *testing.T, r Remote, cacheBytes int64, prefetch int) (string, *FS) {
	t.Helper()
	dir := t.TempDir()
	fsys := New(r, cache.NewDirs(time.Minute, 100, nil), cache.NewBlocks(cacheBytes), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), BlockSize: 64 << 10, Timeout: 5 * time.Second,
		SpoolDir: t.TempDir(), PrefetchFiles: prefetch,
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: time.Second, EntryTimeout: time.Second})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir, fsys
}

func walkName(i int) string { return fmt.Sprintf("f%02d", i) }

// addWalk puts n files of 4 KiB in /d; file i is filled with byte 'a'+i.
func addWalk(r *walkRemote, n int) {
	for i := range n {
		r.add("/d/"+walkName(i), bytes.Repeat([]byte{byte('a' + i)}, 4<<10))
	}
}

func readWalk(t *testing.T, mnt string, i int) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(mnt, "d", walkName(i)))
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat([]byte{byte('a' + i)}, 4<<10); !bytes.Equal(got, want) {
		t.Fatalf("%s: read %d bytes starting %q, want %d of %q", walkName(i), len(got), got[:min(len(got), 8)], len(want), want[:1])
	}
}

// settled waits until no prefetch runs or is queued.
func settled(t *testing.T, fsys *FS) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fsys.prefetch.mu.Lock()
		idle := fsys.prefetch.workers == 0 && len(fsys.prefetch.queue) == 0
		fsys.prefetch.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("prefetch still running after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPrefetchFetchesTheNextFilesBeforeTheyAreOpened(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 20)
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys)
	for i := 2; i < 2+defaultPrefetch; i++ {
		if n := r.opened("/d/" + walkName(i)); n != 1 {
			t.Errorf("%s: %d streams before its open, want 1 (fetched ahead)", walkName(i), n)
		}
	}
	for i := 2; i < 20; i++ {
		readWalk(t, mnt, i)
	}
	settled(t, fsys)
	for i := range 20 {
		if n := r.opened("/d/" + walkName(i)); n != 1 {
			t.Errorf("%s: %d streams, want 1 (the read of a prefetched file is a cache hit)", walkName(i), n)
		}
	}
	if n := prefetchGoroutines(); n != 0 {
		t.Errorf("%d prefetch goroutines after the walk, want 0", n)
	}
}

// prefetchGoroutines counts the goroutines running prefetch code.
func prefetchGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("fusefs.(*FS).prefetch")) {
			n++
		}
	}
	return n
}

func TestPrefetchStopsWhenTheOrderStops(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 20)
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 15)
	readWalk(t, mnt, 0) // far behind f15
	readWalk(t, mnt, 9) // far ahead of f00
	settled(t, fsys)
	for i := range 20 {
		want := 0
		if i == 0 || i == 15 || i == 9 {
			want = 1
		}
		if n := r.opened("/d/" + walkName(i)); n != want {
			t.Errorf("%s: %d streams, want %d (no walk in listing order, no prefetch)", walkName(i), n, want)
		}
	}
}

func TestPrefetchOffFetchesNothingAhead(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 5)
	mnt, fsys := mountWalkFetching(t, r, 64<<20, -1)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys)
	for i := 2; i < 5; i++ {
		if n := r.opened("/d/" + walkName(i)); n != 0 {
			t.Errorf("%s: %d streams with prefetch off, want 0", walkName(i), n)
		}
	}
}

func TestPrefetchFollowsReadersInParallel(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 20)
	mnt, fsys := mountWalk(t, r, 64<<20)
	for _, i := range []int{0, 2, 1, 4, 3} { // as xargs -P opens them
		readWalk(t, mnt, i)
	}
	settled(t, fsys)
	for i := 5; i < 4+defaultPrefetch; i++ {
		if n := r.opened("/d/" + walkName(i)); n != 1 {
			t.Errorf("%s: %d streams before its open, want 1 (fetched ahead)", walkName(i), n)
		}
	}
	for i := 5; i < 20; i++ {
		readWalk(t, mnt, i)
	}
	settled(t, fsys)
	for i := 3; i < 20; i++ {
		if n := r.opened("/d/" + walkName(i)); n != 1 {
			t.Errorf("%s: %d streams, want 1 (fetched ahead once, then read from the cache)", walkName(i), n)
		}
	}
}

func TestPrefetchStopsAtItsShareOfTheCache(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 20)
	// 128 KiB of cache: an eighth is 16 KiB, four files of 4 KiB.
	mnt, fsys := mountWalk(t, r, 128<<10)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys)
	for i := 2; i < 20; i++ {
		want := 0
		if i < 6 {
			want = 1
		}
		if n := r.opened("/d/" + walkName(i)); n != want {
			t.Errorf("%s: %d streams after two opens, want %d", walkName(i), n, want)
		}
	}
	readWalk(t, mnt, 2) // makes room for one more
	settled(t, fsys)
	if n := r.opened("/d/" + walkName(6)); n != 1 {
		t.Errorf("f06: %d streams after f02 was read, want 1 (fetched ahead)", n)
	}
}

func TestPrefetchNeverServesAFileChangedHereDuringItsFetch(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 5)
	r.hold, r.held, r.release = "/d/f02", make(chan struct{}, 1), make(chan struct{})
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	select {
	case <-r.held: // f02's prefetch is fetching the old content
	case <-time.After(5 * time.Second):
		t.Fatal("f02 was not fetched ahead")
	}
	p := filepath.Join(mnt, "d", "f02")
	if err := os.WriteFile(p, []byte("new content"), 0o644); err != nil {
		t.Fatal(err)
	}
	close(r.release)
	settled(t, fsys)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "new content" {
		t.Errorf("read back %d bytes starting %q, want the new content", len(got), got[:min(len(got), 8)])
	}
}

func TestPrefetchSkipsAFileBeingWrittenHere(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 5)
	mnt, fsys := mountWalk(t, r, 64<<20)
	w, err := os.OpenFile(filepath.Join(mnt, "d", "f02"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("XX"), 0); err != nil {
		t.Fatal(err)
	}
	before := r.opened("/d/f02") // the load before the first in-place write
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys)
	if n := r.opened("/d/f03"); n != 1 {
		t.Errorf("f03: %d streams, want 1 (fetched ahead)", n)
	}
	if n := r.opened("/d/f02"); n != before {
		t.Errorf("f02 was fetched ahead (%d streams, %d before) while written here", n, before)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "d", "f02"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("XXc")) {
		t.Errorf("f02 reads %q..., want the local write", got[:min(len(got), 8)])
	}
}

func TestPrefetchFailureIsHarmless(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 5)
	r.fail = "/d/f02"
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys)
	if n := r.opened("/d/f02"); n != 1 {
		t.Fatalf("f02: %d streams, want 1 (the failed prefetch)", n)
	}
	r.mu.Lock()
	r.fail = ""
	r.mu.Unlock()
	readWalk(t, mnt, 2)
	readWalk(t, mnt, 3)
}

func TestPrefetchServesTheServersChangeOnceListed(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 5)
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys)
	r.add("/d/f03", []byte("changed on the server"))
	fsys.dirs.Invalidate("/d") // the listing's TTL ran out
	got, err := os.ReadFile(filepath.Join(mnt, "d", "f03"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "changed on the server" {
		t.Errorf("f03 reads %q..., want the server's new content", got[:min(len(got), 8)])
	}
}
