package pool

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// TestReadPieceOnSpares reads pieces at random offsets: after the first,
// each goes over the spare data connection prepared meanwhile, returns the
// right bytes, and leaves the pool in step.
func TestReadPieceOnSpares(t *testing.T) {
	checkGoroutines(t)
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 8 })
	data := files["big.bin"]
	rng := rand.New(rand.NewPCG(3, 4))
	const n, size = 30, 64 << 10
	for i := range n {
		off := rng.Int64N(int64(len(data)) - size)
		buf := make([]byte, size)
		got, err := p.ReadPiece(ctxT(t), "/big.bin", buf, off, int64(len(data)))
		if err != nil || got != size || !bytes.Equal(buf, data[off:off+size]) {
			t.Fatalf("piece %d at %d: %d bytes, %v, or wrong bytes", i, off, got, err)
		}
	}
	t.Logf("%d of %d pieces on a spare", p.Metrics.SparePieces.Load(), n)
	if got := p.Metrics.SparePieces.Load(); got < n/2 {
		t.Errorf("%d of %d pieces went over a spare data connection", got, n)
	}
	if _, err := p.List(ctxT(t), "/dir"); err != nil {
		t.Fatalf("listing after the pieces: %v", err)
	}
	// The end of the file, asked one byte past it, ends with EOF.
	for range 2 {
		off := int64(len(data)) - 1000
		buf := make([]byte, 1001)
		got, err := p.ReadPiece(ctxT(t), "/big.bin", buf, off, int64(len(data)))
		if got != 1000 || !errors.Is(err, io.EOF) || !bytes.Equal(buf[:got], data[off:]) {
			t.Fatalf("the tail: %d bytes, %v, or wrong bytes; want 1000 and EOF", got, err)
		}
	}
	// A missing file is the server's answer, not a failed spare.
	if _, err := p.ReadPiece(ctxT(t), "/missing", make([]byte, 10), 5, -1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a piece of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("listing after the last pieces: %v", err)
	}
	_ = p.Close()
}

// TestReadPieceSmallPool: a pool too small for a spare reads pieces on
// ordinary streams.
func TestReadPieceSmallPool(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 2 })
	data := files["big.bin"]
	for _, off := range []int64{2 << 20, 100, 1 << 20} {
		buf := make([]byte, 4096)
		if got, err := p.ReadPiece(ctxT(t), "/big.bin", buf, off, -1); err != nil || !bytes.Equal(buf[:got], data[off:off+4096]) {
			t.Fatalf("piece at %d: %d bytes, %v, or wrong bytes", off, got, err)
		}
	}
	if got := p.Metrics.SparePieces.Load(); got != 0 {
		t.Errorf("%d pieces on a spare in a pool of 2", got)
	}
}

func TestEPSVPort(t *testing.T) {
	for msg, want := range map[string]int{
		"Entering Extended Passive Mode (|||28343|)": 28343,
		"EPSV ok (!!!21!)":                           21,
		"Entering Extended Passive Mode (|||0|)":     0,
		"Entering Extended Passive Mode":             0,
		"()":                                         0,
		"(|||70000|)":                                0,
	} {
		got, err := epsvPort(msg)
		if want == 0 && err == nil || want != 0 && (err != nil || got != want) {
			t.Errorf("epsvPort(%q) = %d, %v; want %d", msg, got, err, want)
		}
	}
}

// TestReadPieceSpareDied: a spare whose data connection died while it
// waited still gives the right bytes (the piece is read on a fresh stream).
func TestReadPieceSpareDied(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 8 })
	data := files["big.bin"]
	read := func(off int64) {
		t.Helper()
		buf := make([]byte, 8192)
		if got, err := p.ReadPiece(ctxT(t), "/big.bin", buf, off, int64(len(data))); err != nil || !bytes.Equal(buf[:got], data[off:off+8192]) {
			t.Fatalf("piece at %d: %d bytes, %v, or wrong bytes", off, got, err)
		}
	}
	read(1 << 20) // prepares a spare
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.spares.mu.Lock()
		s := p.spares.s
		p.spares.mu.Unlock()
		if s != nil {
			_ = s.data.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare was prepared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	read(2 << 20)
	read(100)
	if _, err := p.List(ctxT(t), "/dir"); err != nil {
		t.Fatalf("listing after the dead spare: %v", err)
	}
}
