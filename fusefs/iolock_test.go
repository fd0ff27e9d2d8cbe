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
	if err := l.lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held ioLock: %v, want the context's deadline", err)
	}
	got := make(chan struct{})
	go func() {
		l.Lock()
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
	if err := l.lock(ctx); err != nil {
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
	defer second.Close()
	first, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	stalled, release := r.stallStores(t)
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
		{"chmod", func() error { return os.Chmod(p, 0o600) }},
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
	if _, err := second.WriteAt([]byte("again"), 0); err != nil {
		t.Fatalf("write after the upload: %v", err)
	}
	if err := second.Close(); err != nil {
		t.Fatalf("close after the upload: %v", err)
	}
	if got, _ := r.content("/f"); string(got) != "again" {
		t.Errorf("server has %q, want %q", got, "again")
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatalf("open(O_TRUNC), write, close after the upload: %v", err)
	}
	if got, _ := r.content("/f"); string(got) != "x" {
		t.Errorf("server has %q, want %q", got, "x")
	}
}
