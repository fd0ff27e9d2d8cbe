package fusefs

import (
	"bytes"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// mount mounts the fake remote for real in a temporary directory.
func mount(t *testing.T, r *fakeRemote) string {
	return mountWith(t, r, false)
}

func mountWith(t *testing.T, r *fakeRemote, readOnly bool) string {
	t.Helper()
	return mountRemote(t, r, 64<<20, readOnly, nil)
}

// mountRemote mounts any Remote with a block cache of cacheBytes.
func mountRemote(t *testing.T, r Remote, cacheBytes int64, readOnly bool, log *slog.Logger) string {
	t.Helper()
	return mountTimeout(t, r, cacheBytes, readOnly, log, 5*time.Second)
}

// mountTimeout is mountRemote with the timeout= of the mount.
func mountTimeout(t *testing.T, r Remote, cacheBytes int64, readOnly bool, log *slog.Logger, timeout time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	fsys := New(r, cache.NewDirs(time.Minute, 100, nil), cache.NewBlocks(cacheBytes), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), BlockSize: 64 << 10, Timeout: timeout,
		ReadOnly: readOnly, SpoolDir: t.TempDir(), Logger: log,
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: time.Second, EntryTimeout: time.Second, ReadOnly: readOnly})
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

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestBrowseAndRead(t *testing.T) {
	r := newFakeRemote()
	big := randBytes(1<<20 + 1)
	r.add("/a.txt", []byte("hello\n"))
	r.add("/empty", nil)
	r.add("/sub/deep/big.bin", big)
	r.add("/with space #%é", []byte("x"))
	r.links["/link"] = "a.txt"
	mnt := mount(t, r)

	entries, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"a.txt", "empty", "link", "sub", "with space #%é"}; !slices.Equal(names, want) {
		t.Errorf("readdir %q, want %q", names, want)
	}
	if out, err := exec.Command("ls", "-a", mnt).Output(); err != nil || !strings.HasPrefix(string(out), ".\n..\n") {
		t.Errorf("ls -a does not start with . and ..: %q %v", out, err)
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "a.txt")); err != nil || string(got) != "hello\n" {
		t.Errorf("a.txt: %q %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "empty")); err != nil || len(got) != 0 {
		t.Errorf("empty: %q %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "sub/deep/big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Errorf("big.bin: %d bytes, %v", len(got), err)
	}
	if target, err := os.Readlink(filepath.Join(mnt, "link")); err != nil || target != "a.txt" {
		t.Errorf("readlink: %q %v", target, err)
	}
	fi, err := os.Stat(filepath.Join(mnt, "sub/deep/big.bin"))
	if err != nil || fi.Size() != int64(len(big)) || fi.Mode().Perm() != 0o644 {
		t.Errorf("stat big.bin: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a missing name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "a.txt/x")); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("lookup under a file: %v, want ENOTDIR", err)
	}
}

func TestOneListingServesEveryLookup(t *testing.T) {
	r := newFakeRemote()
	for i := 0; i < 200; i++ {
		r.add(filepath.Join("/d", "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), []byte("x"))
	}
	mnt := mount(t, r)
	entries, err := os.ReadDir(filepath.Join(mnt, "d"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := os.Lstat(filepath.Join(mnt, "d", e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		_, _ = os.Stat(filepath.Join(mnt, "d", "missing"))
	}
	// One listing of "/" (to find d) and one of "/d".
	if n := r.lists.Load(); n != 2 {
		t.Errorf("%d listings for 200 lookups and a readdir, want 2", n)
	}
}

func TestStableInodeNumbers(t *testing.T) {
	r := newFakeRemote()
	r.add("/x/y", []byte("1"))
	mnt := mount(t, r)
	a, _ := os.Stat(filepath.Join(mnt, "x/y"))
	b, _ := os.Stat(filepath.Join(mnt, "x/y"))
	ia, ib := a.Sys().(*syscall.Stat_t).Ino, b.Sys().(*syscall.Stat_t).Ino
	if ia != ib || ia == 0 {
		t.Errorf("inode numbers %d and %d", ia, ib)
	}
}

func TestRandomReadsMatch(t *testing.T) {
	r := newFakeRemote()
	data := randBytes(3<<20 + 123)
	r.add("/f", data)
	mnt := mount(t, r)
	f, err := os.Open(filepath.Join(mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range []int64{3 << 20, 5, 1<<20 - 3, 2 << 20, int64(len(data)) - 10} {
		buf := make([]byte, 100_000)
		n, _ := f.ReadAt(buf, off)
		want := data[off:min(off+100_000, int64(len(data)))]
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("ReadAt(%d): %d bytes, mismatch", off, n)
		}
	}
}

func TestConcurrentReaders(t *testing.T) {
	r := newFakeRemote()
	files := map[string][]byte{}
	for i := 0; i < 8; i++ {
		name := "/f" + string(rune('0'+i))
		files[name] = randBytes(700_000 + i)
		r.add(name, files[name])
	}
	mnt := mount(t, r)
	var wg sync.WaitGroup
	for name, want := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(filepath.Join(mnt, name))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes, %v", name, len(got), err)
			}
		}()
	}
	wg.Wait()
}

func TestReadErrorsAreErrors(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", randBytes(200_000))
	r.add("/g", randBytes(200_000))
	mnt := mount(t, r)

	r.mu.Lock()
	r.readErr = errInjected
	r.mu.Unlock()
	if _, err := os.ReadFile(filepath.Join(mnt, "f")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read with a failing remote: %v, want EIO", err)
	}
	r.mu.Lock()
	r.readErr = nil
	r.truncate = 1000 // the server's file ends early
	r.mu.Unlock()
	if got, err := os.ReadFile(filepath.Join(mnt, "g")); !errors.Is(err, syscall.EIO) {
		t.Errorf("read of a file shorter than listed: %d bytes, %v; want EIO", len(got), err)
	}
}

func TestWritesRefusedReadOnly(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", []byte("x"))
	mnt := mountWith(t, r, true)
	checks := map[string]error{}
	_, checks["create"] = os.Create(filepath.Join(mnt, "new"))
	_, checks["open for write"] = os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY, 0)
	checks["mkdir"] = os.Mkdir(filepath.Join(mnt, "d"), 0o755)
	checks["remove"] = os.Remove(filepath.Join(mnt, "f"))
	checks["rename"] = os.Rename(filepath.Join(mnt, "f"), filepath.Join(mnt, "g"))
	checks["chmod"] = os.Chmod(filepath.Join(mnt, "f"), 0o600)
	for op, err := range checks {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", op, err)
		}
	}
}

func TestListingErrorMapsToErrno(t *testing.T) {
	r := newFakeRemote()
	mnt := mount(t, r)
	if _, err := os.ReadDir(filepath.Join(mnt, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readdir of a missing dir: %v", err)
	}
}
