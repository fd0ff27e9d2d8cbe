package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"syscall"

	"github.com/ftpsfs/ftpsfs/pool"
)

// errShortRead: the server's file ended before the size its listing gave
// (it changed underneath us, or the transfer was cut and the server said 226).
var errShortRead = errors.New("remote file ended before its listed size")

// toErrno is the one place where errors become errno values. Errors with no
// meaning of their own become EIO with one log line naming the operation.
func toErrno(log *slog.Logger, op, path string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno) && !networkErrno(errno):
		return errno
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		log.Warn("remote operation timed out", "op", op, "path", path, "err", err)
		return syscall.ETIMEDOUT
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, pool.ErrListingTooLarge):
		log.Warn("listing refused: larger than max_listing", "op", op, "path", path, "err", err)
		return syscall.EFBIG
	case errors.Is(err, errors.ErrUnsupported):
		// The server does not offer the operation (SITE CHMOD refused, for
		// whatever reason its reply gives): as a filesystem without modes
		// answers chmod.
		return syscall.EPERM
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, pool.ErrNoSpace):
		return syscall.ENOSPC
	}
	log.Error("remote operation failed", "op", op, "path", path, "err", err)
	return syscall.EIO
}

// chmodErrno is toErrno for chmod: a server that refuses it (whatever its
// reply says) answers as a filesystem that does not permit it, EPERM.
func chmodErrno(log *slog.Logger, path string, err error) syscall.Errno {
	errno := toErrno(log, "chmod", path, err)
	if errno == syscall.EACCES {
		return syscall.EPERM
	}
	return errno
}

// networkErrno: errors of the network under a remote operation, which a
// program reading a file should see as EIO, not "connection reset by peer".
func networkErrno(e syscall.Errno) bool {
	switch e {
	case syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.EPIPE, syscall.ECONNABORTED,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN:
		return true
	}
	return false
}
