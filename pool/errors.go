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

// FTPCode lets callers map the reply without importing this package.
func (e *ReplyError) FTPCode() int { return e.Code }

// Unwrap gives the io/fs meaning of the reply where there is one.
func (e *ReplyError) Unwrap() error {
	switch e.Code {
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
// trusted: any failure that is not a well-formed FTP reply, and 421.
func broken(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBadPath) || errors.Is(err, context.Canceled) {
		return false
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code == 421
	}
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Code == 421
	}
	return true
}

// transient reports whether retrying on a fresh connection may help.
func transient(err error) bool {
	if !broken(err) {
		return false
	}
	return !errors.Is(err, ErrLogin) && !errors.Is(err, ErrNoTLS) && !errors.As(err, new(*CertError)) &&
		!errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, io.ErrShortWrite)
}

func checkPath(p string) error {
	if strings.ContainsAny(p, "\r\n") {
		return ErrBadPath
	}
	return nil
}
