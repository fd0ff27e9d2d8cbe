package fusefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestIOLockWaiterGivesUp(t *testing.T) {
	var l ioLock // the zero value is unlocked
	if err := l.lock(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.lock(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held ioLock: %v, want the context's deadline", err)
	}
	got := make(chan struct{})
	go func() {
		l.Lock(nil)
		close(got)
	}()
	l.Unlock()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Lock still waiting after Unlock")
	}
	l.Unlock()
	// A free lock is taken even with a context that already ended.
	if err := l.lock(ctx, nil); err != nil {
		t.Errorf("lock of a free ioLock with an ended context: %v", err)
	}
}

// TestOpsBehindAStalledUploadTimeOut: while close() uploads a file (the
// server holds the STOR), an open(O_TRUNC), write, ftruncate, truncate or
// chmod of the same file fails with ETIMEDOUT once timeout= has passed,
// instead of queueing behind the upload for as long as it takes; then the
// upload completes and the file is written as usual.
func TestOpsBehindAStalledUploadTimeOut(t *testing.T) {
	const timeout = time.Second
	r := newFakeRemote()
	r.add("/f", []byte("old"))
	mnt := mountTimeout(t, r, 64<<20, false, nil, timeout)
	p := filepath.Join(mnt, "f")

	second, err := os.OpenFile(p, os.O_WRONLY, 0) // writes during the upload
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	stalled, release := r.stallStores(t)
	// Registered after stallStores, so it runs first: a failing test never
	// leaves a close waiting on the stalled server.
	t.Cleanup(func() { release(); _ = second.Close() })
	closed := make(chan error, 1)
	go func() { closed <- first.Close() }()
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("close() never started the upload")
	}

	for _, c := range []struct {
		name string
		op   func() error
	}{
		{"open(O_TRUNC)", func() error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			if err == nil {
				_ = f.Close()
			}
			return err
		}},
		{"write", func() error { _, err := second.WriteAt([]byte("late"), 0); return err }},
		{"ftruncate", func() error { return second.Truncate(1) }},
		{"truncate", func() error { return os.Truncate(p, 1) }},
	} {
		done := make(chan error, 1)
		go func() { done <- c.op() }()
		select {
		case err := <-done:
			if !errors.Is(err, syscall.ETIMEDOUT) {
				t.Errorf("%s during a stalled upload: %v, want ETIMEDOUT", c.name, err)
			}
		case <-time.After(timeout + 5*time.Second):
			t.Errorf("%s still waits behind the stalled upload after %v (timeout %v)", c.name, timeout+5*time.Second, timeout)
		}
	}

	// A chmod need not wait: the running upload applies it when it ends.
	chmodded := make(chan error, 1)
	go func() { chmodded <- os.Chmod(p, 0o600) }()
	select {
	case err := <-chmodded:
		if err != nil {
			t.Errorf("chmod during a stalled upload: %v", err)
		}
	case <-time.After(timeout / 2):
		t.Error("chmod waits behind the stalled upload")
	}

	release()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close() of the stalled upload once the server answers: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close() still waiting after the server answered")
	}
	if got, _ := r.content("/f"); string(got) != "new" {
		t.Errorf("server has %q after the upload, want %q (the failed operations changed nothing)", got, "new")
	}
	r.mu.Lock()
	serverMode := r.modes["/f"]
	r.mu.Unlock()
	if serverMode != 0o600 {
		t.Errorf("server mode %04o after a chmod during the upload, want 0600", serverMode)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the mount shows %v, %v after a chmod during the upload, want 0600", st.Mode(), err)
	}
	// The write that gave up lost the program's data: the file it was
	// writing never replaces the server's copy, and its close says so.
	if _, err := second.WriteAt([]byte("again"), 0); err == nil {
		t.Error("write after a lost write succeeded, want its error again")
	}
	if err := second.Sync(); err == nil {
		t.Error("fsync after a lost write succeeded")
	}
	if got, _ := r.content("/f"); string(got) != "new" {
		t.Errorf("server has %q after a lost write, want %q", got, "new")
	}
	// open(O_TRUNC) discards everything before, the lost write too: it
	// starts clean while the handle that lost it is still open (as it is
	// when its close() returned but the kernel's release has not run).
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatalf("open(O_TRUNC), write, close after the upload: %v", err)
	}
	if got, _ := r.content("/f"); string(got) != "x" {
		t.Errorf("server has %q, want %q", got, "x")
	}
	_ = second.Close()
}

// TestOwnUploadIsWaitedFor: close() of a dup'd descriptor (or of one a
// forked child inherited) uploads while the owner keeps writing through the
// same open file: the owner's next write waits for that upload instead of
// failing, and the file ends with everything written.
func TestOwnUploadIsWaitedFor(t *testing.T) {
	const timeout = time.Second
	r := newFakeRemote()
	mnt := mountTimeout(t, r, 64<<20, false, nil, timeout)
	p := filepath.Join(mnt, "f")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("part1-")); err != nil {
		t.Fatal(err)
	}
	fd2, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	stalled, release := r.stallStores(t)
	t.Cleanup(func() { release(); _ = f.Close() })
	go func() { _ = syscall.Close(fd2) }() // FLUSH: the upload stalls
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("close() of the dup never started the upload")
	}
	wrote := make(chan error, 1)
	go func() { _, err := f.Write([]byte("part2")); wrote <- err }()
	time.Sleep(timeout + 500*time.Millisecond) // longer than any lock timeout
	release()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("write behind the handle's own upload: %v, want it to wait", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write still waiting after the upload finished")
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got, _ := r.content("/f"); string(got) != "part1-part2" {
		t.Errorf("server has %q, want %q", got, "part1-part2")
	}
}

// TestTouchDuringUploadReachesServer: a utimens that arrives while close()
// uploads (setMtime takes no ioMu) is applied after the upload, not dropped.
func TestTouchDuringUploadReachesServer(t *testing.T) {
	r := newFakeRemote()
	mnt := mountTimeout(t, r, 64<<20, false, nil, time.Minute)
	p := filepath.Join(mnt, "f")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	stalled, release := r.stallStores(t)
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("close() never started the upload")
	}
	want := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	touched := make(chan error, 1)
	go func() { touched <- os.Chtimes(p, want, want) }()
	time.Sleep(200 * time.Millisecond) // the touch reaches the daemon while the STOR waits
	release()
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-touched; err != nil {
		t.Fatalf("touch: %v", err)
	}
	r.mu.Lock()
	got := r.mtimes["/f"]
	r.mu.Unlock()
	if !got.Equal(want) {
		t.Errorf("server mtime %v after a touch during the upload, want %v", got, want)
	}
}
