package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpsfs/ftpsfs/cache"
)

// forwardSkipBlocks is how far ahead of its stream a block may be asked for
// and still be reached by reading on (caching what lies between) instead of
// reopening: the kernel issues readahead out of order.
const forwardSkipBlocks = 8

// handle is one open file. Reads go through the node's spool when it holds
// the file, else through the block cache, whose misses are filled from this
// handle's own remote stream. Writes go to the node's spool.
type handle struct {
	fsys     *FS
	node     *fileNode
	path     string      // at open; the node's current path is used for uploads
	info     fs.FileInfo // as listed at open
	ver      string
	size     int64
	writable bool
	// appendMode: opened with O_APPEND; writes go to the end of what the
	// server has, whatever offset the kernel believes is the end.
	appendMode bool

	fillMu sync.Mutex  // one fill at a time on this handle's stream
	own    blockStream // the handle's stream, under fillMu
	ra     *readAhead
	pieces pieceState // isolated reads: see pieces.go
}

var (
	_ = (gofs.FileReader)((*handle)(nil))
	_ = (gofs.FileWriter)((*handle)(nil))
	_ = (gofs.FileFlusher)((*handle)(nil))
	_ = (gofs.FileFsyncer)((*handle)(nil))
	_ = (gofs.FileReleaser)((*handle)(nil))
)

func (f *FS) newHandle(n *fileNode, p string, fi fs.FileInfo, ver string, writable bool) *handle {
	if !writable {
		f.readOpened(n, p)
	}
	return &handle{fsys: f, node: n, path: p, info: fi, ver: ver, size: fi.Size(), writable: writable,
		own: blockStream{reader: f.openReader(p, fi.Size()), next: -1}, ra: newReadAhead()}
}

func (f *FS) openReader(p string, size int64) RemoteReader {
	return expectSize(f.remote.OpenReader(p), size)
}

// openLaneReader opens a read-ahead stream when the remote has them.
func (f *FS) openLaneReader(p string, size int64) RemoteReader {
	if lo, ok := f.remote.(LaneOpener); ok {
		return expectSize(lo.OpenLaneReader(p), size)
	}
	return f.openReader(p, size)
}

func expectSize(r RemoteReader, size int64) RemoteReader {
	if e, ok := r.(SizeExpecter); ok {
		e.ExpectSize(size)
	}
	return r
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if res, ok, errno := h.node.readSpool(dest, off); ok {
		return res, errno
	}
	if off >= h.size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	ctx, cancel := h.fsys.opContext(ctx)
	defer cancel()
	end := min(off+int64(len(dest)), h.size)
	if res, ok, errno := h.readIsolated(ctx, off, end); ok {
		return res, errno
	}
	bs := int64(h.fsys.cfg.BlockSize)
	// The reply is written to the kernel straight from the cached blocks
	// (writev), without copying them into dest: blocks are never modified.
	var parts [][]byte
	for pos := off; pos < end; {
		idx := pos / bs
		h.observe(idx)
		data, err := h.fsys.blocks.Get(h.awaitLane(ctx, idx), h.key(idx), func(ctx context.Context) ([]byte, error) {
			return h.fill(ctx, idx)
		})
		if err != nil {
			return nil, h.fail(err)
		}
		if pos-idx*bs >= int64(len(data)) {
			return nil, h.fail(errShortRead) // a block shorter than the listed size implies
		}
		part := data[pos-idx*bs : min(int64(len(data)), end-idx*bs)]
		parts = append(parts, part)
		pos += int64(len(part))
	}
	return fuse.ReadResultVector(parts), 0
}

func (h *handle) key(idx int64) cache.BlockKey {
	return cache.BlockKey{Path: h.path, Version: h.ver, Index: idx}
}

// fill fetches block idx from the stream, first reading on through any
// blocks between the stream's position and idx when the gap is small.
func (h *handle) fill(ctx context.Context, idx int64) ([]byte, error) {
	h.fillMu.Lock()
	defer h.fillMu.Unlock()
	if data, ok := h.fsys.blocks.Peek(h.key(idx)); ok {
		return data, nil // filled by read-on while we waited
	}
	if next := h.own.next; next >= 0 && idx > next && idx-next <= forwardSkipBlocks {
		for b := next; b < idx; b++ {
			if _, ok := h.fsys.blocks.Peek(h.key(b)); ok {
				break // someone else has it; reopening at idx is as cheap
			}
			data, err := h.own.readBlock(ctx, b, h.fsys.cfg.BlockSize, h.size)
			if err != nil {
				return nil, err
			}
			h.fsys.blocks.Add(h.key(b), data)
		}
	}
	return h.own.readBlock(ctx, idx, h.fsys.cfg.BlockSize, h.size)
}

// fail maps a read failure; a file that turned out shorter than listed
// drops what we believed about it.
func (h *handle) fail(err error) syscall.Errno {
	if errors.Is(err, errShortRead) {
		h.fsys.dirs.Invalidate(path.Dir(h.path))
		h.fsys.blocks.InvalidatePath(h.path)
	}
	return toErrno(h.fsys.log, "read", h.path, err)
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.writable {
		return 0, syscall.EBADF
	}
	return h.node.write(transferContext(ctx), h, data, off, h.appendMode)
}

// Flush runs on every close(): its result is what close() returns, so the
// upload happens here.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if !h.writable {
		return 0
	}
	return h.node.upload(transferContext(ctx), h)
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if !h.writable {
		return 0
	}
	return h.node.upload(transferContext(ctx), h)
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.ra.stop()
	_ = h.own.reader.Close()
	if h.writable {
		h.node.releaseWriter(transferContext(ctx), h)
	}
	return 0
}
