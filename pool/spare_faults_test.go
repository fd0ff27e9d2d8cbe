package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// pieceScript plays a server's side of pieces on the hostile server.
type pieceScript struct {
	// epsv answers the nth EPSV (from 1) itself when it returns a reply;
	// "" opens a passive port as usual.
	epsv func(n int) string
	// retr serves RETR on its data connection (150 already sent) and gives
	// the final reply itself.
	retr func(data net.Conn, say func(string, ...any) error)
}

// startPieceServer runs the hostile server with EPSV, REST and RETR
// scripted by sc (the hostile server itself knows no REST).
func startPieceServer(t *testing.T, sc pieceScript, setup func(h *hostile)) *hostile {
	t.Helper()
	var mu sync.Mutex
	passive := map[net.Conn]net.Listener{} // by control connection
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, ln := range passive {
			_ = ln.Close()
		}
	})
	var epsvs atomic.Int32
	return startHostile(t, func(h *hostile) {
		if setup != nil {
			setup(h)
		}
		h.reply = func(w net.Conn, verb, arg string) bool {
			say := func(format string, args ...any) error {
				_, err := fmt.Fprintf(w, format+"\r\n", args...)
				return err
			}
			switch verb {
			case "EPSV":
				if sc.epsv != nil {
					if reply := sc.epsv(int(epsvs.Add(1))); reply != "" {
						_ = say("%s", reply)
						return true
					}
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					_ = say("425 no port")
					return true
				}
				mu.Lock()
				if old := passive[w]; old != nil {
					_ = old.Close()
				}
				passive[w] = ln
				mu.Unlock()
				_ = say("229 Entering Extended Passive Mode (|||%d|)", ln.Addr().(*net.TCPAddr).Port)
			case "REST":
				_ = say("350 restarting")
			case "RETR":
				mu.Lock()
				ln := passive[w]
				delete(passive, w)
				mu.Unlock()
				data, _ := h.acceptData(ln, say)
				if data == nil {
					return true
				}
				sc.retr(data, say)
				h.untrack(data)
			default:
				return false
			}
			return true
		}
	})
}

// waitSpare waits for p's spare and returns it (left in its slot).
func waitSpare(t *testing.T, p *Pool) *spare {
	t.Helper()
	var s *spare
	if !waitFor(10*time.Second, func() bool {
		p.spares.mu.Lock()
		defer p.spares.mu.Unlock()
		s = p.spares.s
		return s != nil
	}) {
		t.Fatal("no spare was prepared")
	}
	return s
}

// waitPrepared waits until no spare is being prepared.
func waitPrepared(t *testing.T, p *Pool) {
	t.Helper()
	if !waitFor(10*time.Second, func() bool {
		p.spares.mu.Lock()
		defer p.spares.mu.Unlock()
		return !p.spares.preparing
	}) {
		t.Fatal("the spare's preparation never ended")
	}
}

// A spare's connection is given back to an operation that would otherwise
// wait for a free one (it used to wait for the spare to age out).
func TestWaiterTakesTheSparesConnection(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 4; c.Timeout = 20 * time.Second })
	buf := make([]byte, 4096)
	if _, err := p.ReadPiece(ctxT(t), "/big.bin", buf, 1<<20, int64(len(files["big.bin"]))); err != nil {
		t.Fatal(err)
	}
	waitSpare(t, p)
	var held []*conn
	for range 3 {
		c, err := p.get(ctxT(t), useOp, false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // less than spareMaxAge
	defer cancel()
	c, err := p.get(ctx, useOp, false)
	if err != nil {
		t.Fatalf("a fourth connection while a spare holds one: %v", err)
	}
	if _, _, err := c.command(200, "NOOP"); err != nil {
		t.Errorf("NOOP on the spare's former connection: %v", err)
	}
	for _, h := range append(held, c) {
		p.put(h, false)
	}
}

// A server that answers an abort twice (426, then 226 a little later) must
// not leave the NOOP's reply for the next command: a connection whose NOOP
// is answered by anything but 200 is dropped.
func TestSpareAbortWithTwoRepliesDoesNotDesynchronise(t *testing.T) {
	h := startPieceServer(t, pieceScript{retr: func(data net.Conn, say func(string, ...any) error) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for {
			if _, err := data.Write(chunk); err != nil {
				break
			}
		}
		_ = say("426 transfer aborted")
		time.Sleep(50 * time.Millisecond) // after the client's NOOP has gone out
		_ = say("226 closing data connection")
	}}, func(h *hostile) { h.files["/f"] = []byte("12345") })
	p := h.pool(func(c *Config) { c.MaxConns = 4 })
	buf := make([]byte, 4096)
	if _, err := p.ReadPiece(ctxT(t), "/endless", buf, 100, -1); err != nil {
		t.Fatal(err)
	}
	s := waitSpare(t, p)
	if _, err := p.ReadPiece(ctxT(t), "/endless", buf, 200, -1); err != nil {
		t.Fatal(err)
	}
	if got := p.Metrics.SparePieces.Load(); got != 1 {
		t.Fatalf("%d pieces on the spare, want 1", got)
	}
	// Wait for the abort in the background to give the connection back.
	if !waitFor(10*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, lent := p.lent[s.c]
		return !lent
	}) {
		t.Fatal("the spare's abort never ended")
	}
	p.closeSpare() // no more spares: every connection is idle or new
	waitPrepared(t, p)
	time.Sleep(100 * time.Millisecond) // a stray reply is in by now
	var held []*conn
	defer func() {
		for _, c := range held {
			p.put(c, false)
		}
	}()
	for i := range 4 {
		c, err := p.get(ctxT(t), useOp, false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if n, err := c.sc.FileSize("/f"); err != nil || n != 5 {
			t.Errorf("connection %d: SIZE answered %d, %v; want 5 (a reply left over from the abort?)", i, n, err)
		}
	}
}

