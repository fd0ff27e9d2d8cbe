package pool

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
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
// RETR at once (retrAhead): a small file read back to back costs four round
// trips instead of five (RETR to 150, which includes the data connection's
// TCP handshake, 2; the TLS handshake, 1; vsftpd's lingering close of the
// data connection before its 226, 1). The data connection to that port is
// opened as soon as the 229 comes, its ClientHello sent (the kernel
// completes the TCP handshake into the listener's backlog, and the
// ClientHello waits in the socket until vsftpd, after RETR, accepts and
// starts TLS), so a download that comes a round trip or more later finds
// it established and saves one more.
//
// Only for vsftpd 3 or later (conn.vsftpd3, from its greeting): servers
// that read commands during a transfer (ftpserverlib does, for ABOR) could
// answer the EPSV before the 226, or replace the listener of the transfer
// still running. A server that does answer early, or answers the EPSV
// with anything but 229 or a 4xx, turns asking ahead off for the pool
// (aheadState.off) and its connection is dropped.
//
// The port belongs to the connection's last command only: another EPSV,
// PASV, PORT or transfer closes vsftpd's listener, and a port number left
// stale could by then be another session's listener on the same host. So
// the port is kept only from the finished download to the next lend (put
// clears it unless keep is set), and used by that lend's first transfer
// command, with nothing before it but get's idle-check NOOP (which leaves
// vsftpd's listener alone), and for no longer than maxSpareAge: the data
// connection opened to it is closed then, by a timer, if nothing took it.
// The server's listener outlives that (see aheadMaxHeld).
//
// Concurrency: conn.ahead and conn.listener belong to the connection's
// owner, like the rest of conn; aheadData.taken (atomic) settles the race
// between the owner and the expiry timer for the data connection;
// aheadState's fields are atomics. takeIdleLocked reads an idle conn's
// ahead and listener under Pool.mu (their last owner wrote them before
// put); nothing else here takes a lock.

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

// discard closes d unless someone took it first; for the owner.
func (d *aheadData) discard() {
	if d != nil && d.taken.CompareAndSwap(false, true) {
		d.timer.Stop()
		_ = d.conn.Close()
	}
}

// expire is the timer's discard: it leaves d.timer alone, which the owner
// may still be setting when a short timer fires.
func (d *aheadData) expire() {
	if d.taken.CompareAndSwap(false, true) {
		_ = d.conn.Close()
	}
}

// clearAhead forgets the port asked ahead and closes its data connection.
func (c *conn) clearAhead() {
	c.ahead.data.discard()
	c.ahead = passiveAhead{}
}

// aheadMaxHeld bounds the connections whose passive port asked ahead may
// still be open on the server. vsftpd keeps a listener until the session's
// next EPSV, PASV, PORT or transfer, so a connection that goes idle after
// asking holds one of the server's passive ports while it sits (and vsftpd
// ends a session, "500 OOPS", that finds no free port in ten tries of its
// pasv_min_port–pasv_max_port range). Back to back, a port is held from
// a download's end until the next program's RETR on it, milliseconds; with
// eight readers the cap still turns away about two asks in three (d8 in
// make bench), a price paid for never holding more than two while idle.
// held may exceed the bound: countListener counts a spare's listener
// without asking.
const aheadMaxHeld = 2

// aheadState is the pool's view of ports asked ahead.
type aheadState struct {
	held atomic.Int32 // connections counted in aheadMaxHeld (conn.listener)
	off  atomic.Bool  // the server answered an ahead EPSV as vsftpd would not
}

// takeIdleLocked takes the idle connection to lend next: the most recently
// used one, except that a download takes one whose port asked ahead is
// still fresh, or else one whose listener is still counted (its own EPSV
// frees it), and anything else leaves a fresh port to a download (a
// command would waste it: put closes its data connection). The idle list
// is a stack: a holder left under it would never be lent again and would
// keep its count in aheadMaxHeld for good, and no connection would ask
// ahead any more. A port goes stale within maxSpareAge, so no holder stays
// passed over for long. An idle conn's fields are read here under
// Pool.mu: its last owner wrote them before put.
func (p *Pool) takeIdleLocked(download bool) *conn {
	top := len(p.idle) - 1
	fresh := func(c *conn) bool {
		return c.ahead.addr != "" && time.Since(c.ahead.at) <= p.maxSpareAge()
	}
	pick := top
	if download {
		counted := -1
		for j := top; j >= 0; j-- {
			if fresh(p.idle[j]) {
				counted = j
				break
			}
			if counted < 0 && p.idle[j].listener != nil {
				counted = j
			}
		}
		if counted >= 0 {
			pick = counted
		}
	} else {
		for j := top; j >= 0; j-- {
			if !fresh(p.idle[j]) {
				pick = j
				break
			}
		}
	}
	c := p.idle[pick]
	p.idle = append(p.idle[:pick], p.idle[pick+1:]...)
	return c
}

