package pool

import (
	"errors"
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

// pipelineAnswers is the one 2xx that answers each command pipeline may
// send (RFC 3659 for SIZE and MDTM, RFC 959 for CWD). Any other 2xx, or a
// 1xx or 3xx, answers none of them: a duplicated or stray reply, after
// which every later reply would be taken for the next command's.
var pipelineAnswers = map[string]int{"SIZE": 213, "MDTM": 213, "CWD": 250}

// errOutOfStep: a reply that cannot answer the command it was read for;
// the connection is out of step (broken counts it).
var errOutOfStep = errors.New("reply does not answer its command: control connection out of step")

// errNotPipelined: a command pipeline does not know the answer of (a bug
// in the caller; nothing was sent).
var errNotPipelined = errors.New("command not meant for pipelining")

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
// an earlier reply answered the caller. A reply that does not answer its
// command (see pipelineAnswers), or bytes left once all are read, put the
// connection out of step: an error broken() counts.
func (c *conn) pipeline(lines ...string) ([]reply, error) {
	wants := make([]int, len(lines))
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return nil, ErrBadPath
		}
		verb, _, _ := strings.Cut(l, " ")
		if wants[i] = pipelineAnswers[verb]; wants[i] == 0 {
			return nil, fmt.Errorf("%s: %w", verb, errNotPipelined)
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
	for i, l := range lines {
		code, msg, err := tp.ReadResponse(0) // 0: any code is a reply
		if err != nil {
			return nil, wrapNet(err)
		}
		if code == 421 {
			c.ended = true
			for len(out) < len(lines) {
				out = append(out, reply{code, msg})
			}
			return out, nil
		}
		if code != wants[i] && (code < 400 || code >= 600) {
			return nil, fmt.Errorf("%q answered %d %q: %w", l, code, msg, errOutOfStep)
		}
		out = append(out, reply{code, msg})
	}
	// A reply beyond the last (one answered twice while another was late)
	// would be read as the next command's.
	if tp.R.Buffered() > 0 {
		return nil, errStrayReply
	}
	return out, nil
}
