package fusefs

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpsfs/ftpsfs/cache"
)

// dirHandle is an open directory. It serves READDIRPLUS's per-entry
// lookups from the listing its entries came from, instead of through
// Lookup: for `ls -l` of a large directory that is one lookup per entry,
// and Lookup's own costs (a timeout context, the listing cache's lock, the
// node's path) were most of the daemon's time.
type dirHandle struct {
	d *dirNode

	mu      sync.Mutex // go-fuse serialises a handle's calls; this keeps that true for us
	loaded  bool
	dir     string
	listing *cache.Listing // the snapshot entries came from; nil until loaded
	entries []fuse.DirEntry
	pos     int
}

var (
	_ = (gofs.NodeOpendirHandler)((*dirNode)(nil))
	_ = (gofs.FileReaddirenter)((*dirHandle)(nil))
	_ = (gofs.FileLookuper)((*dirHandle)(nil))
	_ = (gofs.FileSeekdirer)((*dirHandle)(nil))
	_ = (gofs.FileReleasedirer)((*dirHandle)(nil))
)

// OpendirHandle defers the listing to the first read, as go-fuse does for
// a plain Readdir: opening a directory (cd, fchdir) needs none.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{d: d}, 0, 0
}

func (h *dirHandle) loadLocked(ctx context.Context) syscall.Errno {
	if h.loaded {
		return 0
	}
	dir, l, entries, errno := h.d.readdir(ctx)
	if errno != 0 {
		return errno
	}
	h.loaded, h.dir, h.listing, h.entries = true, dir, l, entries
	return 0
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errno := h.loadLocked(ctx); errno != 0 {
		return nil, errno
	}
	if h.pos >= len(h.entries) {
		return nil, 0
	}
	e := h.entries[h.pos]
	h.pos++
	e.Off = uint64(h.pos) // the offset of the next entry, as Seekdir takes it
	return &e, 0
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 {
		h.pos, h.loaded = 0, false // rewinddir: read the directory anew, as POSIX says
		return 0
	}
	if errno := h.loadLocked(ctx); errno != 0 {
		return errno
	}
	if off > uint64(len(h.entries)) {
		return syscall.EINVAL
	}
	h.pos = int(off)
	return 0
}

// Lookup is READDIRPLUS asking about the entry Readdirent just gave.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	h.mu.Lock()
	l, dir, loaded := h.listing, h.dir, h.loaded
	h.mu.Unlock()
	if !loaded { // go-fuse looks up only names readdir gave, but be safe
		return h.d.Lookup(ctx, name, out)
	}
	// A change made through the mount since (create, unlink, rename,
	// upload) is in the cached listing, which is patched in place of the
	// snapshot: answer from it while it is there.
	if cur, ok := h.d.fsys.dirs.Peek(dir); ok && h.d.fsys.remotePath(&h.d.Inode) == dir { // not renamed since
		l = cur
	}
	fi, ok := l.Lookup(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return h.d.child(ctx, joinName(dir, name), name, fi, out), 0
}

// joinName is path.Join for a clean directory and a listed name (never
// "", ".", ".." or containing "/"), without path.Join's cleaning, which
// showed in ls -l's profile.
func joinName(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) {}
