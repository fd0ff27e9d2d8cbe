package pool

import (
	"errors"
	"fmt"
	"net/textproto"
	"reflect"
	"strings"
	"unsafe"

	"github.com/jlaffaye/ftp"
)

// Raw commands: jlaffaye/ftp sends no SITE, AVBL or any other command it
// does not know (upstream issue #450), and exposes no way to send one. The
// pool reaches the library's own *textproto.Conn, the unexported field
// ServerConn.conn of the pinned v0.2.4, and sends the command through it.
//
// Why this is safe: a conn has one owner at a time (the goroutine it is
// lent to), and the library, like raw commands, only talks between whole
// command/reply exchanges; both use the same buffered reader, so a reply is
// never split between two readers. A raw command is refused (and the
// connection counted broken) when that reader already holds bytes nobody
// asked for: a stray reply would answer the next command, and nothing on
// that connection could be trusted again.
//
// When the library's layout changes (a version bump), libraryConn fails and
// raw commands report errRawUnavailable instead of touching memory blindly;
// TestRawCommandField fails first.

// errRawUnavailable: this build of jlaffaye/ftp has no reachable control
// connection, so commands it lacks cannot be sent.
var errRawUnavailable = errors.New("raw FTP commands unavailable with this jlaffaye/ftp version")

// errStrayReply: the control connection held a reply nobody asked for.
var errStrayReply = errors.New("unexpected data on the control connection")

var connField = func() *reflect.StructField {
	f, ok := reflect.TypeFor[ftp.ServerConn]().FieldByName("conn")
	if !ok || f.Type != reflect.TypeFor[*textproto.Conn]() {
		return nil
	}
	return &f
}()

// libraryConn is the textproto connection sc talks through.
func libraryConn(sc *ftp.ServerConn) (*textproto.Conn, error) {
	if connField == nil || sc == nil {
		return nil, errRawUnavailable
	}
	tp := *(**textproto.Conn)(unsafePointerToConn(sc))
	if tp == nil {
		return nil, errRawUnavailable
	}
	return tp, nil
}

// command sends one command and reads its whole reply (multi-line replies
// included). A reply whose code's class (the first digit) differs from
// want's is returned as a *textproto.Error, like the library's own
// commands, so replyError and broken treat both alike. want 0 accepts any
// 2xx.
func (c *conn) command(want int, format string, args ...any) (code int, msg string, err error) {
	line := fmt.Sprintf(format, args...)
	if strings.ContainsAny(line, "\r\n") {
		return 0, "", ErrBadPath
	}
	tp, err := libraryConn(c.sc)
	if err != nil {
		return 0, "", err
	}
	if tp.R.Buffered() > 0 {
		return 0, "", errStrayReply
	}
	// The library's debug output (-d) sits under tp, so it logs these too.
	if err := tp.PrintfLine("%s", line); err != nil {
		return 0, "", wrapNet(err)
	}
	code, msg, err = tp.ReadResponse(0)
	if err != nil {
		return code, msg, wrapNet(err)
	}
	class := 2
	if want != 0 {
		class = want / 100
	}
	if code/100 != class {
		return code, msg, &textproto.Error{Code: code, Msg: msg}
	}
	return code, msg, nil
}

// unsafePointerToConn is where libraryConn reads; tests write through it.
func unsafePointerToConn(sc *ftp.ServerConn) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(sc), connField.Offset)
}
