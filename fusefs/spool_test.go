package fusefs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setHook replaces a test seam until the test ends. Call it before
// mounting: cleanups run last-in first-out, so the seam is restored only
// after the unmount, when nothing reads it any more.
func setHook[T any](t *testing.T, v *T, hook T) {
	t.Helper()
	old := *v
	*v = hook
	t.Cleanup(func() { *v = old })
}

// openDirect opens p with O_DIRECT, so every read reaches the filesystem
// instead of the kernel's page cache.
func openDirect(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// alignedBuf is a buffer aligned as O_DIRECT may want it.
func alignedBuf(n int) []byte {
	const align = 4096
	b := make([]byte, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(&b[0]))%align)) % align
	return b[skip : skip+n]
}

// TestDirectReaderDuringFirstWrites: an O_DIRECT reader reads the file
// while a writer opens it, writes into it (loading the server's copy into
// the spool) and closes it, over and over. Every read succeeds, and under
// -race none of them touches the spool's fields unguarded (readSpool once
// read s.loaded after dropping the node lock that loadLocked sets it under).
func TestDirectReaderDuringFirstWrites(t *testing.T) {
	r := newFakeRemote()
	const size = 2 << 20
	r.add("/f", bytes.Repeat([]byte{'a'}, size))
	mnt := mount(t, r)
	p := filepath.Join(mnt, "f")
	rd := openDirect(t, p)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	wg.Go(func() {
		buf := alignedBuf(4096)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := syscall.Pread(int(rd.Fd()), buf, 0)
			if err != nil || n != len(buf) {
				t.Errorf("O_DIRECT read during writes: %d bytes, %v", n, err)
				return
			}
			reads.Add(1)
		}
	})
	for i := range 40 {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteAt([]byte{byte('b' + i%20)}, size/2); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if reads.Load() == 0 {
		t.Error("the reader never read")
	}
}

// TestSpoolClosedBeforeReadFallsBack: a read that found the spool loaded
// and lost the CPU before reading it, while the last writer closed the
// file and its release closed the spool, reads what the server has
// instead of failing with EIO ("file already closed"). spool.life and its
// closed flag are what make it: without them this read fails.
func TestSpoolClosedBeforeReadFallsBack(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", []byte("old content"))
	var armed atomic.Bool
	inWindow := make(chan *spool, 1)
	proceed := make(chan struct{})
	setHook(t, &beforeSpoolRead, func(s *spool) {
		if armed.CompareAndSwap(true, false) {
			inWindow <- s
			<-proceed
		}
	})
	mnt := mount(t, r)
	p := filepath.Join(mnt, "f")

	w, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("new content")); err != nil {
		t.Fatal(err)
	}
	rd := openDirect(t, p)
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	armed.Store(true)
	go func() {
		buf := alignedBuf(4096)
		n, err := syscall.Pread(int(rd.Fd()), buf, 0)
		done <- result{buf[:max(n, 0)], err}
	}()
	var s *spool
	select {
	case s = <-inWindow:
	case <-time.After(10 * time.Second):
		t.Fatal("the read never reached the spool")
	}
	if err := w.Close(); err != nil {
		close(proceed)
		t.Fatal(err)
	}
	// close() returns after the upload; the release that closes the
	// spool follows from the kernel on its own.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := s.f.Stat(); errors.Is(err, os.ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			close(proceed)
			t.Fatal("the writer's release never closed the spool")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(proceed)
	res := <-done
	if res.err != nil || string(res.data) != "new content" {
		t.Errorf("read across the spool's close: %q, %v; want the uploaded content", res.data, res.err)
	}
}

// TestTruncatingOpenFailsWhenTheSpoolCannotBeTruncated: open(O_TRUNC)
// reports the spool's truncate failure instead of opening a file that
// still holds the old content; the server's copy and another writer's
// changes are kept.
func TestTruncatingOpenFailsWhenTheSpoolCannotBeTruncated(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", []byte("server copy"))
	var fail atomic.Bool
	setHook(t, &truncateSpool, func(f *os.File, size int64) error {
		if fail.Load() {
			return &os.PathError{Op: "truncate", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.Truncate(size)
	})
	mnt := mount(t, r)
	p := filepath.Join(mnt, "f")
	truncOpen := func(when string) {
		t.Helper()
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			_ = f.Close()
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("open(O_TRUNC) %s with a spool that cannot be truncated: %v, want ENOSPC", when, err)
		}
	}

	// Another handle holds the spool, with a change of its own.
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("SERVER"), 0); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	truncOpen("while another handle writes")
	fail.Store(false)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.content("/f"); string(got) != "SERVER copy" {
		t.Errorf("server has %q after the other writer closed, want %q", got, "SERVER copy")
	}

	// No spool yet: the new one is dropped again.
	fail.Store(true)
	truncOpen("of a file nobody writes")
	fail.Store(false)
	if got, _ := r.content("/f"); string(got) != "SERVER copy" {
		t.Errorf("server has %q after the failed open, want it untouched", got)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.content("/f"); string(got) != "x" {
		t.Errorf("server has %q after a truncating open that worked, want %q", got, "x")
	}
}

// TestFailingWritesWhileStatted: writes whose load of the server's copy
// fails, while another program stats the file (each stat refreshes the
// node's listing entry): under -race the failing write must not read that
// entry unguarded to name the file in its error.
func TestFailingWritesWhileStatted(t *testing.T) {
	r := newFakeRemote()
	r.add("/f", []byte("server copy"))
	mnt := mount(t, r)
	p := filepath.Join(mnt, "f")
	r.mu.Lock()
	r.readErr = errInjected
	r.mu.Unlock()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// FORCE_SYNC: past the kernel's attribute cache, to Getattr.
			var st unix.Statx_t
			if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS, &st); err != nil {
				t.Errorf("statx: %v", err)
				return
			}
		}
	})
	for range 100 {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteAt([]byte("x"), 3); !errors.Is(err, syscall.EIO) {
			t.Errorf("write whose load fails: %v, want EIO", err)
		}
		_ = w.Close() // reports the failed write again
	}
	close(stop)
	wg.Wait()
	if got, _ := r.content("/f"); string(got) != "server copy" {
		t.Errorf("server has %q, want its copy untouched", got)
	}
}
