package pool

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestPipelinedCWD421DropsTheConnection: a Stat of a file pipelines
// SIZE and CWD; a server that answers CWD with 421 and closes has ended the
// session, so the connection is dropped even though SIZE's 213 answered the
// Stat. Before, it went back to the idle list as healthy and the next
// operation on it (here a non-idempotent MKD, which is not retried) failed
// with a broken connection instead of the server's answer.
func TestPipelinedCWD421DropsTheConnection(t *testing.T) {
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

// TestDuplicatedReplyDoesNotShiftLaterStats: a server that answers
// SIZE twice gives pipeline a 213 where CWD's reply belongs, which no CWD
// is answered with: the connection is out of step and dropped. Before,
// nothing checked that a reply fits its command, MDTM's real reply stayed
// unread (the stray-reply check only sees what is already buffered), and the
// next Stat on that connection read the leftover "213 <timestamp>" as SIZE's
// reply: a size of 20200101000000 bytes for a 3-byte file.
func TestDuplicatedReplyDoesNotShiftLaterStats(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.files["/f"] = []byte("hello")
		h.files["/g"] = []byte("abc")
		h.reply = func(w net.Conn, verb, arg string) bool {
			switch {
			case verb == "FEAT":
				_, _ = w.Write([]byte("211-Features:\r\n SIZE\r\n MDTM\r\n211 End\r\n"))
				return true
			case verb == "SIZE" && arg == "/f":
				_, _ = w.Write([]byte("213 5\r\n213 5\r\n")) // answered twice
				return true
			case verb == "CWD" && (arg == "/f" || arg == "/g"):
				_, _ = w.Write([]byte("550 not a directory\r\n"))
				return true
			case verb == "MDTM":
				time.Sleep(30 * time.Millisecond) // arrives after the client stopped reading
				_, _ = w.Write([]byte("213 20200101000000\r\n"))
				return true
			}
			return false
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = 1; c.IdleCheck = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.Stat(ctx, "/f"); err != nil {
		t.Logf("Stat /f: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	fi, err := p.Stat(ctx, "/g")
	if err == nil && fi.Size() != 3 {
		t.Errorf("Stat /g after a duplicated reply: size %d, want 3 (replies out of step)", fi.Size())
	}
}

// TestReplyLeftOverAfterPipelineFailsTheStat: a reply still buffered once
// every pipelined command has its reply means one of them was answered by
// another's (here CWD's 550 came twice, and the second was read as MDTM's):
// the Stat fails as on a broken connection instead of reporting what the
// shifted replies said. Before, it succeeded and left the extra reply for
// the next command's stray-reply check.
func TestReplyLeftOverAfterPipelineFailsTheStat(t *testing.T) {
	h := startHostile(t, func(h *hostile) {
		h.files["/f"] = []byte("hello")
		h.reply = func(w net.Conn, verb, arg string) bool {
			switch verb {
			case "FEAT":
				_, _ = w.Write([]byte("211-Features:\r\n SIZE\r\n MDTM\r\n211 End\r\n"))
			case "SIZE", "CWD":
				// Answered with MDTM, in one write, so all of it is buffered.
			case "MDTM":
				_, _ = w.Write([]byte("213 5\r\n550 not a directory\r\n550 not a directory\r\n213 20200101000000\r\n"))
			default:
				return false
			}
			return true
		}
	})
	p := h.pool(func(c *Config) { c.MaxConns = 1; c.IdleCheck = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fi, err := p.Stat(ctx, "/f")
	if err == nil {
		t.Errorf("Stat with a reply left over: %v (size %d), want an error", fi, fi.Size())
	} else if !broken(err) {
		t.Errorf("Stat with a reply left over: %v, want an error that drops the connection", err)
	}
}
