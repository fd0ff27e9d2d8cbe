package pool

import (
	"net"
	"time"

	"github.com/jlaffaye/ftp"
)

// conn is one logged-in control connection. One goroutine owns it at a time.
type conn struct {
	sc       *ftp.ServerConn
	raw      net.Conn // the TCP connection, to drop a broken session without talking to it
	lastUsed time.Time
	mlsd     bool // the server lists with MLSD (precise times)
	stream   bool // lent to a Reader
}

// close ends the session politely (QUIT).
func (c *conn) close() {
	_ = c.sc.Quit()
}

// drop cuts a connection that can no longer be trusted.
func (c *conn) drop() {
	if c.raw != nil {
		_ = c.raw.Close()
	}
	_ = c.sc.Quit()
}
