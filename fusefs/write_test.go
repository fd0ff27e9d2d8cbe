package fusefs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCreateCostsNoTransferAndShowsAtOnce: a new file is shown through the
// mount while it is open, but reaches the server only with its content,
// so creating it can never truncate a file another client made.
func TestCreateCostsNoTransferAndShowsAtOnce(t *testing.T) {
	r := newFakeRemote()
	mnt := mount(t, r)
	f, err := os.Create(filepath.Join(mnt, "new.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := r.stores.Load(); n != 0 {
		t.Errorf("creating sent %d uploads, want none before close", n)
	}
	if _, err := os.Stat(filepath.Join(mnt, "new.txt")); err != nil {
		t.Errorf("the open new file is not visible through the mount: %v", err)
	}
	if entries, _ := os.ReadDir(mnt); len(entries) != 1 || entries[0].Name() != "new.txt" {
		t.Errorf("listing while open: %v, want new.txt", entries)
	}
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.content("/new.txt"); string(got) != "hello" {
		t.Errorf("server has %q", got)
	}
}

func TestUnlinkedOpenFileIsNotResurrected(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", []byte("x"))
	mnt := mount(t, r)
	f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("yy")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "f")); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if _, ok := r.content("/f"); ok {
		t.Error("closing a deleted file brought it back on the server")
	}
}

func TestRenamedOpenFileUploadsToNewName(t *testing.T) {
	r := newFakeRemote()
	r.add("/a", []byte("old"))
	mnt := mount(t, r)
	f, err := os.OpenFile(filepath.Join(mnt, "a"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "a"), filepath.Join(mnt, "b")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.content("/b"); string(got) != "new" {
		t.Errorf("/b holds %q, want the written data", got)
	}
	if _, ok := r.content("/a"); ok {
		t.Error("/a came back")
	}
}

func TestFailedUploadFailsClose(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", []byte("keep"))
	mnt := mount(t, r)
	r.mu.Lock()
	r.storeErr = errInjected
	r.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("lost"))
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Errorf("close after a failed upload: %v, want EIO", err)
	}
	if got, _ := r.content("/f"); string(got) != "keep" {
		t.Errorf("server copy %q, want it untouched", got)
	}
}

func TestReadYourWritesAcrossHandles(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", bytes.Repeat([]byte("a"), 100_000))
	mnt := mount(t, r)
	w, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt([]byte("BBB"), 50_000); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "f"))
	if err != nil || !bytes.Equal(got[50_000:50_003], []byte("BBB")) || len(got) != 100_000 {
		t.Errorf("a second handle does not see unsaved writes: %d bytes %v", len(got), err)
	}
}

func TestUtimensAndChmod(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", []byte("x"))
	mnt := mount(t, r)
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(mnt, "f"), when, when); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	got := r.mtimes["/f"]
	r.mu.Unlock()
	if !got.Equal(when) {
		t.Errorf("server mtime %v, want %v", got, when)
	}
	if err := os.Chmod(filepath.Join(mnt, "f"), 0o600); err != nil {
		t.Errorf("chmod must be accepted (and ignored): %v", err)
	}
	if err := os.Symlink("f", filepath.Join(mnt, "l")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("symlink: %v, want EPERM", err)
	}
}

func TestRmdirNotEmpty(t *testing.T) {
	r := newFakeRemote()
	r.add("/d/x", []byte("x"))
	mnt := mount(t, r)
	if err := os.Remove(filepath.Join(mnt, "d")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("rmdir: %v, want ENOTEMPTY", err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "d", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "d", "sub")); err != nil {
		t.Errorf("rmdir of an empty directory: %v", err)
	}
}
