package pool

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

func TestListAndReadEveryMode(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		for vname, v := range tlsVersions {
			name := "explicit/" + vname
			if implicit {
				name = "implicit/" + vname
			}
			t.Run(name, func(t *testing.T) {
				srv, files := startServer(t, testserver.EmbeddedOptions{Implicit: implicit})
				p := newPool(t, srv, func(c *Config) { c.TLS.MaxVersion = v; c.TLS.MinVersion = v })
				entries, err := p.List(ctxT(t), "/")
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
					if e.Name() == "dir" && !e.IsDir() {
						t.Errorf("dir listed as %v", e.Mode())
					}
					if e.Name() == "big.bin" && e.Size() != int64(len(files["big.bin"])) {
						t.Errorf("big.bin size %d, want %d", e.Size(), len(files["big.bin"]))
					}
				}
				sort.Strings(names)
				want := []string{".hidden", "big.bin", "dir", "empty", "one", "with space #%é"}
				if !slices.Equal(names, want) {
					t.Errorf("listing %q, want %q", names, want)
				}
				for _, name := range []string{"big.bin", "one", "with space #%é", "dir/inner.txt"} {
					r := p.OpenReader("/" + name)
					got := readAll(t, r, 100_000)
					_ = r.Close()
					if !bytes.Equal(got, files[name]) {
						t.Errorf("%s: read %d bytes, want %d (content differs)", name, len(got), len(files[name]))
					}
				}
				if n := srv.ResumeFailures(); n != 0 {
					t.Errorf("%d data connections did not resume the control connection's TLS session", n)
				}
				if n := p.Metrics.ResumeMisses.Load(); n != 0 {
					t.Errorf("client saw %d data connections that did not resume", n)
				}
			})
		}
	}
}

func TestSequentialReadsShareOneStream(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, nil)
	r := p.OpenReader("/big.bin")
	defer r.Close()
	before := srv.DataConns()
	got := readAll(t, r, 64<<10)
	if !bytes.Equal(got, files["big.bin"]) {
		t.Fatal("content differs")
	}
	if n := srv.DataConns() - before; n != 1 {
		t.Errorf("sequential read used %d data connections, want 1", n)
	}
}

func TestRandomReadsReopenAtOffset(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, nil)
	r := p.OpenReader("/big.bin")
	defer r.Close()
	data := files["big.bin"]
	for _, off := range []int64{2 << 20, 10, 3<<20 + 1, 1 << 20} {
		buf := make([]byte, 4096)
		n, err := r.ReadAt(ctxT(t), buf, off)
		want := data[off:min(off+4096, int64(len(data)))]
		if n != len(want) || !bytes.Equal(buf[:n], want) {
			t.Fatalf("ReadAt(%d): %d bytes, err %v; content mismatch", off, n, err)
		}
		if n < len(buf) && !errors.Is(err, io.EOF) {
			t.Fatalf("short read at %d without EOF: %v", off, err)
		}
	}
	// After the aborted streams the pool is still in step.
	if _, err := p.List(ctxT(t), "/dir"); err != nil {
		t.Fatalf("listing after aborted reads: %v", err)
	}
}

func TestMetadataNeverWaitsBehindIdleStreams(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 2 })
	var readers []*Reader
	for i := 0; i < 4; i++ {
		r := p.OpenReader("/big.bin")
		buf := make([]byte, 1000)
		if _, err := r.ReadAt(ctxT(t), buf, 0); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		readers = append(readers, r)
	}
	if n := p.OpenConns(); n > 2 {
		t.Errorf("%d connections open, limit 2", n)
	}
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List with every stream held: %v", err)
	}
	// An evicted reader resumes where it was.
	buf := make([]byte, 1000)
	if _, err := readers[0].ReadAt(ctxT(t), buf, 1000); err != nil {
		t.Fatalf("resuming an evicted reader: %v", err)
	}
	for _, r := range readers {
		_ = r.Close()
	}
}

func TestBrokenIdleConnectionIsReplaced(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, nil)
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	// Cut the idle connection under the pool, as a server restart would.
	p.mu.Lock()
	for _, c := range p.idle {
		_ = c.sockets.raw.Close()
	}
	p.mu.Unlock()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List after the connection broke: %v", err)
	}
	if p.Metrics.Retries.Load() != 1 {
		t.Errorf("retries = %d, want 1", p.Metrics.Retries.Load())
	}
}

func TestReadStreamCutMidwayResumes(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, nil)
	var mu sync.Mutex
	var data []net.Conn
	p.dialer.onDataConn = func(c net.Conn) { mu.Lock(); data = append(data, c); mu.Unlock() }
	r := p.OpenReader("/big.bin")
	defer r.Close()
	buf := make([]byte, 1<<20)
	if _, err := r.ReadAt(ctxT(t), buf, 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	_ = data[len(data)-1].Close() // the data connection dies mid-transfer
	mu.Unlock()
	n, err := r.ReadAt(ctxT(t), buf, 1<<20)
	if err != nil || !bytes.Equal(buf[:n], files["big.bin"][1<<20:2<<20]) {
		t.Fatalf("read after cut: n=%d err=%v (content ok=%v)", n, err, bytes.Equal(buf[:n], files["big.bin"][1<<20:1<<20+n]))
	}
	if p.Metrics.Resumes.Load() == 0 {
		t.Error("no resume counted")
	}
}

