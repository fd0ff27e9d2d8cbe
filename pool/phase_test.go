package pool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// dripEvery is below the tests' timeout (1 s): the per-read deadline never
// expires and the reply budget (256 KiB) lasts for hours.
const dripEvery = 300 * time.Millisecond

// dripped are servers that answer one step of an upload with a reply that
// never ends.
var dripped = map[string]func(h *hostile){
	"150 to STOR": func(h *hostile) {
		h.reply = func(w net.Conn, verb, _ string) bool {
			if verb != "STOR" {
				return false
			}
			_ = dripReply(w, 150, dripEvery)
			return true
		}
	},
	"226 after the data": func(h *hostile) {
		h.final = func(w net.Conn, verb, _ string) error {
			if verb != "STOR" {
				_, err := io.WriteString(w, "226 done\r\n")
				return err
			}
			return dripReply(w, 226, dripEvery)
		}
	},
	"213 to the SIZE check": func(h *hostile) {
		h.reply = func(w net.Conn, verb, _ string) bool {
			if verb != "SIZE" {
				return false
			}
			_ = dripReply(w, 213, dripEvery)
			return true
		}
	},
}

// returnsWithin runs f and fails the test if it has not returned after d
// (it is left running: the test's cleanup closes the server under it).
func returnsWithin(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
		return nil
	}
}

// Before the fix an upload whose context has no deadline (fusefs passes
// uploads such contexts, since a large one may take longer than timeout)
// waited for a dripped reply forever: Store was still running after 8 s
// with timeout 1 s. Now each control-channel wait has timeout of its own;
// Store may try once more on a fresh connection, so it ends within about
// two timeouts. The error is a timeout (ETIMEDOUT to fusefs).
func TestUploadRepliesDrippedEndInTime(t *testing.T) {
	for name, setup := range dripped {
		for _, stream := range []bool{false, true} {
			label := name + "/Store"
			if stream {
				label = name + "/StoreStream"
			}
			t.Run(label, func(t *testing.T) {
				h := startHostile(t, setup)
				p := h.pool(func(c *Config) { c.Timeout = time.Second })
				err := returnsWithin(t, 6*time.Second, func() error {
					if stream {
						_, err := p.StoreStream(context.Background(), "/f", strings.NewReader("data"))
						return err
					}
					return p.Store(context.Background(), "/f", strings.NewReader("data"), 4)
				})
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("upload with a dripped %s: %v, want a timeout", name, err)
				}
			})
		}
	}
}

// slowSource yields its chunks one every gap.
type slowSource struct {
	chunks [][]byte
	gap    time.Duration
}

func (s *slowSource) Read(b []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.gap)
	n := copy(b, s.chunks[0])
	s.chunks[0] = s.chunks[0][n:]
	if len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// The data phase is not bounded as a whole: a source that takes twice the
// timeout (a program writing a file slowly through the mount) is uploaded.
func TestStreamUploadOutlastsTimeout(t *testing.T) {
	h := startHostile(t, nil)
	p := h.pool(func(c *Config) { c.Timeout = time.Second })
	src := &slowSource{chunks: [][]byte{[]byte("one "), []byte("two "), []byte("three "), []byte("four "), []byte("five "), []byte("six ")}, gap: 400 * time.Millisecond}
	n, err := p.StoreStream(context.Background(), "/slow", src)
	if err != nil || n != 28 {
		t.Fatalf("StoreStream of a slow source: %d bytes, %v", n, err)
	}
	h.mu.Lock()
	got := h.files["/slow"]
	h.mu.Unlock()
	if !bytes.Equal(got, []byte("one two three four five six ")) {
		t.Errorf("server holds %q", got)
	}
}

