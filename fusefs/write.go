package fusefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"path"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// readSpool serves a read from the spool when it holds the whole file.
func (n *fileNode) readSpool(dest []byte, off int64) (fuse.ReadResult, bool, syscall.Errno) {
	n.mu.Lock()
	s := n.w
	n.mu.Unlock()
	if s == nil || !s.loaded {
		return nil, false, 0
	}
	// ReadAt on the spool needs no lock: writes are whole pwrite calls.
	got, err := s.f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, true, toErrno(n.fsys.log, "read spool", n.info.Name(), err)
	}
	// A vector is written with writev; plain data would first be tried
	// with splice, which fails (and logs) for 1 MiB reads: the reply
	// header makes them larger than a pipe.
	return fuse.ReadResultVector([][]byte{dest[:got]}), true, 0
}

// loadLocked fills the spool with the server's copy before the first
// change, so the upload carries the bytes nobody wrote. ioMu is held.
func (n *fileNode) loadLocked(ctx context.Context) error {
	n.mu.Lock()
	s, size := n.w, n.info.Size()
	n.mu.Unlock()
	if s.loaded {
		return nil
	}
	p := n.fsys.remotePath(&n.Inode)
	r := n.fsys.openReader(p, size)
	defer r.Close()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		chunk := buf[:min(int64(len(buf)), size-off)]
		got, err := r.ReadAt(ctx, chunk, off)
		if got < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				err = errShortRead
			}
			return err
		}
		if _, err := s.f.WriteAt(chunk, off); err != nil {
			return err
		}
		off += int64(got)
	}
	n.mu.Lock()
	s.size, s.loaded = size, true
	n.mu.Unlock()
	return nil
}

func (n *fileNode) write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n.ioMu.Lock()
	defer n.ioMu.Unlock()
	if err := n.loadLocked(ctx); err != nil {
		return 0, toErrno(n.fsys.log, "write", n.info.Name(), err)
	}
	s := n.w
	if s.stream != nil && off != s.size {
		n.abortStreamLocked() // not sequential any more: close() uploads the spool
	}
	if s.stream == nil && s.fresh && off == 0 && s.size == 0 && len(data) > 0 {
		n.mu.Lock()
		n.startStreamLocked(s, n.fsys.remotePath(&n.Inode))
		n.mu.Unlock()
	}
	got, err := s.f.WriteAt(data, off)
	n.mu.Lock()
	s.size = max(s.size, off+int64(got))
	s.dirty, s.failed = true, false
	s.wrote = now()
	size := s.size
	n.mu.Unlock()
	if s.stream != nil {
		s.stream.grow(size)
	}
	if err != nil {
		return uint32(got), toErrno(n.fsys.log, "write spool", n.info.Name(), err)
	}
	return uint32(got), 0
}

// abortStreamLocked stops a streaming upload and deletes what it sent;
// ioMu is held.
func (n *fileNode) abortStreamLocked() {
	n.mu.Lock()
	u := n.w.stream
	n.w.stream = nil
	n.mu.Unlock()
	if u != nil {
		u.abort()
		n.deleteTmp(u.tmp)
	}
}

// truncateLocked sets the spool's size; both locks are held, and for a size
// other than 0 the spool is loaded.
func (n *fileNode) truncateLocked(size int64) syscall.Errno {
	if u := n.w.stream; u != nil {
		n.w.stream = nil
		n.mu.Unlock()
		u.abort()
		n.deleteTmp(u.tmp)
		n.mu.Lock()
	}
	if err := n.w.f.Truncate(size); err != nil {
		return toErrno(n.fsys.log, "truncate spool", n.info.Name(), err)
	}
	n.w.size, n.w.loaded, n.w.dirty, n.w.wrote = size, true, true, now()
	n.w.fresh = size == 0
	return 0
}

