package pool

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"sync"
	"testing"
	"time"
)

// TestStatWithoutMLSTIsOneRoundTrip: SIZE, CWD (and MDTM where the server
// has it) of a Stat go out together, so a create's existence check and a
// lookup cost one round trip, not two or three. Before, CWD was sent only
// after SIZE's reply: the server had nothing ahead when it read SIZE.
func TestStatWithoutMLSTIsOneRoundTrip(t *testing.T) {
	var mu sync.Mutex
	ahead := map[string]int{}
	h := startHostile(t, func(h *hostile) {
		h.files["/f"] = []byte("hello")
		h.seen = func(verb string, n int) {
			mu.Lock()
			defer mu.Unlock()
			if verb == "SIZE" {
				ahead["SIZE"] = n
			}
		}
	})
	p := h.pool(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	fi, err := p.Stat(ctx, "/f")
	if err != nil || fi.Size() != 5 || fi.IsDir() {
		t.Fatalf("Stat of a file: %v, %v", fi, err)
	}
	mu.Lock()
	if ahead["SIZE"] == 0 {
		t.Error("CWD was not sent with SIZE (nothing received ahead of SIZE)")
	}
	mu.Unlock()

	if fi, err := p.Stat(ctx, "/dir"); err != nil || !fi.IsDir() {
		t.Fatalf("Stat of a directory (CWD succeeds): %v, %v", fi, err)
	}
}

// TestStatMissingAfterPipelinedReplies: 550 to SIZE and to CWD is "no
// such file", with the connection still in step for the next command.
func TestStatMissingAfterPipelinedReplies(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, arg string) bool {
			if verb == "CWD" && arg == "/gone" {
				_, _ = w.Write([]byte("550 no such directory\r\n"))
				return true
			}
			return false
		}
		h.files["/f"] = []byte("abc")
	})
	p := h.pool(func(c *Config) { c.MaxConns = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		if _, err := p.Stat(ctx, "/gone"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat of a missing name: %v, want ErrNotExist", err)
		}
		if fi, err := p.Stat(ctx, "/f"); err != nil || fi.Size() != 3 {
			t.Fatalf("Stat after a missing one (replies out of step?): %v, %v", fi, err)
		}
	}
}
