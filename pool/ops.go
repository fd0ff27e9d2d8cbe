package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"path"
	"time"

	"github.com/jlaffaye/ftp"
)

// ErrSizeMismatch: the server confirmed an upload but holds a different
// number of bytes than were sent.
var ErrSizeMismatch = errors.New("server holds a different size than was uploaded")

// Store uploads size bytes from src to path, replacing it, and returns only
// once the server has confirmed the transfer (226) and reports the expected
// size. A broken connection is retried once with the whole upload.
func (p *Pool) Store(ctx context.Context, target string, src io.ReaderAt, size int64) error {
	return p.do(ctx, "STOR", target, true, func(c *conn) error {
		if err := c.sc.Stor(target, io.NewSectionReader(src, 0, size)); err != nil {
			return replyError("STOR", target, err)
		}
		got, err := remoteSize(c, target)
		if err != nil {
			return err
		}
		if got != size {
			return fmt.Errorf("STOR %s: %w (sent %d, server has %d)", target, ErrSizeMismatch, size, got)
		}
		return nil
	})
}

// remoteSize asks SIZE, or reads the listing where SIZE is missing.
func remoteSize(c *conn, p string) (int64, error) {
	n, err := c.sc.FileSize(p)
	if err == nil {
		return n, nil
	}
	var te *textproto.Error
	if !errors.As(err, &te) || (te.Code != ftp.StatusNotImplemented && te.Code != ftp.StatusBadArguments && te.Code != ftp.StatusCommandNotImplemented) {
		return 0, replyError("SIZE", p, err)
	}
	entries, err := listRaw(c, path.Dir(p))
	if err != nil {
		return 0, replyError("LIST", path.Dir(p), err)
	}
	for _, e := range entries {
		if e.Name == path.Base(p) {
			return int64(e.Size), nil
		}
	}
	return 0, replyError("SIZE", p, &textproto.Error{Code: 550, Msg: "not in its directory's listing"})
}

// Rename moves from to to. When the server refuses to replace an existing
// file (some do), the target is deleted first and the rename retried: that
// replacement is not atomic.
func (p *Pool) Rename(ctx context.Context, from, to string, replace bool) error {
	if err := checkPath(to); err != nil {
		return err
	}
	return p.do(ctx, "RENAME", from, false, func(c *conn) error {
		err := c.sc.Rename(from, to)
		if err == nil || !replace {
			return replyError("RENAME", from+" -> "+to, err)
		}
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code < 500 {
			return replyError("RENAME", from+" -> "+to, err)
		}
		if derr := c.sc.Delete(to); derr != nil {
			return replyError("RENAME", from+" -> "+to, err)
		}
		return replyError("RENAME", from+" -> "+to, c.sc.Rename(from, to))
	})
}

// Delete removes a file.
func (p *Pool) Delete(ctx context.Context, file string) error {
	return p.do(ctx, "DELE", file, false, func(c *conn) error {
		return replyError("DELE", file, c.sc.Delete(file))
	})
}

// MakeDir creates a directory.
func (p *Pool) MakeDir(ctx context.Context, dir string) error {
	return p.do(ctx, "MKD", dir, false, func(c *conn) error {
		return replyError("MKD", dir, c.sc.MakeDir(dir))
	})
}

// RemoveDir removes an empty directory.
func (p *Pool) RemoveDir(ctx context.Context, dir string) error {
	return p.do(ctx, "RMD", dir, false, func(c *conn) error {
		return replyError("RMD", dir, c.sc.RemoveDir(dir))
	})
}

// ErrNoSetTime: the server has neither MFMT nor a writable MDTM.
var ErrNoSetTime = errors.New("server cannot set modification times")

// SetTime sets a file's modification time: MFMT, or the "MDTM time path"
// form vsftpd understands.
func (p *Pool) SetTime(ctx context.Context, file string, t time.Time) error {
	return p.do(ctx, "MFMT", file, true, func(c *conn) error {
		if !c.sc.IsSetTimeSupported() {
			return ErrNoSetTime
		}
		return replyError("MFMT", file, c.sc.SetTime(file, t))
	})
}
