package pool

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
	"github.com/jlaffaye/ftp"
)

// fileInfo is one directory entry as the server listed it.
type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	mtime   time.Time
	target  string
	precise bool // mtime is to the second (MLSD, MLST, MDTM), not LIST's minutes or days
	// modeKnown: the server gave the mode; otherwise it is 0644/0755 by default.
	modeKnown bool
}

func (f *fileInfo) Name() string       { return f.name }
func (f *fileInfo) Size() int64        { return f.size }
func (f *fileInfo) Mode() fs.FileMode  { return f.mode }
func (f *fileInfo) ModTime() time.Time { return f.mtime }
func (f *fileInfo) IsDir() bool        { return f.mode.IsDir() }
func (f *fileInfo) Sys() any           { return nil }

// LinkTarget is the symlink's target as the listing gave it.
func (f *fileInfo) LinkTarget() string { return f.target }

// PreciseTime reports whether ModTime is exact to the second.
func (f *fileInfo) PreciseTime() bool { return f.precise }

// ModeKnown reports whether Mode's permission bits are the server's.
func (f *fileInfo) ModeKnown() bool { return f.modeKnown }

// List returns the entries of dir, without "." and "..". A slow listing
// may be stopped and started again later (see slowlist.go).
func (p *Pool) List(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	sink := arriving.SinkFrom(ctx) // may take entries before the listing ends
	holding := false               // a slow slot
	defer func() {
		if holding {
			p.releaseSlowSlot()
		}
	}()
	for {
		// failed is a listing's own failure at the moment the watch cut its
		// connection: do would take any error on an interrupted connection
		// for the cut and report its context's end instead, so it leaves
		// do as errSlowListing and is returned from here.
		var failed error
		err := p.do(ctx, "LIST", dir, true, func(c *conn) error {
			w := p.watchListing(ctx, c, holding)
			entries, sniff, err := listRaw(c, dir, sink)
			slot, stopped, dropped := w.end()
			holding = holding || slot
			if dropped && err != nil {
				failed = slowBackgroundError(dir)
				return errSlowListing
			}
			if stopped && err != nil {
				if !cutError(err) {
					failed = replyError("LIST", dir, err)
				}
				return errSlowListing
			}
			if err != nil {
				return replyError("LIST", dir, err)
			}
			out = convertEntries(entries, sniff, c.mlsd)
			return nil
		})
		if failed != nil {
			return nil, failed
		}
		if !errors.Is(err, errSlowListing) {
			return out, err
		}
		if err := p.waitSlowSlot(ctx, dir); err != nil {
			return nil, err
		}
		holding = true
	}
}

// cutError reports whether a listing's error is what closing its
// connection under it causes, not a failure of its own: not the server's
// reply (a 550 read before the cut), not a limit of the client's.
func cutError(err error) bool {
	return replyCode(err) == 0 && !errors.Is(err, ErrListingTooLarge) && !errors.Is(err, ErrReplyTooLarge)
}

// listRaw lists dir, with the modes and non-children the listing's bytes
// show (see listingSniffer); sink, if not nil, gets entries as they arrive
// (see earlyEntries).
func listRaw(c *conn, dir string, sink arriving.Sink) ([]*ftp.Entry, *listingSniffer, error) {
	sniff := newListingSniffer(c.mlsd, c.maxListing)
	if sink != nil {
		sniff.early = newEarlyEntries(sink, c.mlsd)
	}
	c.sniff = sniff
	c.receiveOnly = true
	defer func() { c.sniff, c.receiveOnly = nil, false }()
	var entries []*ftp.Entry
	var err error
	if c.mlsd {
		entries, err = c.sc.List(dir)
	} else {
		// LIST: vsftpd hides dotfiles unless asked with -a, and treats the path
		// argument as a glob, so list the working directory instead of naming it.
		if err := c.sc.ChangeDir(dir); err != nil {
			return nil, nil, err
		}
		entries, err = c.sc.List("-a")
	}
	if sniff.tooLarge != nil {
		// Not the server's reply to the cut (426): the reason for it.
		return nil, sniff, sniff.tooLarge
	}
	return entries, sniff, err
}

func convertEntries(entries []*ftp.Entry, sniff *listingSniffer, precise bool) []fs.FileInfo {
	out := make([]fs.FileInfo, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		// A server listing a name twice keeps the first.
		if !keepName(e.Name) || seen[e.Name] || sniff.isNotKid(e.Name) {
			continue
		}
		seen[e.Name] = true
		perm, known := sniff.mode(e.Name)
		out = append(out, convertEntry(e, perm, known, precise))
	}
	return out
}

// keepName: a path component the kernel can show; no NUL (it would cut
// the name short).
func keepName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// convertEntry is the entry e, with the mode perm when known.
func convertEntry(e *ftp.Entry, perm fs.FileMode, known, precise bool) *fileInfo {
	size := int64(e.Size)
	if size < 0 { // a size beyond int64 is garbage, not a file
		size = 0
	}
	// Copies: the parser's strings are slices of the whole listing line,
	// which a cached entry would otherwise keep alive.
	fi := &fileInfo{name: strings.Clone(e.Name), size: size, mtime: e.Time, target: strings.Clone(e.Target), precise: precise}
	// Where the server gives no mode, files show 644 and directories 755.
	fi.modeKnown = known
	switch e.Type {
	case ftp.EntryTypeFolder:
		fi.mode = fs.ModeDir | 0o755
		if known {
			fi.mode = fs.ModeDir | perm
		}
		fi.size = 0
	case ftp.EntryTypeLink:
		fi.mode = fs.ModeSymlink | 0o777
		fi.size = int64(len(e.Target))
	default:
		fi.mode = 0o644
		if known {
			fi.mode = perm
		}
	}
	return fi
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}
