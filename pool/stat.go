package pool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// Stat asks the server, now, about one path: what a change must check
// before it relies on a listing that may be dir_cache_ttl old (another
// client may have created, grown or removed the file since). MLST where
// the server has it; otherwise SIZE and MDTM (seconds, where LIST gives
// minutes), and CWD to recognise a directory. A missing path is an error
// wrapping fs.ErrNotExist.
func (p *Pool) Stat(ctx context.Context, target string) (fs.FileInfo, error) {
	var out fs.FileInfo
	err := p.do(ctx, "STAT", target, true, func(c *conn) error {
		var err error
		if c.mlsd {
			out, err = mlst(c, target)
		} else {
			out, err = sizeAndTime(c, target)
		}
		return err
	})
	return out, err
}

// StatsOneName reports whether Stat asks with MLST (one command, with the
// mode where the server gives UNIX.mode) rather than SIZE, MDTM and CWD,
// or a listing of the directory on servers without SIZE. Known after the
// first login.
func (p *Pool) StatsOneName() bool { return p.dialer.mlst.Load() }

func mlst(c *conn, target string) (fs.FileInfo, error) {
	_, msg, err := c.command(250, "MLST %s", target)
	if err != nil {
		return nil, replyError("MLST", target, err)
	}
	// "250-Listing path\n type=file;size=3;modify=…; /abs/path\n250 End":
	// the fact line starts with a space; proftpd names the absolute path.
	for _, l := range strings.Split(msg, "\n") {
		_, facts, ok := parseMLSDLine(strings.TrimLeft(l, " "))
		if !ok {
			continue
		}
		fi := &fileInfo{name: path.Base(target), precise: true}
		fi.mtime, _ = time.ParseInLocation("20060102150405", strings.SplitN(facts["modify"], ".", 2)[0], time.UTC)
		perm, known := octalMode(facts["unix.mode"])
		switch facts["type"] {
		case "dir", "cdir", "pdir":
			fi.mode = fs.ModeDir | 0o755
		default:
			fi.mode = 0o644
			fi.size, _ = strconv.ParseInt(facts["size"], 10, 64)
		}
		if known {
			fi.mode = fi.mode&fs.ModeDir | perm
			fi.modeKnown = true
		}
		return fi, nil
	}
	return nil, fmt.Errorf("MLST %s: %w", target, errNoFacts)
}

// sizeAndTime is Stat without MLST (vsftpd). SIZE answers only for files,
// MDTM gives a file's time and CWD tells a directory from nothing: the three
// go in one pipelined round trip (see pipeline) rather than one each, which
// at 20-150 ms per round trip is most of what a create or a lookup costs.
func sizeAndTime(c *conn, target string) (fs.FileInfo, error) {
	fi := &fileInfo{name: path.Base(target), mode: 0o644}
	cmds := []string{"SIZE " + target, "CWD " + target}
	mdtm := c.sc.IsGetTimeSupported()
	if mdtm {
		cmds = append(cmds, "MDTM "+target)
	}
	replies, err := c.pipeline(cmds...)
	if err != nil {
		return nil, replyError("SIZE", target, err)
	}
	size, cwd := replies[0], replies[1]
	if err := size.err(); err != nil {
		if notImplemented(err) {
			return statFromListing(c, target) // a server without SIZE
		}
		if !refusedOrMissing(err) {
			return nil, replyError("SIZE", target, err)
		}
		// Not a file: a directory, or nothing.
		if cerr := cwd.err(); cerr != nil {
			if refusedOrMissing(cerr) {
				// The reply stays visible to replyCode: a connection that
				// answered is not broken.
				return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, replyError("CWD", target, cerr))
			}
			return nil, replyError("CWD", target, cerr)
		}
		fi.mode = fs.ModeDir | 0o755
		return fi, nil
	}
	n, perr := strconv.ParseInt(strings.TrimSpace(size.msg), 10, 64)
	if perr != nil || size.code != 213 {
		return nil, replyError("SIZE", target, fmt.Errorf("unexpected reply %d %q", size.code, size.msg))
	}
	fi.size = n
	if mdtm && replies[2].code == 213 {
		// A time the layout does not match (fractions) is left out, as an
		// unknown time: the entry is then not precise.
		if t, err := time.ParseInLocation("20060102150405", strings.TrimSpace(replies[2].msg), time.UTC); err == nil {
			fi.mtime, fi.precise = t, true
		}
	}
	return fi, nil
}

// statFromListing finds target in its directory's listing.
func statFromListing(c *conn, target string) (fs.FileInfo, error) {
	entries, sniff, err := listRaw(c, path.Dir(target), nil)
	if err != nil {
		return nil, replyError("LIST", path.Dir(target), err)
	}
	for _, fi := range convertEntries(entries, sniff, c.mlsd) {
		if fi.Name() == path.Base(target) {
			return fi, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", target, fs.ErrNotExist)
}

// errNoFacts: a reply that answered but said nothing usable; the
// connection is in step.
var errNoFacts = errors.New("no facts in the reply")

// notImplemented: 500, 502 or 504, the server does not know the command.
func notImplemented(err error) bool {
	switch replyCode(err) {
	case 500, 502, 504:
		return true
	}
	return false
}

// refusedOrMissing: a 5xx reply (550 "No such file", or SIZE of a
// directory) rather than a broken connection.
func refusedOrMissing(err error) bool {
	code := replyCode(err)
	return code >= 500 && code < 600
}

// Avail asks how many bytes may still be stored under dir: AVBL (the
// draft-peterson-streamlined-ftp-command-extensions command that
// ftpserverlib, pure-ftpd and Serv-U answer with "213 BYTES"). Servers
// without it answer 500/502, an error wrapping errors.ErrUnsupported.
func (p *Pool) Avail(ctx context.Context, dir string) (int64, error) {
	var n int64
	err := p.do(ctx, "AVBL", dir, true, func(c *conn) error {
		_, msg, err := c.command(213, "AVBL %s", dir)
		if refusedOrMissing(err) {
			return fmt.Errorf("%w: %w", errors.ErrUnsupported, replyError("AVBL", dir, err))
		}
		if err != nil {
			return replyError("AVBL", dir, err)
		}
		n, err = strconv.ParseInt(strings.TrimSpace(msg), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("AVBL %s: %q is no byte count: %w: %w", dir, msg, errors.ErrUnsupported, errNoFacts)
		}
		return nil
	})
	return n, err
}

// ProbeChmod reports whether the server changes modes with SITE CHMOD, by
// trying it on an empty file tmp that it creates and deletes.
func (p *Pool) ProbeChmod(ctx context.Context, tmp string) (bool, error) {
	if err := p.Store(ctx, tmp, strings.NewReader(""), 0); err != nil {
		return false, err
	}
	err := p.Chmod(ctx, tmp, 0o600)
	_ = p.Delete(ctx, tmp)
	if errors.Is(err, ErrChmodRefused) || errors.Is(err, errors.ErrUnsupported) {
		return false, nil
	}
	return err == nil, err
}
