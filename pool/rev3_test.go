package pool

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
)

// A server that refuses SIZE after a complete upload (a write-only
// "incoming" directory: 550 permission denied, or a hook that moves the
// file away at once) gives its verdict on the file. sendOnSpare takes only
// a *textproto.Error for a reply (isReply), but remoteSize returns the
// refusal as a *ReplyError, so the verdict reads as a broken spare: the
// healthy control connection is dropped and the whole file is uploaded a
// second time the ordinary way (which then fails the same way). The
// library path uploads once.
func TestRev3SizeRefusedAfterSpareUploadUploadsTwice(t *testing.T) {
	var stors atomic.Int32
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, arg string) bool {
			switch verb {
			case "STOR":
				stors.Add(1)
			case "SIZE":
				_, _ = fmt.Fprintf(w, "550 permission denied\r\n")
				return true
			}
			return false
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = 4 })
	p.refillSpare()
	waitSpare(t, p)
	data := []byte("the whole file")
	err := p.Store(ctxT(t), "/incoming/f", bytes.NewReader(data), int64(len(data)))
	t.Logf("Store: %v; discards %d", err, p.Metrics.Discards.Load())
	if err == nil {
		t.Fatal("Store succeeded although SIZE was refused")
	}
	if n := stors.Load(); n != 1 {
		t.Errorf("%d STORs of one file, want 1 (a refused SIZE is the server's verdict, not the spare's failure)", n)
	}
	if n := p.Metrics.Discards.Load(); n != 0 {
		t.Errorf("%d control connections dropped, want 0 (the connection was in step)", n)
	}
	_ = p.Close()
}
