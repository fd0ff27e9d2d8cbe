package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/textproto"
	"time"

	"github.com/jlaffaye/ftp"
)

// ErrSizeMismatch: the server confirmed an upload but holds a different
// number of bytes than were sent.
var ErrSizeMismatch = errors.New("server holds a different size than was uploaded")

// Store uploads size bytes from src to path, replacing it, and returns only
// once the server has confirmed the transfer (226) and reports the expected
// size. A broken connection is retried once with the whole upload. Each
// control-channel phase is bounded by timeout, whatever ctx allows (see
// phase.go); the data phase per network write.
func (p *Pool) Store(ctx context.Context, target string, src io.ReaderAt, size int64) error {
	if err := checkPath(target); err != nil {
		return err
	}
	if done, err := p.storeFast(ctx, target, src, size); done {
		return err
	}
	return p.do(ctx, "STOR", target, true, func(c *conn) error {
		_, got, err := p.storeSized(c, target, io.NewSectionReader(src, 0, size))
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
	fi, err := statFromListing(c, p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, replyError("SIZE", p, &textproto.Error{Code: 550, Msg: "not in its directory's listing"})
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Rename moves from to to. RNFR and RNTO go separately, so a refused RNFR
// (the source is gone, or the server refuses renames) ends the operation
// with nothing changed. When aside is not empty the target may be
// replaced, and a server that refuses to rename over an existing file
// (RNTO answered 5xx while the target exists) gets the fail-safe order:
// the target is first moved to aside, the source renamed, and only then
// is aside deleted; if the source cannot take the target's name, the
// target is moved back. At no step is the target's content gone from the
// server under every name. The move-back gets a timeout of its own, even
// when the caller gave up, so such a rename may take twice timeout.
func (p *Pool) Rename(ctx context.Context, from, to, aside string) error {
	for _, s := range []string{to, aside} {
		if err := checkPath(s); err != nil {
			return err
		}
	}
	stranded := false
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	err := p.do(ctx, "RENAME", from, false, func(c *conn) error {
		err := renameOnce(c, from, to)
		if err == nil || aside == "" || isRNFR(err) || !refusedOrMissing(err) {
			return err
		}
		if _, serr := c.sc.FileSize(to); serr != nil {
			return err // no file in the way: the refusal stands
		}
		if aerr := renameOnce(c, to, aside); aerr != nil {
			// A cut (no reply) may come after the server moved the target
			// aside: move it back on a fresh connection, as below.
			var re *ReplyError
			if stranded = !errors.As(aerr, &re); stranded {
				return aerr // the connection is broken: it must not be lent again
			}
			return err
		}
		if rerr := renameOnce(c, from, to); rerr != nil {
			if berr := renameOnce(c, aside, to); berr != nil {
				stranded = true
			}
			return rerr
		}
		if derr := c.sc.Delete(aside); derr != nil {
			p.log.Warn("replaced file's old copy could not be deleted", "path", aside, "err", derr)
		}
		return nil
	})
	if stranded {
		// The connection that failed may be broken: move back on another,
		// even when the caller gave up, within one timeout.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Timeout)
		defer cancel()
		if berr := p.do(bctx, "RENAME", aside, false, func(c *conn) error { return renameOnce(c, aside, to) }); berr != nil {
			p.log.Error("a replaced file's old copy could not be moved back; it is kept under another name", "path", to, "kept_as", aside, "err", berr)
		}
	}
	return err
}

// renameError marks which half of a rename the server refused.
type renameError struct {
	rnfr bool
	err  error
}

func (e *renameError) Error() string { return e.err.Error() }
func (e *renameError) Unwrap() error { return e.err }

func isRNFR(err error) bool {
	var re *renameError
	return errors.As(err, &re) && re.rnfr
}

// renameOnce sends RNFR and, only when the server accepted it (350), RNTO.
func renameOnce(c *conn, from, to string) error {
	if _, _, err := c.command(350, "RNFR %s", from); err != nil {
		return &renameError{rnfr: true, err: replyError("RNFR", from, err)}
	}
	if _, _, err := c.command(250, "RNTO %s", to); err != nil {
		return &renameError{err: replyError("RNTO", from+" -> "+to, err)}
	}
	return nil
}

// ErrChmodRefused: SITE CHMOD was answered 5xx. Where the server does not
// know the command at all (500, 502, 504) the error also wraps
// errors.ErrUnsupported: then it never will; a 550 may be this path's
// refusal only.
var ErrChmodRefused = errors.New("server refused SITE CHMOD")

// Chmod sets a path's permission bits with SITE CHMOD (vsftpd with
// chmod_enable, proftpd's mod_site, pure-ftpd; jlaffaye/ftp cannot send it).
func (p *Pool) Chmod(ctx context.Context, target string, mode fs.FileMode) error {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return p.do(ctx, "CHMOD", target, true, func(c *conn) error {
		_, _, err := c.command(200, "SITE CHMOD %04o %s", UnixBits(mode), target)
		if notImplemented(err) {
			return fmt.Errorf("%w: %w: %w", ErrChmodRefused, errors.ErrUnsupported, replyError("SITE CHMOD", target, err))
		}
		if refusedOrMissing(err) {
			return fmt.Errorf("%w: %w", ErrChmodRefused, replyError("SITE CHMOD", target, err))
		}
		return replyError("SITE CHMOD", target, err)
	})
}

// Delete removes a file.
func (p *Pool) Delete(ctx context.Context, file string) error {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return p.do(ctx, "DELE", file, false, func(c *conn) error {
		return replyError("DELE", file, c.sc.Delete(file))
	})
}

// MakeDir creates a directory.
func (p *Pool) MakeDir(ctx context.Context, dir string) error {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return p.do(ctx, "MKD", dir, false, func(c *conn) error {
		return replyError("MKD", dir, c.sc.MakeDir(dir))
	})
}

// RemoveDir removes an empty directory.
func (p *Pool) RemoveDir(ctx context.Context, dir string) error {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return p.do(ctx, "RMD", dir, false, func(c *conn) error {
		return replyError("RMD", dir, c.sc.RemoveDir(dir))
	})
}

// ErrNoSetTime: the server has neither MFMT nor a writable MDTM.
var ErrNoSetTime = errors.New("server cannot set modification times")

// SetTime sets a file's modification time: MFMT, or the "MDTM time path"
// form vsftpd understands.
func (p *Pool) SetTime(ctx context.Context, file string, t time.Time) error {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return p.do(ctx, "MFMT", file, true, func(c *conn) error {
		if !c.sc.IsSetTimeSupported() {
			return ErrNoSetTime
		}
		return replyError("MFMT", file, c.sc.SetTime(file, t))
	})
}

// bounded gives ctx the pool's timeout where it has none. Metadata
// operations that finish a whole-file transfer (the rename, chmod and time
// after an upload) get the transfer's context, which has no deadline; a
// server dripping their reply would otherwise hold them forever.
func (p *Pool) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.cfg.Timeout)
}