func (n *fileNode) truncate(ctx context.Context, size int64) syscall.Errno {
	n.ioMu.Lock()
	defer n.ioMu.Unlock()
	if size > 0 {
		if err := n.loadLocked(ctx); err != nil {
			return toErrno(n.fsys.log, "truncate", n.info.Name(), err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.truncateLocked(size)
}

// upload sends a dirty spool to the server: to a temporary name in the same
// directory, then renamed over the file, so a failed upload never damages
// the server's previous copy. On failure the spool stays dirty and a later
// flush, fsync or release tries again.
func (n *fileNode) upload(ctx context.Context) syscall.Errno {
	n.ioMu.Lock()
	defer n.ioMu.Unlock()
	n.mu.Lock()
	s := n.w
	if s == nil {
		n.mu.Unlock()
		return 0
	}
	stream := s.stream
	s.stream = nil
	if !s.dirty || n.unlinked {
		n.mu.Unlock()
		if stream != nil {
			stream.abort()
			n.deleteTmp(stream.tmp)
		}
		return 0
	}
	size, mtime := s.size, s.mtime
	n.mu.Unlock()

	p := n.fsys.remotePath(&n.Inode)
	dir := path.Dir(p)
	tmp := ""
	if stream != nil {
		// The server already has most of it: wait for the tail.
		if res := stream.finish(); res.err == nil && res.n == size {
			tmp = stream.tmp
		} else {
			n.fsys.log.Debug("streaming upload did not complete; uploading the spool", "path", p, "sent", res.n, "size", size, "err", res.err)
			n.deleteTmp(stream.tmp)
		}
	}
	if tmp == "" {
		tmp = path.Join(dir, uploadPrefix+randomSuffix())
		if err := n.fsys.remote.Store(ctx, tmp, s.f, size); err != nil {
			n.uploadFailed(tmp)
			return toErrno(n.fsys.log, "upload", p, err)
		}
	}
	if err := n.fsys.remote.Rename(ctx, tmp, p, true); err != nil {
		n.uploadFailed(tmp)
		return toErrno(n.fsys.log, "upload rename", p, err)
	}
	shown := now()
	if mtime != nil {
		if err := n.fsys.remote.SetTime(ctx, p, *mtime); err != nil {
			n.fsys.log.Debug("server did not take the modification time", "path", p, "err", err)
		} else {
			shown = *mtime
			n.fsys.times.set(p, shown)
		}
	} else {
		n.fsys.times.forget(p)
	}
	n.mu.Lock()
	s.dirty, s.mtime, s.failed, s.fresh = false, nil, false, false
	fi := localEntry{name: path.Base(p), size: size, mode: 0o644, mtime: shown}
	n.info = fi
	n.mu.Unlock()
	n.fsys.setEntry(dir, fi)
	n.fsys.blocks.InvalidatePath(p)
	n.fsys.log.Debug("uploaded", "path", p, "bytes", size, "streamed", stream != nil)
	return 0
}

// uploadFailed marks the spool and deletes the temporary file.
func (n *fileNode) uploadFailed(tmp string) {
	n.mu.Lock()
	n.w.failed = true
	n.mu.Unlock()
	n.deleteTmp(tmp)
}

// deleteTmp deletes an upload's temporary file, best effort.
func (n *fileNode) deleteTmp(tmp string) {
	ctx, cancel := context.WithTimeout(context.Background(), n.fsys.cfg.Timeout)
	defer cancel()
	if err := n.fsys.remote.Delete(ctx, tmp); err != nil {
		n.fsys.log.Debug("could not delete a failed upload", "path", tmp, "err", err)
	}
}

// releaseWriter ends one writable handle. Data never offered to the server
// (no flush happened) gets its upload now. When an upload already failed,
// close() or fsync() has reported it and the changes are dropped with a log
// line: retrying here, after the caller has moved on, would race with it.
func (n *fileNode) releaseWriter(ctx context.Context) {
	n.mu.Lock()
	failed := n.w != nil && n.w.failed
	n.mu.Unlock()
	p := n.fsys.remotePath(&n.Inode)
	if !failed {
		if errno := n.upload(ctx); errno != 0 {
			n.fsys.log.Error("changes not saved to the server", "path", p, "errno", errno.Error())
		}
	}
	n.ioMu.Lock()
	defer n.ioMu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.writers--
	if n.writers > 0 || n.w == nil {
		return
	}
	if n.w.dirty && !n.unlinked {
		n.fsys.log.Error("discarding changes the server refused", "path", p)
	}
	if u := n.w.stream; u != nil {
		n.w.stream = nil
		n.mu.Unlock()
		u.abort()
		n.deleteTmp(u.tmp)
		n.mu.Lock()
	}
	n.w.close()
	n.w = nil
}

// Setattr: size changes the content (uploaded now when no handle is open,
// else on close); times are set on the server (after the upload when there
// are unsaved changes); mode and ownership changes are accepted and
// ignored, because FTP has no portable way to make them (jlaffaye/ftp cannot
// send SITE CHMOD) and cp -p or rsync -a must not fail over them.
func (n *fileNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.fsys.cfg.ReadOnly {
		return syscall.EROFS
	}
	if size, ok := in.GetSize(); ok {
		if errno := n.setSize(transferContext(ctx), fh, int64(size)); errno != 0 {
			return errno
		}
	}
	ctx, cancel := n.fsys.opContext(ctx)
	defer cancel()
	if mtime, ok := in.GetMTime(); ok {
		if errno := n.setMtime(ctx, mtime); errno != 0 {
			return errno
		}
	}
	return n.Getattr(ctx, fh, out)
}

func (n *fileNode) setSize(ctx context.Context, fh gofs.FileHandle, size int64) syscall.Errno {
	if _, open := fh.(*handle); open || n.hasSpool() {
		return n.truncate(ctx, size)
	}
	// truncate(2) on a path: no close will follow, so upload now.
	if errno := n.addWriter(false); errno != 0 {
		return errno
	}
	defer n.releaseWriter(ctx)
	if errno := n.truncate(ctx, size); errno != 0 {
		return errno
	}
	return n.upload(ctx)
}

func (n *fileNode) hasSpool() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.w != nil
}

func (n *fileNode) setMtime(ctx context.Context, t time.Time) syscall.Errno {
	t = t.UTC()
	n.mu.Lock()
	if n.w != nil && n.w.dirty {
		n.w.mtime = &t // applied after the upload
		n.mu.Unlock()
		return 0
	}
	n.mu.Unlock()
	p := n.fsys.remotePath(&n.Inode)
	if err := n.fsys.remote.SetTime(ctx, p, t); err != nil {
		n.fsys.log.Debug("server did not take the modification time", "path", p, "err", err)
		return 0 // like chmod: not worth failing cp -p over
	}
	n.fsys.times.set(p, t)
	n.mu.Lock()
	fi := n.info
	n.mu.Unlock()
	if fi != nil {
		updated := withTime{fi, t}
		n.setInfo(updated)
		n.fsys.setEntry(path.Dir(p), updated)
	}
	return 0
}

func randomSuffix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
