package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"strings"
	"syscall"
)

var (
	// ErrNoTLS: the server does not speak TLS where TLS was required.
	ErrNoTLS = errors.New("server refused TLS")
	// ErrLogin: the server refused the credentials.
	ErrLogin = errors.New("login failed")
	// ErrClosed: the pool was closed.
	ErrClosed = errors.New("connection pool closed")
	// ErrBadPath: a path holds CR or LF, which would smuggle FTP commands.
	ErrBadPath = fmt.Errorf("path contains a line break: %w", fs.ErrInvalid)
	// ErrNoSpace: the server has no room for the data (452, 552).
	ErrNoSpace = errors.New("no space left on the server")
)

// DialError is a failure to reach, secure or log in to the server.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return e.Addr + ": " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// ReplyError is an FTP reply that refused an operation.
type ReplyError struct {
	Op   string
	Path string
	Code int
	Msg  string
}

func (e *ReplyError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %d %s", e.Op, e.Code, e.Msg)
	}
	return fmt.Sprintf("%s %s: %d %s", e.Op, e.Path, e.Code, e.Msg)
}

// Unwrap gives the reply's meaning as a sentinel where there is one (io/fs
// errors, ErrNoSpace), so callers need no reply codes.
func (e *ReplyError) Unwrap() error {
	switch e.Code {
	case 452, 552:
		return ErrNoSpace
	case 530, 532:
		return fs.ErrPermission
	case 550, 450:
		// 550 means "not found" or "permission denied" depending on the
		// server; only the text tells them apart.
		m := strings.ToLower(e.Msg)
		if strings.Contains(m, "permission") || strings.Contains(m, "denied") || strings.Contains(m, "not allowed") {
			return fs.ErrPermission
		}
		return fs.ErrNotExist
	case 553:
		return fs.ErrPermission
	}
	return nil
}

// replyError wraps err with the operation when it is an FTP reply.
func replyError(op, path string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &ReplyError{Op: op, Path: path, Code: te.Code, Msg: strings.TrimSpace(te.Msg)}
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op, path, wrapNet(err))
}

// wrapNet makes timeouts recognisable as os.ErrDeadlineExceeded whatever
// layer (TLS, textproto) reported them.
func wrapNet(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%v)", os.ErrDeadlineExceeded, err)
	}
	return err
}

// broken reports whether err means the control connection can no longer be
// trusted: any failure that is not a well-formed FTP reply; 421; and a
// positive reply (1xx-3xx) where another was expected, which means the
// conversation is out of step. jlaffaye/ftp gets there after a timeout: an
// EPSV whose reply is late makes it send PASV and read the EPSV reply as
// PASV's, leaving PASV's reply to answer the next command.
func broken(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBadPath) || errors.Is(err, context.Canceled) || errors.Is(err, errNoFacts) {
		return false
	}
	if code := replyCode(err); code != 0 {
		return code == 421 || code < 400
	}
	return true
}

// ctxError is the error of an operation whose context ended first: it wraps
// ctx.Err(), so a deadline reads as ETIMEDOUT and a cancellation as EINTR.
func ctxError(op, path string, ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		err = context.DeadlineExceeded // interrupted by a context that ended
	}
	if path == "" {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

// resumable reports whether a transfer that failed with err may succeed if
// started again at the same offset: the connection broke, the stream ended
// short of the listed size, or the server said the transfer failed (425 no
// data connection, 426 transfer aborted: what servers answer when the data
// connection was cut).
func resumable(err error) bool {
	if errors.Is(err, errCutShort) {
		return true
	}
	switch replyCode(err) {
	case 421, 425, 426:
		return true
	case 0:
		return transient(err)
	}
	return false
}

// replyCode is the FTP reply code err carries, or 0.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// transient reports whether retrying on a fresh connection may help.
func transient(err error) bool {
	if !broken(err) {
		return false
	}
	// A preempted operation is not retried: its connection was taken for a
	// program's request, and whoever needs the work fetches it again.
	return !errors.Is(err, ErrLogin) && !errors.Is(err, ErrNoTLS) && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrPreempted) && !errors.As(err, new(*CertError)) &&
		!errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, io.ErrShortWrite)
}

func checkPath(p string) error {
	if strings.ContainsAny(p, "\r\n") {
		return ErrBadPath
	}
	return nil
}
