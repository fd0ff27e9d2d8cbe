package pool

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// TestStoreOnSpares uploads files one after another, as cp -r does: after
// the first, each goes over the spare prepared meanwhile (no EPSV and no
// connect of its own), arrives whole, and leaves the pool in step. A STOR
// the server refuses on a spare is the server's verdict, and the next
// upload still works.
func TestStoreOnSpares(t *testing.T) {
	checkGoroutines(t)
	srv, _ := startServer(t, testserver.EmbeddedOptions{})
	p := newPool(t, srv, func(c *Config) { c.MaxConns = 8 })
	sizes := []int{1, 4096, 300 << 10, 17, 4096, 2 << 20, 100, 4096, 4096, 4096}
	for i, n := range sizes {
		data := randomBytes(t, n)
		name := fmt.Sprintf("/up%d.bin", i)
		if err := p.Store(ctxT(t), name, bytes.NewReader(data), int64(n)); err != nil {
			t.Fatalf("upload %d (%d bytes): %v", i, n, err)
		}
		if got := readAll(t, p.OpenReader(name), n); !bytes.Equal(got, data) {
			t.Fatalf("upload %d reads back %d bytes, or wrong bytes", i, len(got))
		}
	}
	t.Logf("%d of %d uploads on a spare", p.Metrics.SpareStores.Load(), len(sizes))
	if got := p.Metrics.SpareStores.Load(); got < int64(len(sizes))/2 {
		t.Errorf("%d of %d uploads went over a spare data connection", got, len(sizes))
	}
	if err := p.Store(ctxT(t), "/no/such/dir/f", bytes.NewReader([]byte("x")), 1); err == nil {
		t.Error("an upload into a missing directory succeeded")
	}
	if _, err := p.List(ctxT(t), "/"); err != nil {
		t.Fatalf("listing after a refused upload: %v", err)
	}
	data := randomBytes(t, 5000)
	if err := p.Store(ctxT(t), "/after.bin", bytes.NewReader(data), 5000); err != nil {
		t.Fatalf("upload after a refused one: %v", err)
	}
	if got := readAll(t, p.OpenReader("/after.bin"), 5000); !bytes.Equal(got, data) {
		t.Fatal("the upload after a refused one reads back wrong")
	}
	_ = p.Close()
}

// TestStoreOnSpareRefusedDataConnFallsBack: a server that gave up on the
// spare's data connection (425 to STOR) costs nothing but a retry the
// ordinary way: the upload succeeds, whole, on a fresh data connection.
func TestStoreOnSpareRefusedDataConnFallsBack(t *testing.T) {
	var stors atomic.Int32
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, arg string) bool {
			if verb == "STOR" && stors.Add(1) == 1 {
				_, _ = fmt.Fprintf(w, "425 gave up waiting for the data connection\r\n")
				return true
			}
			return false
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = 4 })
	p.refillSpare()
	waitSpare(t, p)
	data := []byte("the whole file")
	if err := p.Store(ctxT(t), "/f", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("upload after the spare's 425: %v", err)
	}
	h.mu.Lock()
	got := h.files["/f"]
	h.mu.Unlock()
	if !bytes.Equal(got, data) {
		t.Errorf("the server holds %q, want %q", got, data)
	}
	if n := stors.Load(); n != 2 {
		t.Errorf("%d STORs, want 2 (the spare's, refused, then the ordinary one)", n)
	}
	if n := p.Metrics.SpareStores.Load(); n != 0 {
		t.Errorf("%d uploads counted on a spare, want 0", n)
	}
}

// TestSpareUploadAsksSizeWithTheData: on the spare, the size check is sent
// before the data connection closes, so its answer comes with the final
// reply instead of a round trip after it: the server already holds SIZE
// when it answers the transfer. (Before, SIZE was sent after the 226.)
// The upload still succeeds and is checked.
func TestSpareUploadAsksSizeWithTheData(t *testing.T) {
	var ahead atomic.Int32
	ahead.Store(-1)
	h := startHostile(t, func(h *hostile) {
		h.beforeFinal = func(verb string, n int) {
			if verb == "STOR" {
				ahead.Store(int32(n))
			}
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = 4 })
	p.refillSpare()
	waitSpare(t, p)
	data := []byte("checked at once")
	if err := p.Store(ctxT(t), "/f", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("upload on the spare: %v", err)
	}
	if p.Metrics.SpareStores.Load() != 1 {
		t.Fatal("the upload did not go over the spare (the test's premise)")
	}
	if n := ahead.Load(); n <= 0 {
		t.Errorf("the server held %d bytes of later commands when it answered the transfer; want SIZE already sent", n)
	}
}

// TestSpareUploadSizeAnsweredEarlyIsAskedAgain: a server that answers the
// SIZE sent with the data before it has stored everything (550, or a
// smaller size, then the transfer's 226) is asked again after the final
// reply: the upload is judged by the size the server holds at the end.
func TestSpareUploadSizeAnsweredEarlyIsAskedAgain(t *testing.T) {
	for _, early := range []string{"550 not there yet", "213 3"} {
		t.Run(early, func(t *testing.T) {
			var sizes atomic.Int32
			h := startHostile(t, nil)
			h.reply = func(w net.Conn, verb, arg string) bool {
				if verb == "SIZE" && sizes.Add(1) == 1 {
					_, _ = fmt.Fprintf(w, "%s\r\n", early)
					return true
				}
				return false
			}
			p := h.pool(func(c *Config) { c.MaxConns = 4 })
			p.refillSpare()
			waitSpare(t, p)
			data := []byte("the whole file")
			if err := p.Store(ctxT(t), "/f", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("upload whose first SIZE answer came early: %v", err)
			}
			if n := sizes.Load(); n != 2 {
				t.Errorf("%d SIZE commands, want 2 (the early answer, then asked again)", n)
			}
		})
	}
}