func TestMissingFileIsNotExist(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, nil)
	r := p.OpenReader("/nope")
	defer r.Close()
	_, err := r.ReadAt(ctxT(t), make([]byte, 10), 0)
	var re *ReplyError
	if !errors.As(err, &re) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("RETR of a missing file: %v, want a 550 reply meaning not found", err)
	}
}

func TestPathWithLineBreakRefused(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, nil)
	if _, err := p.List(ctxT(t), "/x\r\nDELE y"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("List with CRLF: %v", err)
	}
}

func TestCloseLeavesNothingBehind(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	checkGoroutines(t)
	p, err := New(Config{Host: srv.Host, Port: srv.Port, User: "test", Password: "secret", Mode: Explicit,
		TLS: TLSOptions{Fingerprints: [][32]byte{srv.Opts.Cert.Fingerprint}}, MaxConns: 3, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := p.OpenReader("/big.bin")
	if _, err := r.ReadAt(ctxT(t), make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	_ = p.Close()
	if n := p.OpenConns(); n != 0 {
		t.Errorf("%d connections open after Close", n)
	}
}

func TestServerThatNeverGreetsTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	p, err := New(Config{Host: "127.0.0.1", Port: addr.Port, User: "u", Password: "p", Mode: Explicit, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Check(ctxT(t), "/")
	if err == nil {
		t.Fatal("Check against a silent server succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v to fail", took)
	}
	var de *DialError
	if !errors.As(err, &de) {
		t.Errorf("error %v is not a DialError", err)
	}
}

func TestIdleConnectionCheckedBeforeUse(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.IdleCheck = time.Millisecond })
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	for _, c := range p.idle {
		_ = c.sockets.raw.Close() // dropped while idle, as an idle timeout would
	}
	p.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List after an idle connection died: %v", err)
	}
	// The NOOP check caught it before the operation ran: no retry needed.
	if r, d := p.Metrics.Retries.Load(), p.Metrics.Discards.Load(); r != 0 || d != 1 {
		t.Errorf("retries %d, discards %d; want 0 and 1", r, d)
	}
}

func TestWarmOpensConnectionsUpToTheLimit(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 3 })
	p.Warm(ctxT(t), 8)
	if n := p.OpenConns(); n != 3 {
		t.Errorf("%d connections after Warm, want 3", n)
	}
	before := srv.Logins()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	if srv.Logins() != before {
		t.Error("a listing after Warm logged in again")
	}
}

// TestLanesLeaveOneConnection: with two connections, read-ahead lanes
// (background work) hold at most one; a second lane takes it from a lane
// that has stayed idle (lanes yield to each other), a listing gets the
// other connection without preempting anything, and both lanes read the
// right bytes.
func TestLanesLeaveOneConnection(t *testing.T) {
	srv, files := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 2 })
	if n := p.ReadLanes(); n != 2 {
		t.Fatalf("ReadLanes() = %d with two connections, want 2", n)
	}
	data := files["big.bin"]
	lanes := []*Reader{p.OpenLaneReader("/big.bin"), p.OpenLaneReader("/big.bin")}
	for i, r := range lanes {
		defer r.Close()
		buf := make([]byte, 1000)
		off := int64(i) << 20
		if _, err := r.ReadAt(ctxT(t), buf, off); err != nil || !bytes.Equal(buf, data[off:off+1000]) {
			t.Fatalf("lane %d: %v or content differs", i, err)
		}
		p.mu.Lock()
		bgLent, open := p.bgLent, p.open
		p.mu.Unlock()
		if bgLent != 1 || open != 1 {
			t.Fatalf("after lane %d read: %d connections open, %d lent to lanes; want 1 and 1", i, open, bgLent)
		}
	}
	if p.Metrics.Evictions.Load() != 1 {
		t.Errorf("%d streams parked, want 1 (the idle lane's)", p.Metrics.Evictions.Load())
	}
	start := time.Now()
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("List while a lane holds a connection: %v", err)
	}
	if n := p.Metrics.Preemptions.Load(); n != 0 {
		t.Errorf("List preempted the lane (took %v) instead of using the free connection", time.Since(start))
	}
}

// A read that was to reach the end of the file as listed takes its
// connection as a command would; when the file turned out longer (it grew
// on the server) and the stream stays open, it counts as a stream again,
// so that streams still leave a connection for commands.
func TestReadPastListedSizeCountsAsStream(t *testing.T) {
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, nil)
	r := p.OpenReader("/big.bin")
	defer r.Close()
	r.ExpectSize(4096) // listed before it grew
	if _, err := r.ReadAt(ctxT(t), make([]byte, 4097), 0); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	streams := p.streams
	p.mu.Unlock()
	if streams != 1 {
		t.Errorf("streams = %d with the stream still open, want 1", streams)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	streams = p.streams
	p.mu.Unlock()
	if streams != 0 {
		t.Errorf("streams = %d after it closed, want 0", streams)
	}
}
