package pool

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Phases of a whole-file transfer. A transfer may rightly take longer than
// timeout (callers pass it a context without deadline), so its data phase
// is bounded per network read and write only. Its control-channel waits
// are not covered by that: a server that sends one short reply line every
// (timeout - ε), "213-x" forever before the SIZE answer or "226-x" before
// the end of the transfer, trips neither the per-read deadline nor the
// reply budget. So each control-channel phase has a timeout of its own:
// from the transfer command until the data starts flowing, and after the
// data's end through the final reply and what follows it (the SIZE check).
// When a phase's time is up, the connection's sockets are closed under it.
//
// The second phase is timed from the first byte the server sends after
// the data's end (on either connection), not from the end itself: the
// last bytes written may still sit in socket and network buffers, and the
// server answers only once they have arrived, which on a slow link takes
// longer than timeout. While the server is silent, the per-read deadlines
// bound the wait, as they bound the data phase. Where the kernel cannot
// count the bytes received (no TCP_INFO, or a counter that stays at zero),
// the second phase is timed from the data's end.

// socketBytes is bytesReceived (sockstat_*.go), unless a test set
// socketBytesHook to play a kernel without TCP_INFO or whose counter never
// moves.
func socketBytes(nc net.Conn) (uint64, bool) {
	if h := socketBytesHook.Load(); h != nil {
		return (*h)(nc)
	}
	return bytesReceived(nc)
}

var socketBytesHook atomic.Pointer[func(net.Conn) (uint64, bool)]

// phaseTick is how often, in parts of timeout, a phase timed from the
// server's first byte looks whether it has come.
const phaseTick = 4

// phase is a timer over a connection's control-channel phases: armed, it
// cuts the connection after timeout; paused (while data flows), it does
// nothing.
type phase struct {
	c       *conn
	timeout time.Duration

	mu    sync.Mutex
	timer *time.Timer
	gen   int  // which arming the running timer belongs to
	fired bool // the timer cut the connection
	over  bool
	// For a phase timed from the server's first byte: the bytes received
	// on the control and data sockets when it was armed, and when the
	// first came (zero before).
	fromFirst bool
	heardAt   time.Time
	base      [2]uint64
	baseOK    [2]bool
}

// startPhase arms a phase timer on c, timed from now.
func (c *conn) startPhase(timeout time.Duration) *phase {
	ph := &phase{c: c, timeout: timeout}
	ph.arm(false)
	return ph
}

// arm starts a fresh timeout (a new phase), from now or from the server's
// next byte.
func (ph *phase) arm(fromFirst bool) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.over || ph.fired {
		return
	}
	ph.stopLocked()
	ph.fromFirst, ph.heardAt = fromFirst, time.Time{}
	if fromFirst {
		for i, nc := range ph.socketsLocked() {
			ph.base[i], ph.baseOK[i] = socketBytes(nc)
		}
		if !ph.baseOK[0] || ph.base[0] == 0 {
			// The control socket has received the greeting and every
			// reply since: a count it cannot tell, or of zero, is a kernel
			// without a working counter (old kernels, gVisor). Time the
			// phase from now, the source's end, as a phase from its start.
			ph.fromFirst = false
			ph.scheduleLocked(ph.timeout)
			return
		}
		ph.scheduleLocked(ph.timeout / phaseTick)
		return
	}
	ph.scheduleLocked(ph.timeout)
}

func (ph *phase) scheduleLocked(d time.Duration) {
	gen := ph.gen
	ph.timer = time.AfterFunc(d, func() { ph.fire(gen) })
}

// socketsLocked are the control and data sockets, either nil.
func (ph *phase) socketsLocked() [2]net.Conn {
	ph.c.sockets.Lock()
	defer ph.c.sockets.Unlock()
	return [2]net.Conn{ph.c.sockets.raw, ph.c.sockets.data}
}

// heardLocked reports whether the server sent anything since the phase was
// armed; true when no socket can tell, so the phase is timed from its
// start.
func (ph *phase) heardLocked() bool {
	told := false
	for i, nc := range ph.socketsLocked() {
		if !ph.baseOK[i] {
			continue
		}
		n, ok := socketBytes(nc)
		if !ok {
			continue // closed since (a data connection at its end)
		}
		told = true
		if n != ph.base[i] {
			return true
		}
	}
	return !told
}

// pause stops the clock while the data phase runs.
func (ph *phase) pause() {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.stopLocked()
}

func (ph *phase) stopLocked() {
	ph.gen++ // a timer already firing finds itself outdated
	if ph.timer != nil {
		ph.timer.Stop()
		ph.timer = nil
	}
}

func (ph *phase) fire(gen int) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if ph.over || gen != ph.gen {
		return
	}
	if ph.fromFirst {
		if ph.heardAt.IsZero() {
			if !ph.heardLocked() {
				ph.scheduleLocked(ph.timeout / phaseTick)
				return
			}
			ph.heardAt = time.Now() // at most one tick late
		}
		if left := ph.timeout - time.Since(ph.heardAt); left > 0 {
			ph.scheduleLocked(left)
			return
		}
	}
	ph.fired = true
	// Under ph.mu, so that end reports a cut only once it is complete. Not
	// c.interrupt: that marks the connection as cut by its operation's
	// context, and the operation would then report its context's end
	// instead of this timeout.
	ph.c.closeSockets()
}

// end stops the timer; it reports whether the timer cut the connection.
func (ph *phase) end() (fired bool) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.stopLocked()
	ph.over = true
	return ph.fired
}

// err is what an operation cut by the timer fails with: a timeout
// (os.ErrDeadlineExceeded), which callers map to ETIMEDOUT.
func (ph *phase) err(what string) error {
	return fmt.Errorf("%w: the server did not complete %s within timeout (%v)", os.ErrDeadlineExceeded, what, ph.timeout)
}

// closeSockets closes c's sockets like interrupt, without marking c
// interrupted; the failure it causes marks the connection broken.
func (c *conn) closeSockets() {
	c.sockets.Lock()
	raw, data := c.sockets.raw, c.sockets.data
	c.sockets.Unlock()
	if raw != nil {
		_ = raw.Close()
	}
	if data != nil {
		_ = data.Close()
	}
}

// phasedSource is an upload's source that tells the phase timer when the
// data phase starts and ends. jlaffaye/ftp copies it with io.Copy, which
// hands the copy to WriteTo: so the data phase ends however the copy ends
// (the source's EOF or error, or a failed network write), and the wait for
// the final reply is timed either way.
type phasedSource struct {
	r  io.Reader
	ph *phase
	n  int64 // bytes read from r
}

func (s *phasedSource) WriteTo(w io.Writer) (int64, error) {
	s.ph.pause()
	defer s.ph.arm(true)
	return io.Copy(w, readerOnly{s})
}

func (s *phasedSource) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	s.n += int64(n)
	return n, err
}

// readerOnly hides WriteTo, so that io.Copy reads.
type readerOnly struct{ io.Reader }
