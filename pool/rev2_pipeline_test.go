package pool

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestRev2PipelinedCWD421DropsTheConnection: a Stat of a file pipelines
// SIZE and CWD; a server that answers CWD with 421 and closes has ended the
// session, yet SIZE's 213 makes the Stat succeed and the dead connection goes
// back to the idle list as healthy. The next operation on it (here a
// non-idempotent MKD, which is not retried) fails with a broken connection
// instead of the server's answer. Before the pipeline, CWD was only sent
// after SIZE failed, and its 421 dropped the connection.
func TestRev2PipelinedCWD421DropsTheConnection(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.files["/f"] = []byte("hello")
		h.reply = func(w net.Conn, verb, arg string) bool {
			if verb == "CWD" && arg == "/f" {
				_, _ = w.Write([]byte("421 shutting down\r\n"))
				_ = w.Close()
				return true
			}
			return false
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = 1; c.IdleCheck = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if fi, err := p.Stat(ctx, "/f"); err != nil || fi.Size() != 5 {
		t.Fatalf("Stat: %v, %v", fi, err)
	}
	time.Sleep(50 * time.Millisecond) // the server's close arrives
	err := p.MakeDir(ctx, "/newdir")
	if code := replyCode(err); code != 502 {
		t.Errorf("MKD after a Stat whose CWD got 421: %v (code %d), want the server's 502 on a live connection", err, code)
	}
}
