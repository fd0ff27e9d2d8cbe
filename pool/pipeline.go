package pool

import (
	"fmt"
	"net/textproto"
	"strings"
)

// reply is one answer read by pipeline.
type reply struct {
	code int
	msg  string
}

// err is the reply as the library's commands report a refusal: nil for
// a 2xx, else a *textproto.Error (so replyCode, broken and friends read it).
func (r reply) err() error {
	if r.code/100 == 2 {
		return nil
	}
	return &textproto.Error{Code: r.code, Msg: r.msg}
}

// pipeline sends several commands in one write and reads their replies in
// order: one round trip for all of them instead of one each. FTP servers
// read commands one line at a time from the control connection, so
// commands sent ahead simply wait in the socket (RFC 959 does not forbid
// it; vsftpd, proftpd, pure-ftpd and ftpserverlib all answer them in turn).
// Only commands whose outcome does not depend on an earlier one's success
// may be pipelined. A network error leaves the connection out of step: the
// caller's broken() check drops it. A 421 ends the session: it answers
// every command not answered yet (the server closes without reading them)
// and the connection is dropped when given back (conn.ended), even when
// an earlier reply answered the caller.
func (c *conn) pipeline(lines ...string) ([]reply, error) {
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return nil, ErrBadPath
		}
	}
	tp, err := libraryConn(c.sc)
	if err != nil {
		return nil, err
	}
	if tp.R.Buffered() > 0 {
		return nil, errStrayReply
	}
	for _, l := range lines {
		if _, err := fmt.Fprintf(tp.W, "%s\r\n", l); err != nil {
			return nil, wrapNet(err)
		}
	}
	if err := tp.W.Flush(); err != nil {
		return nil, wrapNet(err)
	}
	out := make([]reply, 0, len(lines))
	for range lines {
		code, msg, err := tp.ReadResponse(0) // 0: any code is a reply
		if err != nil {
			return nil, wrapNet(err)
		}
		if code == 421 {
			c.ended = true
			for len(out) < len(lines) {
				out = append(out, reply{code, msg})
			}
			break
		}
		out = append(out, reply{code, msg})
	}
	return out, nil
}
