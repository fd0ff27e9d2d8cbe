package fusefs

import (
	"context"
	"io/fs"
	"path"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpsfs/ftpsfs/cache"
)

// dirNode is a remote directory (also the mount root).
type dirNode struct {
	gofs.Inode
	fsys *FS
}

var (
	_ = (gofs.NodeLookuper)((*dirNode)(nil))
	_ = (gofs.NodeReaddirer)((*dirNode)(nil))
	_ = (gofs.NodeGetattrer)((*dirNode)(nil))
	_ = (gofs.NodeStatfser)((*dirNode)(nil))
	_ = (gofs.NodeAccesser)((*dirNode)(nil))
)

// Lookup answers from the directory's listing: one LIST serves every name
// in it until the listing expires, including the names that do not exist.
// While a slow listing is still arriving, a lookup asks about its one name
// (see lookupEntry).
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx, cancel := d.fsys.opContext(ctx)
	defer cancel()
	dir := d.fsys.remotePath(&d.Inode)
	defer d.fsys.dirAhead.waiting(dir)() // a walk waiting here is still walking
	fi, ok, err := d.fsys.lookupEntry(ctx, dir, name)
	if err != nil {
		return nil, toErrno(d.fsys.log, "lookup", path.Join(dir, name), err)
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	return d.child(ctx, path.Join(dir, name), name, fi, out), 0
}

// child describes the entry fi, at p, to the kernel and returns its inode,
// creating it on first sight.
func (d *dirNode) child(ctx context.Context, p, name string, fi fs.FileInfo, out *fuse.EntryOut) *gofs.Inode {
	d.fsys.fillAttr(p, fi, &out.Attr)
	typ := fileType(fi)
	if ch := d.GetChild(name); ch != nil && ch.StableAttr().Mode == typ {
		if fn, ok := ch.Operations().(*fileNode); ok {
			fn.setInfo(fi)
			if local, ok := fn.localInfo(); ok {
				d.fsys.fillAttr(p, local, &out.Attr) // unsaved changes win
			}
		}
		return ch
	}
	var child gofs.InodeEmbedder
	switch typ {
	case syscall.S_IFDIR:
		child = &dirNode{fsys: d.fsys}
	case syscall.S_IFLNK:
		child = &linkNode{fsys: d.fsys, target: linkTarget(fi)}
	default:
		child = &fileNode{fsys: d.fsys, info: fi}
	}
	return d.NewInode(ctx, child, d.fsys.stableAttr(out.Attr.Ino, typ))
}

// Readdir lists from the same cached listing Lookup uses.
func (d *dirNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	_, _, entries, errno := d.readdir(ctx)
	if errno != 0 {
		return nil, errno
	}
	return gofs.NewListDirStream(entries), 0
}

// readdir returns the directory's path, its listing and the entries to
// show, "." and ".." first.
func (d *dirNode) readdir(ctx context.Context) (string, *cache.Listing, []fuse.DirEntry, syscall.Errno) {
	ctx, cancel := d.fsys.opContext(ctx)
	defer cancel()
	dir := d.fsys.remotePath(&d.Inode)
	defer d.fsys.dirAhead.waiting(dir)()
	l, err := d.fsys.listing(ctx, dir)
	if err != nil {
		return dir, nil, nil, toErrno(d.fsys.log, "readdir", dir, err)
	}
	d.fsys.dirAhead.used(dir, l)
	entries := make([]fuse.DirEntry, 0, len(l.Names)+2)
	// The kernel does not add "." and ".."; ls -a and some programs expect them.
	self := d.StableAttr().Ino
	parent := self
	if _, p := d.Parent(); p != nil {
		parent = p.StableAttr().Ino
	}
	entries = append(entries, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: self}, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent})
	for _, name := range l.Names {
		fi := l.Entries[name]
		typ := fileType(fi)
		entries = append(entries, fuse.DirEntry{Name: name, Mode: typ, Ino: inodeNumber(path.Join(dir, name), typ)})
	}
	return dir, l, entries, 0
}

func (d *dirNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if d.IsRoot() {
		d.fsys.rootAttr(&out.Attr)
		return 0
	}
	ctx, cancel := d.fsys.opContext(ctx)
	defer cancel()
	p := d.fsys.remotePath(&d.Inode)
	fi, ok, _, err := d.fsys.entry(ctx, p)
	if err != nil {
		return toErrno(d.fsys.log, "getattr", p, err)
	}
	if !ok {
		return syscall.ENOENT
	}
	d.fsys.fillAttr(p, fi, &out.Attr)
	return 0
}

// Statfs reports the server's free space where it tells (AVBL), as both
// size and free; otherwise nominal figures (statfs_size=), so programs that
// check for space before writing do not see zero.
func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const bsize = 4096
	blocks := uint64(d.fsys.cfg.StatfsSize) / bsize
	if free, ok := d.fsys.freeSpace(ctx); ok {
		blocks = uint64(free) / bsize
	}
	out.Bsize = bsize
	out.Frsize = bsize
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<20, 1<<20
	out.NameLen = 255
	return 0
}

func (d *dirNode) Access(ctx context.Context, mask uint32) syscall.Errno {
	return d.fsys.access(mask)
}
