package fusefs

import (
	"context"
	"errors"
	"io"
	"sync"
)

// streamUpload sends a file to the server while it is being written, when it
// is written strictly sequentially from offset 0 (cp, tar -x, rsync,
// downloads): the STOR follows the spool as it grows, so close() only waits
// for the tail. It is an optimisation only: any other write pattern aborts
// it, and close() then uploads the spool as usual.
type streamUpload struct {
	tmp     string
	release func() // called once the temporary is renamed or deleted
	spool   *spool

	mu      sync.Mutex
	cond    *sync.Cond
	avail   int64 // bytes of the spool that are written and may be sent
	sent    int64
	done    bool // no more data will come: Read returns EOF at avail
	aborted bool // stop now: Read fails

	result chan streamResult
}

type streamResult struct {
	n   int64
	err error
}

var errStreamAborted = errors.New("streaming upload aborted")

// startStream begins a streaming upload of s to a temporary name next to p.
// Both node locks are held.
func (n *fileNode) startStreamLocked(s *spool, p string) {
	st, ok := n.fsys.remote.(StreamStorer)
	if !ok {
		return
	}
	tmp, done := n.fsys.tmpName(p)
	u := &streamUpload{tmp: tmp, release: done, spool: s, result: make(chan streamResult, 1)}
	u.cond = sync.NewCond(&u.mu)
	s.stream = u
	mode, setMode := s.targetMode()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.fsys.cfg.Timeout)
		if setMode && exposes(mode) {
			// Before any content: see upload.
			if err := n.fsys.protect(ctx, u.tmp, mode); err != nil {
				cancel()
				u.result <- streamResult{0, err}
				return
			}
		}
		cancel()
		got, err := st.StoreStream(context.Background(), u.tmp, u)
		u.result <- streamResult{got, err}
	}()
}

// Read hands the STOR the spool's bytes as they are written.
func (u *streamUpload) Read(b []byte) (int, error) {
	u.mu.Lock()
	for u.sent == u.avail && !u.done && !u.aborted {
		u.cond.Wait()
	}
	if u.aborted {
		u.mu.Unlock()
		return 0, errStreamAborted
	}
	if u.sent == u.avail {
		u.mu.Unlock()
		return 0, io.EOF
	}
	want := min(int64(len(b)), u.avail-u.sent)
	off := u.sent
	u.mu.Unlock()
	// Bytes below avail are written and, while the stream lives, never
	// rewritten (a write elsewhere aborts it first).
	got, err := u.spool.f.ReadAt(b[:want], off)
	u.mu.Lock()
	u.sent += int64(got)
	u.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		return got, err
	}
	return got, nil
}

func (u *streamUpload) grow(size int64) {
	u.mu.Lock()
	u.avail = size
	u.cond.Broadcast()
	u.mu.Unlock()
}

// finish ends the data and waits for the server's verdict.
func (u *streamUpload) finish() streamResult {
	u.mu.Lock()
	u.done = true
	u.cond.Broadcast()
	u.mu.Unlock()
	return <-u.result
}

// abort stops the stream and waits for the STOR to give up.
func (u *streamUpload) abort() {
	u.mu.Lock()
	u.aborted = true
	u.cond.Broadcast()
	u.mu.Unlock()
	<-u.result
}
