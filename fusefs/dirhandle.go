package fusefs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpsfs/ftpsfs/cache"
)

// dirHandle is an open directory. It reads the listing once, at the first
// readdir, and READDIRPLUS's lookups of the names it returns are answered
// from that same listing: `ls -l` of a directory costs one LIST however
// long the listing took and whatever dir_cache_ttl is, and no READDIRPLUS
// request waits on the network for more than that one listing.
//
// go-fuse serialises the calls on one handle (it holds the handle's lock
// for each request), so the fields need no lock of their own.
type dirHandle struct {
	d       *dirNode
	l       *cache.Listing
	entries []fuse.DirEntry
	next    int // index of the next entry to return
	loaded  bool
}

var (
	_ = (gofs.NodeOpendirHandler)((*dirNode)(nil))
	_ = (gofs.FileReaddirenter)((*dirHandle)(nil))
	_ = (gofs.FileLookuper)((*dirHandle)(nil))
	_ = (gofs.FileSeekdirer)((*dirHandle)(nil))
	_ = (gofs.FileReleasedirer)((*dirHandle)(nil))
)

// OpendirHandle opens the directory without asking the server: the
// listing is fetched at the first readdir.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{d: d}, 0, 0
}

func (h *dirHandle) load(ctx context.Context) syscall.Errno {
	if h.loaded {
		return 0
	}
	l, entries, errno := h.d.readListing(ctx)
	if errno != 0 {
		return errno
	}
	h.l, h.entries, h.loaded = l, entries, true
	return 0
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if errno := h.load(ctx); errno != 0 {
		return nil, errno
	}
	if h.next >= len(h.entries) {
		return nil, 0
	}
	e := h.entries[h.next]
	h.next++
	e.Off = uint64(h.next) // the offset to resume after this entry
	return &e, 0
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if errno := h.load(ctx); errno != 0 {
		return errno
	}
	if off > uint64(len(h.entries)) {
		return syscall.EINVAL
	}
	h.next = int(off)
	return 0
}

// Lookup answers READDIRPLUS from the listing this handle read.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if !h.loaded { // go-fuse looks up only names readdir gave, but be safe
		return h.d.Lookup(ctx, name, out)
	}
	fi, ok := h.l.Lookup(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	ctx, cancel := h.d.fsys.opContext(ctx)
	defer cancel()
	return h.d.child(ctx, h.d.fsys.remotePath(&h.d.Inode), name, fi, out), 0
}

func (h *dirHandle) Releasedir(context.Context, uint32) {}
