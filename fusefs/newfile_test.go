package fusefs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/pool"
)

// halfStore keeps half of what each Store sends, then fails, like a cut
// STOR that already wrote into its target.
type halfStore struct{ *fakeRemote }

func (r halfStore) Store(ctx context.Context, p string, src io.ReaderAt, size int64) error {
	data := make([]byte, size/2)
	_, _ = src.ReadAt(data, 0)
	r.mu.Lock()
	r.files[p] = data
	r.mu.Unlock()
	return errors.New("connection cut mid-transfer")
}

// TestUnlinkAfterFailedFirstUploadDeletesItsRemains: a new file whose first
// upload went straight to its name and failed (fsync reported it) leaves
// nothing on the server once it is unlinked, although it never became a
// file the server confirmed.
func TestUnlinkAfterFailedFirstUploadDeletesItsRemains(t *testing.T) {
	r := halfStore{newFakeRemote()}
	mnt := mountRemote(t, r, 1<<20, false, nil)
	p := filepath.Join(mnt, "new")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err == nil {
		t.Fatal("fsync succeeded over a failing server")
	}
	if _, ok := r.content("/new"); !ok {
		t.Fatal("the failed upload left nothing: the test does not test anything")
	}
	if err := os.Remove(p); err != nil {
		t.Fatalf("unlink: %v", err)
	}
	if data, ok := r.content("/new"); ok {
		t.Errorf("the server still holds %q after unlink", data)
	}
}

// recordStores remembers where each Store went.
type recordStores struct {
	*fakeRemote
	targets chan string
}

func (r recordStores) Store(ctx context.Context, p string, src io.ReaderAt, size int64) error {
	r.targets <- p
	return r.fakeRemote.Store(ctx, p, src, size)
}

// TestLargeNewFileUsesATemporary: only a small new file goes straight to
// its name; a large one written out of order (no streaming upload) goes to
// a temporary first, so a cut transfer never leaves a long partial file
// under the real name.
func TestLargeNewFileUsesATemporary(t *testing.T) {
	r := recordStores{newFakeRemote(), make(chan string, 16)}
	mnt := mountRemote(t, r, 1<<20, false, nil)
	f, err := os.Create(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, streamAfter)
	if _, err := f.WriteAt(chunk, streamAfter); err != nil { // the second half first
		t.Fatal(err)
	}
	if _, err := f.WriteAt(chunk, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-r.targets; got == "/big" {
		t.Errorf("a %d-byte new file was stored straight to its name", 2*streamAfter)
	}
	if data, _ := r.content("/big"); len(data) != 2*streamAfter {
		t.Errorf("server holds %d bytes, want %d", len(data), 2*streamAfter)
	}
}

// stallStat never answers Stat until its context ends.
type stallStat struct{ *fakeRemote }

func (r stallStat) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestFirstWriteStatEndsInTime: the first write into an existing file asks
// the server for its size under the write's transfer context, which has no
// deadline; that one question still ends within timeout.
func TestFirstWriteStatEndsInTime(t *testing.T) {
	r := stallStat{newFakeRemote()}
	r.add("/f", []byte("old"))
	mnt := mountTimeout(t, r, 1<<20, false, nil, time.Second)
	f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() { _, err := f.WriteAt([]byte("x"), 1); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("write succeeded without the file's size")
		}
	case <-time.After(6 * time.Second):
		t.Fatal("the first write still waits for a Stat that never answers")
	}
}

// refuseStore refuses every STOR before any data, as a server does for a
// file it will not let us write.
type refuseStore struct{ *fakeRemote }

func (r refuseStore) Store(ctx context.Context, p string, src io.ReaderAt, size int64) error {
	return &pool.ReplyError{Op: "STOR", Path: p, Code: 553, Msg: "Permission denied"}
}

// TestUnlinkAfterRefusedFirstUploadKeepsOthersFile: when the server refused
// the first upload outright, what is at the name is not ours (here another
// client's file, created after our create): unlinking the pending file
// deletes nothing on the server, and succeeds.
func TestUnlinkAfterRefusedFirstUploadKeepsOthersFile(t *testing.T) {
	r := refuseStore{newFakeRemote()}
	mnt := mountRemote(t, r, 1<<20, false, nil)
	p := filepath.Join(mnt, "new")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r.add("/new", []byte("theirs"))
	if _, err := f.Write([]byte("ours")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err == nil {
		t.Fatal("fsync succeeded although the server refused the STOR")
	}
	if err := os.Remove(p); err != nil {
		t.Fatalf("unlink: %v", err)
	}
	if data, _ := r.content("/new"); string(data) != "theirs" {
		t.Errorf("the server holds %q, want the other client's file kept", data)
	}
}
