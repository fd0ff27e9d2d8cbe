package fusefs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

func reviewMount(t *testing.T, r Remote, ttl time.Duration) (string, *FS) {
	t.Helper()
	dir := t.TempDir()
	fsys := New(r, cache.NewDirs(ttl, 100, nil), cache.NewBlocks(64<<20), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), BlockSize: 64 << 10, Timeout: 5 * time.Second,
		SpoolDir: t.TempDir(),
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: 10 * time.Millisecond, EntryTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Unmount() })
	return dir, fsys
}

// asideRemote: RNTO over an existing file is refused; the pool's fail-safe
// moves the target aside, then the source's rename and the move back both
// fail (the connection broke), which is what pool.Rename returns then.
type asideRemote struct{ *fakeRemote }

func (r *asideRemote) Rename(ctx context.Context, from, to, aside string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if data, ok := r.files[to]; ok && aside != "" {
		delete(r.files, to)
		r.files[aside] = data // to -> aside succeeded
		return errors.New("RNTO: connection reset")
	}
	return r.fakeRemote.Rename(ctx, from, to, aside)
}

func TestStrandedAsideIsNeverCollected(t *testing.T) {
	r := &asideRemote{newFakeRemote()}
	r.add("/report.txt", []byte("precious"))
	mnt, _ := reviewMount(t, r, 50*time.Millisecond)
	f, err := os.OpenFile(filepath.Join(mnt, "report.txt"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("P"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err == nil {
		t.Fatal("close succeeded")
	}
	r.mu.Lock()
	for p := range r.files {
		t.Logf("after failed close, server has %s", p)
	}
	r.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	_, _ = os.ReadDir(mnt) // any listing
	time.Sleep(300 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, data := range r.files {
		if string(data) == "precious" {
			t.Logf("old content still at %s", p)
			return
		}
	}
	t.Errorf("the only copy of report.txt's content was deleted by the leftover cleanup")
}

// modeRemote moves modes with renames and can stream uploads.
type modeRemote struct{ *fakeRemote }

func (r *modeRemote) Rename(ctx context.Context, from, to, aside string) error {
	if err := r.fakeRemote.Rename(ctx, from, to, aside); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.modes[from]; ok {
		r.modes[to] = m
		delete(r.modes, from)
	} else {
		delete(r.modes, to) // the new file has the server's default mode
	}
	return nil
}

func (r *modeRemote) StoreStream(ctx context.Context, p string, src io.Reader) (int64, error) {
	r.mu.Lock()
	if _, ok := r.files[p]; !ok {
		r.files[p] = nil
		delete(r.modes, p) // created with the default mode
	}
	r.mu.Unlock()
	data, err := io.ReadAll(src)
	if err != nil {
		return int64(len(data)), err
	}
	r.mu.Lock()
	r.files[p] = data
	r.mu.Unlock()
	return int64(len(data)), nil
}

func (r *modeRemote) mode(p string) fs.FileMode {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.modes[p]; ok {
		return m
	}
	return 0o644
}

// cp-like: create 0644, write, fchmod 0600, close. The upload streamed.
func TestChmodWhileStreamingReachesServer(t *testing.T) {
	r := &modeRemote{newFakeRemote()}
	mnt2, _ := reviewMount(t, r, time.Minute)
	f, err := os.OpenFile(filepath.Join(mnt2, "secret"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(strings.Repeat("s", 2*streamAfter))); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if m := r.mode("/secret"); m != 0o600 {
		t.Errorf("server mode %04o after fchmod 0600 (streamed upload)", m)
	}
	st, _ := os.Stat(filepath.Join(mnt2, "secret"))
	t.Logf("mount shows %04o", st.Mode().Perm())
}

// Two FS in one process: one deletes the other's live upload temporary.
func TestTwoMountsInOneProcessKeepEachOthersUploads(t *testing.T) {
	r := newFakeRemote()
	a := New(r, cache.NewDirs(time.Minute, 10, nil), cache.NewBlocks(1<<20), Config{Timeout: time.Second})
	b := New(r, cache.NewDirs(time.Minute, 10, nil), cache.NewBlocks(1<<20), Config{Timeout: time.Second})
	tmp, done := a.tmpName("/f")
	defer done()
	if b.abandoned("/", fakeInfo{name: path.Base(tmp), mtime: time.Now()}) {
		t.Errorf("mount b takes mount a's live temporary %s for abandoned", tmp)
	}
}

var _ = syscall.EIO
