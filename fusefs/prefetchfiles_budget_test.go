package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// stallRemote holds every stream of a file named f02 until release closes.
type stallRemote struct {
	*fakeRemote
	release chan struct{}
}

func (r stallRemote) OpenReader(p string) RemoteReader {
	inner := r.fakeRemote.OpenReader(p)
	if !strings.HasSuffix(p, "/f02") {
		return inner
	}
	return stallReader{inner, r.release}
}

type stallReader struct {
	RemoteReader
	release chan struct{}
}

func (s stallReader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.RemoteReader.ReadAt(ctx, buf, off)
}

// Walks evicted from the LRU of followed directories (prefetchMaxDirs)
// have their bytes forgotten, so their queued files must go too, and a
// file being fetched stays counted until its fetch ends: otherwise the
// queue, and the bytes fetched ahead, grow with the number of directories
// walked, past the budget (an eighth of the cache). Here: 2 MiB of cache
// is a budget of 256 KiB, 64 files of 4 KiB; walking 100 directories
// while the server is slow queues one file per directory.
func TestEvictedWalksKeepNothingQueuedBeyondTheBudget(t *testing.T) {
	r := stallRemote{newFakeRemote(), make(chan struct{})}
	const dirs = 100
	for d := range dirs {
		for i := range 3 {
			r.add(fmt.Sprintf("/d%03d/%s", d, walkName(i)), bytes.Repeat([]byte{byte('a' + i)}, 4<<10))
		}
	}
	mnt, fsys := mountWalkFetching(t, r, 2<<20, 1) // budget 256 KiB: 64 files
	for d := range dirs {
		for i := range 2 {
			if _, err := os.ReadFile(filepath.Join(mnt, fmt.Sprintf("d%03d", d), walkName(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	fsys.prefetch.mu.Lock()
	queued, bytesAhead, workers := len(fsys.prefetch.queue), fsys.prefetch.bytes, fsys.prefetch.workers
	fsys.prefetch.mu.Unlock()
	budget := fsys.prefetchBudget()
	inFlight := int64(queued+workers) * 4 << 10
	t.Logf("queued %d, workers %d, counted bytes %d, budget %d", queued, workers, bytesAhead, budget)
	close(r.release)
	settled(t, fsys)
	if inFlight > budget {
		t.Errorf("%d bytes queued or being fetched ahead, budget %d (evicted walks' jobs are not counted)", inFlight, budget)
	}
}

// Unmounting stops the workers: a fetch ahead stuck on a slow server
// ends then, not after its timeout, and nothing queued is fetched.
func TestPrefetchWorkersStopAtUnmount(t *testing.T) {
	r := stallRemote{newFakeRemote(), make(chan struct{})}
	defer close(r.release)
	for i := range 4 {
		r.add("/d/"+walkName(i), bytes.Repeat([]byte{'a'}, 4<<10))
	}
	dir := t.TempDir()
	fsys := New(r, cache.NewDirs(time.Minute, 100, nil), cache.NewBlocks(64<<20), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), BlockSize: 64 << 10, Timeout: time.Minute,
		SpoolDir: t.TempDir(),
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: time.Second, EntryTimeout: time.Second})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	for i := range 2 {
		if _, err := os.ReadFile(filepath.Join(dir, "d", walkName(i))); err != nil {
			t.Fatal(err)
		}
	}
	fsys.prefetch.mu.Lock()
	workers := fsys.prefetch.workers
	fsys.prefetch.mu.Unlock()
	if workers == 0 {
		t.Fatal("no prefetch worker running: the walk was not followed")
	}
	if err := server.Unmount(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second) // far below the minute of timeout
	for {
		fsys.prefetch.mu.Lock()
		workers, queued := fsys.prefetch.workers, len(fsys.prefetch.queue)
		fsys.prefetch.mu.Unlock()
		if workers == 0 && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d prefetch workers still running, %d files queued, 10s after unmount", workers, queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Files a walk passed over (fetched ahead, never opened: cat *.txt in a
// directory where other files sort between them) must not keep their
// bytes in the budget for as long as the walk goes on (reclaimLocked
// frees only other directories' walks): else after budget/size skipped
// files the walk is still followed but nothing more is fetched ahead.
func TestSkippedFilesReleaseTheirBudget(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 40)
	mnt, fsys := mountWalk(t, r, 128<<10) // budget 16 KiB: four files
	for i := 0; i <= 10; i += 2 {
		readWalk(t, mnt, i)
		settled(t, fsys)
	}
	fsys.prefetch.mu.Lock()
	t.Logf("bytes ahead %d of %d, queue %d", fsys.prefetch.bytes, fsys.prefetchBudget(), len(fsys.prefetch.queue))
	fsys.prefetch.mu.Unlock()
	for i := 12; i <= 20; i += 2 {
		if n := r.opened("/d/" + walkName(i)); n != 1 {
			t.Errorf("%s: %d streams before its open, want 1 (the walk goes on in listing order)", walkName(i), n)
		}
		readWalk(t, mnt, i)
		settled(t, fsys)
	}
}

// A file passed by one open only stays counted ahead: parallel readers
// of a walk (xargs -P) open files a little out of order.
func TestFilesPassedByOneOpenStayAhead(t *testing.T) {
	r := newWalkRemote()
	addWalk(r, 10)
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys)
	readWalk(t, mnt, 3) // f02 passed once: another reader may be opening it
	fsys.prefetch.mu.Lock()
	w, _ := fsys.prefetch.walks.Peek("/d")
	_, kept := w.ahead[walkName(2)]
	fsys.prefetch.mu.Unlock()
	if !kept {
		t.Errorf("%s no longer counted ahead after one open passed it", walkName(2))
	}
	readWalk(t, mnt, 4) // passed twice now
	fsys.prefetch.mu.Lock()
	_, kept = w.ahead[walkName(2)]
	fsys.prefetch.mu.Unlock()
	if kept {
		t.Errorf("%s still counted ahead after two opens passed it", walkName(2))
	}
}
