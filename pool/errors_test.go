package pool

import (
	"errors"
	"fmt"
	"io/fs"
	"net/textproto"
	"testing"
)

// TestReplyErrorSentinels: every reply a caller must tell apart unwraps to
// a sentinel, so no caller needs FTP reply codes; others unwrap to nothing.
func TestReplyErrorSentinels(t *testing.T) {
	sentinels := []error{ErrNoSpace, fs.ErrPermission, fs.ErrNotExist}
	for _, c := range []struct {
		code int
		msg  string
		want error // nil: none of sentinels
	}{
		{452, "Insufficient storage space", ErrNoSpace},
		{552, "Exceeded storage allocation", ErrNoSpace},
		{553, "File name not allowed", fs.ErrPermission},
		{530, "Not logged in", fs.ErrPermission},
		{550, "Permission denied", fs.ErrPermission},
		{550, "No such file or directory", fs.ErrNotExist},
		{450, "File unavailable", fs.ErrNotExist},
		{426, "Transfer aborted", nil},
		{451, "Local error", nil},
	} {
		// As the pool builds them: from the library's textproto reply,
		// then wrapped once more with context.
		err := fmt.Errorf("upload: %w", replyError("STOR", "/f", &textproto.Error{Code: c.code, Msg: c.msg}))
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == c.want) {
				t.Errorf("%d %s: errors.Is(%v) = %v, want %v", c.code, c.msg, s, got, s == c.want)
			}
		}
	}
}