// slowReads stands for a TLS data connection: between socket reads the
// reader is busy (decrypting), and the deadlineConn beneath renews the
// read deadline before each one, so a deadline set in the past then is
// lost.
type slowReads struct{ net.Conn }

func (c slowReads) Read(b []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	return c.Conn.Read(b)
}

// A piece on a spare ends with its context even when the data connection
// keeps delivering a trickle.
func TestSparePieceEndsWithItsContext(t *testing.T) {
	h := startPieceServer(t, pieceScript{retr: func(data net.Conn, say func(string, ...any) error) {
		for {
			if _, err := data.Write([]byte("x")); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		_ = say("426 transfer aborted")
	}}, nil)
	p := h.pool(func(c *Config) { c.MaxConns = 4 })
	if _, err := p.ReadPiece(ctxT(t), "/trickle", make([]byte, 16), 100, -1); err != nil {
		t.Fatal(err)
	}
	waitSpare(t, p)
	p.spares.mu.Lock()
	p.spares.s.data = slowReads{p.spares.s.data}
	p.spares.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.ReadPiece(ctx, "/trickle", make([]byte, 64<<10), 200, -1) // a minute at this rate
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("piece past its deadline: %v, want DeadlineExceeded", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a piece on a trickling spare still reading 3s after its 300ms deadline")
	}
	if got := p.Metrics.SparePieces.Load(); got != 1 {
		t.Errorf("%d pieces on the spare, want 1", got)
	}
}

// Preparing a spare never takes a connection from an idle sequential
// reader (nor queues for one): the spare is speculative, the stream is not.
func TestSpareNeverEvictsAReader(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 4 })
	r := p.OpenReader("/big.bin")
	defer r.Close()
	buf := make([]byte, 4096)
	if _, err := r.ReadAt(ctxT(t), buf, 0); err != nil {
		t.Fatal(err)
	}
	var held []*conn
	for range 3 {
		c, err := p.get(ctxT(t), useOp, false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	p.refillSpare()
	waitPrepared(t, p)
	if n := p.Metrics.Evictions.Load(); n != 0 {
		t.Errorf("preparing a spare evicted %d idle readers", n)
	}
	p.spares.mu.Lock()
	s := p.spares.s
	p.spares.mu.Unlock()
	if s != nil {
		t.Error("a spare was prepared in a full pool")
	}
	for _, c := range held {
		p.put(c, false)
	}
	if n, err := r.ReadAt(ctxT(t), buf, 4096); err != nil || !bytes.Equal(buf[:n], files["big.bin"][4096:8192]) {
		t.Fatalf("reading on after the spare's attempt: %d bytes, %v", n, err)
	}
	if n := p.Metrics.Evictions.Load(); n != 0 {
		t.Errorf("%d idle readers evicted", n)
	}
}

// Only a refused EPSV turns spares off for the pool's lifetime: a
// transient 4xx or a refused connection leaves the next piece free to
// prepare one.
func TestSparesStayOnAfterPassingFailures(t *testing.T) {
	for _, c := range []struct {
		name    string
		epsv    string // the first EPSV's answer
		refuse  bool   // refuse connections while the first spare is prepared
		wantOff bool
	}{
		{name: "425 to EPSV", epsv: "425 try again later"},
		{name: "421 at the greeting", refuse: true},
		{name: "502 to EPSV", epsv: "502 not here", wantOff: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var refusing atomic.Bool
			refusing.Store(c.refuse)
			h := startPieceServer(t, pieceScript{
				epsv: func(n int) string {
					if n == 1 || c.wantOff {
						return c.epsv
					}
					return ""
				},
				retr: func(net.Conn, func(string, ...any) error) {},
			}, func(h *hostile) {
				h.greet = func(w net.Conn) error {
					if refusing.Load() {
						_, _ = fmt.Fprintf(w, "421 too many connections\r\n")
						return errors.New("refused")
					}
					_, err := fmt.Fprintf(w, "220 hostile\r\n")
					return err
				}
			})
			p := h.pool(func(cfg *Config) { cfg.MaxConns = 4; cfg.Timeout = time.Second })
			p.refillSpare()
			waitPrepared(t, p)
			refusing.Store(false)
			p.refillSpare()
			waitPrepared(t, p)
			p.spares.mu.Lock()
			s, off := p.spares.s, p.spares.off
			p.spares.mu.Unlock()
			if off != c.wantOff || (s != nil) == c.wantOff {
				t.Errorf("after the failure and a second attempt: spare %v, spares off %v; want off %v", s != nil, off, c.wantOff)
			}
		})
	}
}

