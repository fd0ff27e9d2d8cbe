package fusefs

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"testing"

	"github.com/ftpsfs/ftpsfs/pool"
)

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
		{pool.ErrNoSpace, syscall.ENOSPC},
		{fmt.Errorf("upload /f: %w", &pool.ReplyError{Op: "STOR", Code: 552, Msg: "quota"}), syscall.ENOSPC},
		{&pool.ReplyError{Op: "STOR", Code: 452, Msg: "full"}, syscall.ENOSPC},
		{&pool.ReplyError{Op: "STOR", Code: 553, Msg: "name not allowed"}, syscall.EACCES},
		{&pool.ReplyError{Op: "RETR", Code: 426, Msg: "aborted"}, syscall.EIO},
		{syscall.ENOTEMPTY, syscall.ENOTEMPTY},
		{fmt.Errorf("read tcp: %w", syscall.ECONNRESET), syscall.EIO},
		{fmt.Errorf("write: %w", syscall.EPIPE), syscall.EIO},
		{errShortRead, syscall.EIO},
		{fmt.Errorf("LIST /d: %w: more than 10 entries", pool.ErrListingTooLarge), syscall.EFBIG},
		{fmt.Errorf("something else"), syscall.EIO},
	}
	log := slog.New(slog.DiscardHandler)
	for _, c := range cases {
		if got := toErrno(log, "op", "/p", c.err); got != c.want {
			t.Errorf("toErrno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