// Before the fix StoreStream ignored its context: cancelled while the
// server dripped a reply, it went on waiting (and with the phase bound
// alone, it would end with a timeout instead of the cancellation).
func TestStoreStreamEndsWithItsContext(t *testing.T) {
	h := startHostile(t, dripped["213 to the SIZE check"])
	p := h.pool(func(c *Config) { c.Timeout = 10 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	err := returnsWithin(t, 5*time.Second, func() error {
		_, err := p.StoreStream(ctx, "/f", strings.NewReader("data"))
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("StoreStream cancelled during a dripped reply: %v, want context.Canceled", err)
	}
}

// Before the fix a whole-file download (a context without deadline: the
// download before an in-place write) waited forever for a dripped reply to
// RETR, and for a dripped final reply after the data. Now each wait ends
// after timeout; a read resumes at most twice.
func TestDownloadRepliesDrippedEndInTime(t *testing.T) {
	t.Run("150 to RETR", func(t *testing.T) {
		h := startHostile(t, func(h *hostile) {
			h.reply = func(w net.Conn, verb, _ string) bool {
				if verb != "RETR" {
					return false
				}
				_ = dripReply(w, 150, dripEvery)
				return true
			}
		})
		p := h.pool(func(c *Config) { c.Timeout = time.Second })
		r := p.OpenReader("/f") // not closed if the read never returns: Close would wait for it
		err := returnsWithin(t, 6*time.Second, func() error {
			_, err := r.ReadAt(context.Background(), make([]byte, 8), 0)
			return err
		})
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read with a dripped 150: %v, want a timeout", err)
		}
		_ = r.Close()
	})
	t.Run("226 after the data", func(t *testing.T) {
		h := startHostile(t, func(h *hostile) {
			h.files["/f"] = []byte("hello")
			h.final = func(w net.Conn, verb, _ string) error { return dripReply(w, 226, dripEvery) }
		})
		p := h.pool(func(c *Config) { c.Timeout = time.Second })
		r := p.OpenReader("/f") // not closed if the read never returns: Close would wait for it
		var n int
		err := returnsWithin(t, 6*time.Second, func() error {
			var err error
			n, err = r.ReadAt(context.Background(), make([]byte, 8), 0)
			return err
		})
		// The server never confirmed the end: not io.EOF (a complete file).
		if err == nil || errors.Is(err, io.EOF) {
			t.Errorf("read with a dripped 226: %d bytes, %v, want an error", n, err)
		}
		_ = r.Close()
	})
}

// Before the fix the metadata operations that finish an upload (they get
// the upload's context, without deadline) waited for a dripped reply
// forever. Now they get timeout where their context has no deadline.
func TestOpsWithoutDeadlineEndInTime(t *testing.T) {
	for _, c := range []struct {
		verb string
		op   func(p *Pool) error
	}{
		{"RNTO", func(p *Pool) error { return p.Rename(context.Background(), "/a", "/b", "") }},
		{"SITE", func(p *Pool) error { return p.Chmod(context.Background(), "/a", 0o600) }},
		{"DELE", func(p *Pool) error { return p.Delete(context.Background(), "/a") }},
		{"MKD", func(p *Pool) error { return p.MakeDir(context.Background(), "/d") }},
	} {
		t.Run(c.verb, func(t *testing.T) {
			h := startHostile(t, func(h *hostile) {
				h.reply = func(w net.Conn, verb, _ string) bool {
					switch verb {
					case "RNFR":
						_, _ = io.WriteString(w, "350 go on\r\n")
						return true
					case c.verb:
						_ = dripReply(w, 250, dripEvery)
						return true
					}
					return false
				}
			})
			p := h.pool(func(c *Config) { c.Timeout = time.Second })
			err := returnsWithin(t, 4*time.Second, func() error { return c.op(p) })
			if !timedOut(err) {
				t.Errorf("%s with a dripped reply: %v, want a timeout", c.verb, err)
			}
		})
	}
}

// After the data, the phase is timed from the server's first byte: the
// last bytes may take longer than timeout to drain on a slow link, while
// the server is silent (TestSlowTransfersOutlastTimeout in e2e failed
// with the phase timed from the source's end). Once the server talks
// without finishing, the connection is cut.
func TestFinalPhaseTimedFromServersFirstByte(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = server.Close() }()
	// A control connection has received the greeting at least (a count of
	// zero reads as a kernel without a counter).
	if _, err := io.WriteString(server, "220 hello\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, len("220 hello\r\n"))); err != nil {
		t.Fatal(err)
	}
	c := &conn{}
	c.setRaw(client)
	ph := &phase{c: c, timeout: 400 * time.Millisecond}
	ph.arm(true)
	time.Sleep(time.Second) // silent for longer than timeout
	ph.mu.Lock()
	early := ph.fired
	ph.mu.Unlock()
	if early {
		t.Fatal("cut while the server was silent")
	}
	if _, err := io.WriteString(server, "226-x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Read by nobody: the kernel's count tells.
	if !waitFor(3*time.Second, func() bool {
		ph.mu.Lock()
		defer ph.mu.Unlock()
		return ph.fired
	}) {
		t.Fatal("not cut after the server talked for longer than timeout")
	}
	if !ph.end() {
		t.Error("end does not report the cut")
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Error("the control socket is still open after the cut")
	}
}

// The NOOP that checks an idle connection before a transfer (whose context
// has no deadline) ends within timeout when the server drips its reply.
func TestIdleCheckOfATransferEndsInTime(t *testing.T) {
	var noops atomic.Int64
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, _ string) bool {
			if verb == "NOOP" && noops.Add(1) > 1 { // the login's own NOOP passes
				_ = dripReply(w, 200, dripEvery)
				return true
			}
			return false
		}
	})
	p := h.pool(func(c *Config) { c.Timeout = time.Second; c.IdleCheck = time.Nanosecond; c.MaxConns = 1 })
	_ = p.MakeDir(context.Background(), "/d") // logs in; the connection goes idle
	time.Sleep(10 * time.Millisecond)
	err := returnsWithin(t, 5*time.Second, func() error {
		return p.Store(context.Background(), "/f", strings.NewReader("data"), 4)
	})
	if err == nil {
		t.Error("Store over a connection whose check never answered succeeded")
	}
}

// TestFinalPhaseWithoutByteCounter: on a kernel whose TCP_INFO is missing
// or whose received-bytes counter never moves (gVisor reports 0), the
// phase after an upload's data is timed from the data's end, so a dripped
// final reply still ends the upload in time. Before, with a counter stuck
// at 0 the phase waited for a first byte it never saw, forever.
func TestFinalPhaseWithoutByteCounter(t *testing.T) {
	for name, counter := range map[string]func(net.Conn) (uint64, bool){
		"stuck at 0": func(net.Conn) (uint64, bool) { return 0, true },
		"not told":   func(net.Conn) (uint64, bool) { return 0, false },
	} {
		t.Run(name, func(t *testing.T) {
			socketBytesHook.Store(&counter)
			t.Cleanup(func() { socketBytesHook.Store(nil) })
			h := startHostile(t, dripped["226 after the data"])
			p := h.pool(func(c *Config) { c.Timeout = time.Second })
			err := returnsWithin(t, 6*time.Second, func() error {
				return p.Store(context.Background(), "/f", strings.NewReader("data"), 4)
			})
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("upload with a dripped 226 and the counter %s: %v, want a timeout", name, err)
			}
		})
	}
}
