package pool

import (
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"sync/atomic"
	"time"
)

// Passive ports asked ahead. Every download costs an EPSV round trip before
// its RETR. vsftpd reads no command while a transfer runs (without
// async_abor_enable it does not look at the control connection) and answers
// the next one only after the transfer's final reply, so when a download's
// data has ended the next EPSV can be sent before that reply arrives: its 229
// comes right behind the 226, and the connection goes back to the pool with
// a passive port already open on the server. The next download on it sends
// RETR at once (retrAhead). The data connection to that port is opened
// as soon as the 229 comes, its ClientHello sent (the kernel completes the
// TCP handshake into the listener's backlog, and the ClientHello waits in
// the socket until vsftpd, after RETR, accepts and starts TLS): the RETR
// then finds the connection established and its handshake begun. A small
// file costs three round trips of the five it cost.
//
// Only for vsftpd 3 or later (conn.epsvAhead, from its greeting): servers
// that read commands during a transfer (ftpserverlib does, for ABOR) could
// answer the EPSV before the 226, or replace the listener of the transfer
// still running.
//
// The port belongs to the connection's last command only: any other
// command may replace or close vsftpd's listener, and a port number left
// stale could by then be another session's listener on the same host. So
// the port is kept only from the finished download to the next lend
// (put clears it unless keep is set), and used only as that lend's first
// command, and for no longer than maxSpareAge: the data connection opened
// to it is closed then, by a timer, if nothing took it.

// passiveAhead is an answered EPSV whose port nothing has used yet.
type passiveAhead struct {
	addr string     // host:port to connect to
	at   time.Time  // when the 229 came
	keep bool       // put keeps it once (set by the download that asked)
	data *aheadData // the data connection opened to addr
}

// aheadData is a data connection opened to a port asked ahead. Its owner
// (the conn's) and its expiry timer race to take it; taken says who won:
// the owner uses it, the timer or a clearing owner closes it.
type aheadData struct {
	conn  net.Conn
	taken atomic.Bool
	timer *time.Timer
}

// claim reports whether the caller is the one to use or close d.
func (d *aheadData) claim() bool {
	if d == nil || !d.taken.CompareAndSwap(false, true) {
		return false
	}
	d.timer.Stop()
	return true
}

// discard closes d unless someone took it first.
func (d *aheadData) discard() {
	if d != nil && d.taken.CompareAndSwap(false, true) {
		_ = d.conn.Close()
	}
}

// clearAhead forgets the port asked ahead and closes its data connection.
func (c *conn) clearAhead() {
	c.ahead.data.discard()
	c.ahead = passiveAhead{}
}

// askPassiveAhead sends EPSV on c while the final reply of its download is
// still to come; it reports whether it did. The caller reads the answer
// with readPassiveAhead right after that reply.
func (c *conn) askPassiveAhead() (sent bool, err error) {
	if !c.epsvAhead || c.openData == nil || c.rawConn() == nil {
		return false, nil
	}
	tp, err := libraryConn(c.sc)
	if err != nil {
		return false, nil
	}
	if err := tp.PrintfLine("EPSV"); err != nil {
		return true, wrapNet(err)
	}
	return true, nil
}

// readPassiveAhead reads the answer to askPassiveAhead's EPSV and opens a
// data connection to the port, kept for maxAge. A refusal leaves c in
// step, without a port, and asks no more on c after a 5xx; any other
// answer than 229 or a refusal puts c out of step (an error).
func (c *conn) readPassiveAhead(tp *textproto.Conn, maxAge time.Duration) error {
	code, msg, err := tp.ReadResponse(0)
	if err != nil && !isReply(err) {
		return wrapNet(err)
	}
	switch {
	case code == 229:
	case code == 421: // the session ends: put drops c
		return &textproto.Error{Code: code, Msg: msg}
	case code >= 400:
		c.epsvAhead = code < 500 // 5xx: this server will not say otherwise later
		return nil
	default:
		return fmt.Errorf("EPSV sent ahead answered %d %s: %w", code, msg, errOutOfStep)
	}
	port, err := epsvPort(msg)
	if err != nil {
		return nil // in step; the next download asks again
	}
	host, _, err := net.SplitHostPort(c.rawConn().RemoteAddr().String())
	if err != nil {
		return nil
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	d := &aheadData{conn: c.openData(addr, true)}
	d.timer = time.AfterFunc(maxAge, d.discard)
	c.ahead = passiveAhead{addr: addr, at: time.Now(), keep: true, data: d}
	return nil
}

// takeAhead returns the data connection opened to the passive port asked
// ahead, if it is younger than maxAge, and forgets it: it serves one
// transfer.
func (c *conn) takeAhead(maxAge time.Duration) net.Conn {
	a := c.ahead
	c.ahead = passiveAhead{}
	if a.addr == "" || time.Since(a.at) > maxAge || !a.data.claim() {
		a.data.discard()
		return nil
	}
	return a.data.conn
}

// retrAhead starts a download on the passive port asked ahead, whose data
// connection is already open: REST (when off > 0) and RETR, as the
// library's RetrFrom does after its EPSV.
func retrAhead(c *conn, data net.Conn, path string, off int64) (transfer, error) {
	tp, err := libraryConn(c.sc)
	if err != nil {
		_ = data.Close()
		return nil, err
	}
	// command refuses to send when a stray reply is waiting.
	if off > 0 {
		if _, _, err := c.command(350, "REST %d", off); err != nil {
			_ = data.Close()
			return nil, err
		}
	}
	code, msg, err := c.command(100, "RETR %s", path)
	if err != nil {
		_ = data.Close()
		return nil, err
	}
	if code != 125 && code != 150 {
		// Another preliminary reply is none the library knows either.
		_ = data.Close()
		return nil, &textproto.Error{Code: code, Msg: msg}
	}
	return &rawTransfer{data: data, tp: tp}, nil
}

// transfer is a download's data stream: the library's *ftp.Response, or a
// rawTransfer.
type transfer interface {
	Read(b []byte) (int, error)
	SetDeadline(t time.Time) error
	// Close closes the data connection and reads the final reply.
	Close() error
}

// rawTransfer is a download started by retrAhead; it ends as the
// library's Response does.
type rawTransfer struct {
	data   net.Conn
	tp     *textproto.Conn
	closed bool
}

func (t *rawTransfer) Read(b []byte) (int, error)    { return t.data.Read(b) }
func (t *rawTransfer) SetDeadline(d time.Time) error { return t.data.SetDeadline(d) }

func (t *rawTransfer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	_ = t.data.Close()
	_, _, err := t.tp.ReadResponse(226)
	if err != nil && !isReply(err) {
		return wrapNet(err)
	}
	return err
}
