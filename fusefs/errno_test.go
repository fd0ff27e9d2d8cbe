package fusefs

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"testing"
)

type codeErr int

func (c codeErr) Error() string { return fmt.Sprintf("reply %d", int(c)) }
func (c codeErr) FTPCode() int  { return int(c) }

func TestToErrno(t *testing.T) {
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{fs.ErrNotExist, syscall.ENOENT},
		{fmt.Errorf("list /x: %w", fs.ErrNotExist), syscall.ENOENT},
		{fs.ErrPermission, syscall.EACCES},
		{fs.ErrExist, syscall.EEXIST},
		{context.DeadlineExceeded, syscall.ETIMEDOUT},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), syscall.ETIMEDOUT},
		{codeErr(552), syscall.ENOSPC},
		{codeErr(452), syscall.ENOSPC},
		{codeErr(553), syscall.EACCES},
		{codeErr(426), syscall.EIO},
		{syscall.ENOTEMPTY, syscall.ENOTEMPTY},
		{fmt.Errorf("read tcp: %w", syscall.ECONNRESET), syscall.EIO},
		{fmt.Errorf("write: %w", syscall.EPIPE), syscall.EIO},
		{errShortRead, syscall.EIO},
		{fmt.Errorf("%w: listing of /d: more than 10 entries", ErrTooLarge), syscall.EFBIG},
		{fmt.Errorf("something else"), syscall.EIO},
	}
	log := slog.New(slog.DiscardHandler)
	for _, c := range cases {
		if got := toErrno(log, "op", "/p", c.err); got != c.want {
			t.Errorf("toErrno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