// countListener counts c's listener when a transfer on a port c asked for
// itself (a spare's) did not use it: vsftpd keeps it after an unused or
// refused transfer, so it counts against aheadMaxHeld like one asked
// ahead. Only where ports are asked ahead (vsftpd).
func (p *Pool) countListener(c *conn) {
	if c.vsftpd3 && c.listener == nil {
		p.ahead.held.Add(1)
		c.listener = &p.ahead
	}
}

// releaseListener stops counting c's listener: a transfer used it, or the
// session ended.
func (c *conn) releaseListener() {
	if c.listener != nil {
		c.listener.held.Add(-1)
		c.listener = nil
	}
}

// errAnsweredEarly: a server that answered the EPSV sent during a transfer
// before the transfer's final reply, which vsftpd never does.
var errAnsweredEarly = errors.New("EPSV sent ahead answered before the transfer's final reply")

// finishDownload ends a download whose data has ended: final closes the
// data connection and reads the final reply. When the server allows and
// fewer than aheadMaxHeld ports are held, the next transfer's EPSV is sent
// before that, to be answered right behind the final reply. err is the
// final reply's; aheadErr, when set, means c must be dropped.
func (p *Pool) finishDownload(c *conn, final func() error) (err, aheadErr error) {
	c.releaseListener() // whatever listener the session had, this download used it
	tp, terr := libraryConn(c.sc)
	asked := false
	if terr == nil && c.vsftpd3 && !p.ahead.off.Load() && c.openData != nil && c.rawConn() != nil {
		if p.ahead.held.Add(1) <= aheadMaxHeld {
			c.listener = &p.ahead
			if aheadErr = tp.PrintfLine("EPSV"); aheadErr == nil {
				asked = true
			}
		} else {
			p.ahead.held.Add(-1)
		}
	}
	err = final()
	if !asked {
		return err, aheadErr
	}
	if replyCode(err) == 229 {
		// Answered out of turn: the final reply is the next one, and this
		// server may answer anything out of turn.
		p.ahead.off.Store(true)
		_, _, err = tp.ReadResponse(226)
		if err != nil && !isReply(err) {
			err = wrapNet(err)
		}
		return err, errAnsweredEarly
	}
	if err == nil || isReply(err) && !broken(err) {
		aheadErr = p.readPassiveAhead(c, tp)
	}
	return err, aheadErr
}

// readPassiveAhead reads the answer to the EPSV finishDownload sent and
// opens a data connection to the port, kept for maxSpareAge. A 4xx leaves
// c in step without a port. vsftpd 3 knows EPSV, so a 5xx is vsftpd
// giving up on the session ("500 OOPS"), and anything but 229 or a
// refusal puts c out of step: both are errors, and ask no more ahead.
func (p *Pool) readPassiveAhead(c *conn, tp *textproto.Conn) error {
	code, msg, err := tp.ReadResponse(0)
	if err != nil && !isReply(err) {
		return wrapNet(err)
	}
	switch {
	case code == 229:
	case code >= 400 && code < 500 && code != 421:
		c.releaseListener()
		return nil
	case code >= 500:
		p.ahead.off.Store(true)
		return &textproto.Error{Code: code, Msg: msg}
	case code == 421: // the session ends: put drops c
		return &textproto.Error{Code: code, Msg: msg}
	default:
		p.ahead.off.Store(true)
		return fmt.Errorf("EPSV sent ahead answered %d %s: %w", code, msg, errOutOfStep)
	}
	addr, err := c.epsvAddr(msg)
	if err != nil {
		return nil // in step; the listener stays counted until c's next download
	}
	d := &aheadData{conn: c.openData(addr, true)}
	d.timer = time.AfterFunc(p.maxSpareAge(), d.expire)
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
	// The transfer took the listener. A refused RETR (550) leaves it to
	// the session's next EPSV: it stays counted until then.
	c.releaseListener()
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
