package pool

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// When the connection is cut right after RNTO to the aside name (the server
// may have moved the target aside), the target is moved back on a fresh
// connection, not left under the aside name.
func TestRenameCutAfterMovingAsideMovesBack(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := startHostile(t, func(h *hostile) {
		h.reply = func(w net.Conn, verb, arg string) bool {
			mu.Lock()
			seen = append(seen, verb+" "+arg)
			mu.Unlock()
			switch {
			case verb == "RNFR":
				_, _ = io.WriteString(w, "350 go on\r\n")
			case verb == "RNTO" && arg == "/t":
				_, _ = io.WriteString(w, "553 will not replace\r\n")
			case verb == "SIZE" && arg == "/t":
				_, _ = io.WriteString(w, "213 3\r\n")
			case verb == "RNTO" && arg == "/aside":
				_ = w.Close() // cut after the server (maybe) did it
			case verb == "RNTO":
				_, _ = io.WriteString(w, "250 ok\r\n")
			default:
				return false
			}
			return true
		}
	})
	p := h.pool(func(c *Config) { c.Timeout = 2 * time.Second })
	if err := p.Rename(context.Background(), "/s", "/t", "/aside"); err == nil {
		t.Error("a rename whose connection was cut succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(seen, "\n")
	if !strings.Contains(all, "RNFR /aside") {
		t.Errorf("the target was never moved back from the aside name; commands:\n%s", all)
	}
}
