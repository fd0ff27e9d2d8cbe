package fusefs

import (
	"context"
	"io/fs"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileNode is a regular remote file.
type fileNode struct {
	gofs.Inode
	fsys *FS

	mu         sync.Mutex
	info       fs.FileInfo // as last listed
	openedVers string      // content version at the last open, for FOPEN_KEEP_CACHE
}

var (
	_ = (gofs.NodeOpener)((*fileNode)(nil))
	_ = (gofs.NodeGetattrer)((*fileNode)(nil))
	_ = (gofs.NodeAccesser)((*fileNode)(nil))
)

func (n *fileNode) setInfo(fi fs.FileInfo) {
	n.mu.Lock()
	n.info = fi
	n.mu.Unlock()
}

// refresh returns the node's entry from its directory's listing.
func (n *fileNode) refresh(ctx context.Context) (string, fs.FileInfo, syscall.Errno) {
	p := n.fsys.remotePath(&n.Inode)
	fi, ok, err := n.fsys.entry(ctx, p)
	if err != nil {
		return p, nil, toErrno(n.fsys.log, "getattr", p, err)
	}
	if !ok {
		return p, nil, syscall.ENOENT
	}
	n.setInfo(fi)
	return p, fi, 0
}

func (n *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		// An open file keeps the size it was opened with, so a reader never
		// sees the file shrink under it.
		n.fsys.fillAttr(h.path, h.info, &out.Attr)
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
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	ctx, cancel := n.fsys.opContext(ctx)
	defer cancel()
	p, fi, errno := n.refresh(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	v := version(fi)
	var fuseFlags uint32
	n.mu.Lock()
	if n.openedVers == v {
		fuseFlags |= fuse.FOPEN_KEEP_CACHE // unchanged since the kernel cached it
	}
	n.openedVers = v
	n.mu.Unlock()
	return n.fsys.newHandle(p, fi), fuseFlags, 0
}

func (n *fileNode) Access(ctx context.Context, mask uint32) syscall.Errno {
	return readOnlyAccess(mask)
}