// With a short timeout, no spare waits so long that its data connection's
// TLS handshake gives up (which cost a healthy control connection).
func TestSpareOutlivesNoTimeout(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 4; c.Timeout = time.Second })
	data := files["big.bin"]
	buf := make([]byte, 4096)
	if _, err := p.ReadPiece(ctxT(t), "/big.bin", buf, 1<<20, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	waitSpare(t, p)
	time.Sleep(1300 * time.Millisecond) // longer than timeout
	n, err := p.ReadPiece(ctxT(t), "/big.bin", buf, 2<<20, int64(len(data)))
	if err != nil || !bytes.Equal(buf[:n], data[2<<20:2<<20+4096]) {
		t.Fatalf("piece after a wait: %d bytes, %v, or wrong bytes", n, err)
	}
	if d := p.Metrics.Discards.Load(); d != 0 {
		t.Errorf("%d control connections dropped; a spare older than timeout was used?", d)
	}
}

// A piece whose context has ended leaves the spare for the next one.
func TestEndedPieceLeavesTheSpare(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 4; c.Timeout = 20 * time.Second })
	size := int64(len(files["big.bin"]))
	buf := make([]byte, 4096)
	if _, err := p.ReadPiece(ctxT(t), "/big.bin", buf, 1<<20, size); err != nil {
		t.Fatal(err)
	}
	s := waitSpare(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.ReadPiece(ctx, "/big.bin", buf, 2<<20, size); !errors.Is(err, context.Canceled) {
		t.Errorf("piece with an ended context: %v, want Canceled", err)
	}
	p.spares.mu.Lock()
	left := p.spares.s
	p.spares.mu.Unlock()
	if left != s {
		t.Error("the spare was taken by a piece whose context had ended")
	}
	if d := p.Metrics.Discards.Load(); d != 0 {
		t.Errorf("%d control connections dropped", d)
	}
}

// EPSV answered by another success (a late reply, say) is out of step: the
// real answer that follows must not answer the next command.
func TestSpareEPSVAnsweredOutOfStep(t *testing.T) {
	h := startPieceServer(t, pieceScript{
		epsv: func(n int) string {
			if n == 1 {
				return "226 transfer complete\r\n229 Entering Extended Passive Mode (|||1|)"
			}
			return ""
		},
		retr: func(net.Conn, func(string, ...any) error) {},
	}, func(h *hostile) { h.files["/f"] = []byte("12345") })
	p := h.pool(func(c *Config) { c.MaxConns = 4 })
	p.refillSpare()
	waitPrepared(t, p)
	p.closeSpare()
	var held []*conn
	defer func() {
		for _, c := range held {
			p.put(c, false)
		}
	}()
	for i := range 4 {
		c, err := p.get(ctxT(t), useOp, false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if n, err := c.sc.FileSize("/f"); err != nil || n != 5 {
			t.Errorf("connection %d: SIZE answered %d, %v; want 5 (EPSV's late answer?)", i, n, err)
		}
	}
}
