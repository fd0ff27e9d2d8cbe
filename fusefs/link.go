package fusefs

import (
	"context"
	"io/fs"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// linkNode is a symlink as the listing reported it.
type linkNode struct {
	gofs.Inode
	fsys   *FS
	target string
}

var (
	_ = (gofs.NodeReadlinker)((*linkNode)(nil))
	_ = (gofs.NodeGetattrer)((*linkNode)(nil))
)

func linkTarget(fi fs.FileInfo) string {
	if lt, ok := fi.(linkTargeter); ok {
		return lt.LinkTarget()
	}
	return ""
}

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if l.target == "" {
		return nil, syscall.EIO
	}
	return []byte(l.target), 0
}

func (l *linkNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	ctx, cancel := l.fsys.opContext(ctx)
	defer cancel()
	p := l.fsys.remotePath(&l.Inode)
	fi, ok, _, err := l.fsys.entry(ctx, p)
	if err != nil {
		return toErrno(l.fsys.log, "getattr", p, err)
	}
	if !ok {
		return syscall.ENOENT
	}
	l.fsys.fillAttr(p, fi, &out.Attr)
	return 0
}
