package fusefs

import (
	"context"
	"io/fs"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileNode is a regular remote file.
//
// Locking: ioMu serialises loading, writing, truncating and uploading the
// spool (so an upload never sends a file half-way through a write); opens,
// writes, truncates and chmods wait for it no longer than their timeout
// (lockIO). mu guards the fields below it and is never held across the
// network.
type fileNode struct {
	gofs.Inode
	fsys *FS

	ioMu ioLock

	mu         sync.Mutex
	info       fs.FileInfo // as last listed
	openedVers string      // content version at the last open, for FOPEN_KEEP_CACHE
	w          *spool      // local copy while the file is written
	writers    int         // open handles that may write
	unlinked   bool        // removed through the mount: never upload again
}

var (
	_ = (gofs.NodeOpener)((*fileNode)(nil))
	_ = (gofs.NodeGetattrer)((*fileNode)(nil))
	_ = (gofs.NodeSetattrer)((*fileNode)(nil))
	_ = (gofs.NodeAccesser)((*fileNode)(nil))
)

func (n *fileNode) setInfo(fi fs.FileInfo) {
	n.mu.Lock()
	n.info = fi
	n.mu.Unlock()
}

// refresh returns the node's entry from its directory's listing.
func (n *fileNode) refresh(ctx context.Context) (string, fs.FileInfo, syscall.Errno) {
	p, fi, _, errno := n.refreshListed(ctx)
	return p, fi, errno
}

// refreshListed is refresh with the time its listing was fetched.
func (n *fileNode) refreshListed(ctx context.Context) (string, fs.FileInfo, time.Time, syscall.Errno) {
	p := n.fsys.remotePath(&n.Inode)
	fi, ok, fetched, err := n.fsys.entry(ctx, p)
	if err != nil {
		return p, nil, fetched, toErrno(n.fsys.log, "getattr", p, err)
	}
	if !ok {
		return p, nil, fetched, syscall.ENOENT
	}
	n.setInfo(fi)
	return p, fi, fetched, 0
}

// localInfo describes the spool while it holds changes the server lacks.
func (n *fileNode) localInfo() (fs.FileInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil || !n.w.loaded || !n.w.dirty {
		return nil, false
	}
	mtime := n.w.wrote
	if n.w.mtime != nil {
		mtime = *n.w.mtime
	}
	return localEntry{name: n.info.Name(), size: n.w.size, mode: n.info.Mode(), mtime: mtime}, true
}

func (n *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	p := n.fsys.remotePath(&n.Inode)
	if fi, ok := n.localInfo(); ok {
		n.fsys.fillAttr(p, fi, &out.Attr)
		return 0
	}
	if h, ok := fh.(*handle); ok && !h.writable {
		// An open file keeps the size it was opened with, so a reader never
		// sees the file shrink under it.
		n.fsys.fillAttr(p, h.info, &out.Attr)
		return 0
	}
	ctx, cancel := n.fsys.opContext(ctx)
	defer cancel()
	p, fi, errno := n.refresh(ctx)
	if errno != 0 {
		return errno
	}
	n.fsys.fillAttr(p, fi, &out.Attr)
	return 0
}

func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	trunc := flags&syscall.O_TRUNC != 0 && writable
	if (writable || trunc) && n.fsys.cfg.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	ctx, cancel := n.fsys.opContext(ctx)
	defer cancel()
	p, fi, fetched, errno := n.refreshListed(ctx)
	if errno == syscall.ENOENT {
		// Created through this mount and not listed yet, or listed stale.
		if local, ok := n.localInfo(); ok {
			fi, errno = local, 0
		}
	}
	if errno != 0 {
		return nil, 0, errno
	}
	return n.openListed(ctx, p, fi, fetched, flags)
}

// openListed opens the node at p, as fi (from the listing fetched at
// fetched) describes it. p is given because a node still being created is
// not in the tree yet.
func (n *fileNode) openListed(ctx context.Context, p string, fi fs.FileInfo, fetched time.Time, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	trunc := flags&syscall.O_TRUNC != 0 && writable
	v := n.fsys.openVersion(ctx, p, fi, fetched)
	h := n.fsys.newHandle(n, p, fi, v, writable)
	h.appendMode = flags&syscall.O_APPEND != 0
	if writable {
		if errno := n.addWriter(ctx, trunc); errno != 0 {
			return nil, 0, errno
		}
	}
	var fuseFlags uint32
	n.mu.Lock()
	if n.openedVers == v && n.w == nil {
		fuseFlags |= fuse.FOPEN_KEEP_CACHE // unchanged since the kernel cached it
	}
	n.openedVers = v
	n.mu.Unlock()
	return h, fuseFlags, 0
}

// addWriter makes sure the node has a spool for a new writable handle. A
// new spool replaces the server's copy, whose mode it keeps, unless the
// file is one created here and not uploaded yet.
func (n *fileNode) addWriter(ctx context.Context, trunc bool) syscall.Errno {
	if errno := n.lockIO(ctx, "open", nil); errno != 0 {
		return errno
	}
	defer n.ioMu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil {
		s, err := newSpool(n.fsys.cfg.SpoolDir)
		if err != nil {
			return toErrno(n.fsys.log, "open", n.info.Name(), err)
		}
		s.existed, s.oldMode, s.oldModeKnown = true, n.info.Mode(), modeKnown(n.info)
		n.w = s
	}
	if trunc {
		if errno := n.truncateLocked(0); errno != 0 {
			if n.writers == 0 {
				n.w.close()
				n.w = nil
			}
			return errno
		}
	}
	n.writers++
	return 0
}

// sentToName reports whether an upload of this pending file went to its
// name on the server (see upload), so that an unlink deletes what it left.
func (n *fileNode) sentToName() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.w != nil && n.w.sentToName
}

// lockIO takes ioMu for an operation that must not wait behind another
// handle's upload for longer than its timeout: until ctx's deadline, or
// timeout from now where ctx has none (a transfer's context).
func (n *fileNode) lockIO(ctx context.Context, op string, by *handle) syscall.Errno {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.fsys.cfg.Timeout)
		defer cancel()
	}
	if err := n.ioMu.lock(ctx, by); err != nil {
		return toErrno(n.fsys.log, op, n.fsys.remotePath(&n.Inode), err)
	}
	return 0
}

// Access: reading and writing are left to the server, but a file whose
// mode has no execute bit is not executable for anyone (as for root on a
// local disk), so test -x and which agree with the modes shown.
func (n *fileNode) Access(ctx context.Context, mask uint32) syscall.Errno {
	const xOK = 1
	n.mu.Lock()
	fi := n.info
	n.mu.Unlock()
	if mask&xOK != 0 && fi != nil && fi.Mode().Perm()&0o111 == 0 {
		return syscall.EACCES
	}
	return n.fsys.access(mask)
}

// now is the time local changes are stamped with.
func now() time.Time { return time.Now().UTC() }
