package fusefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpsfs/ftpsfs/pool"
)

// readSpool serves a read from the spool when it holds the whole file.
func (n *fileNode) readSpool(dest []byte, off int64) (fuse.ReadResult, bool, syscall.Errno) {
	n.mu.Lock()
	s := n.w
	loaded := s != nil && s.loaded
	n.mu.Unlock()
	if !loaded {
		return nil, false, 0
	}
	if beforeSpoolRead != nil {
		beforeSpoolRead(s)
	}
	// No node lock: writes are whole pwrite calls, and the spool's own
	// lock keeps it open while we read.
	got, err, ok := s.readAt(dest, off)
	if !ok {
		return nil, false, 0 // released meanwhile: read what the server has
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, true, toErrno(n.fsys.log, "read spool", n.fsys.remotePath(&n.Inode), err)
	}
	// A vector is written with writev; plain data would first be tried
	// with splice, which fails (and logs) for 1 MiB reads: the reply
	// header makes them larger than a pipe.
	return fuse.ReadResultVector([][]byte{dest[:got]}), true, 0
}

// errChangedWhileLoading: the server's file changed size while we
// downloaded it to change it.
var errChangedWhileLoading = errors.New("remote file changed while it was loaded for writing")

// loadLocked fills the spool with the server's copy before the first
// change, so the upload carries the bytes nobody wrote. It loads what the
// server has now, not what a listing up to dir_cache_ttl old says: another
// client may have appended since, and an upload of the older length would
// cut that off. ioMu is held.
func (n *fileNode) loadLocked(ctx context.Context) error {
	n.mu.Lock()
	s := n.w
	loaded := s.loaded
	n.mu.Unlock()
	if loaded {
		return nil
	}
	p := n.fsys.remotePath(&n.Inode)
	var err error
	for range 2 {
		var st fs.FileInfo
		sctx, cancel := n.fsys.opContext(ctx) // a transfer's ctx has no deadline; one question does
		st, err = n.fsys.remote.Stat(sctx, p)
		cancel()
		if err != nil {
			return err
		}
		var got int64
		if got, err = n.download(ctx, p, s, st.Size()); err == nil {
			n.mu.Lock()
			s.size, s.loaded = got, true
			n.mu.Unlock()
			return nil
		}
		if !errors.Is(err, errChangedWhileLoading) {
			return err
		}
	}
	return err
}

// download copies p into the spool to its end and checks that the end is
// where SIZE said it is.
func (n *fileNode) download(ctx context.Context, p string, s *spool, size int64) (int64, error) {
	r := n.fsys.openReader(p, size)
	defer r.Close()
	buf := make([]byte, 1<<20)
	off := int64(0)
	for {
		got, err := r.ReadAt(ctx, buf, off)
		if got > 0 {
			if _, werr := s.f.WriteAt(buf[:got], off); werr != nil {
				return 0, werr
			}
			off += int64(got)
		}
		if errors.Is(err, io.EOF) || err == nil && got < len(buf) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if off != size {
		return 0, fmt.Errorf("%w (size %d, read %d)", errChangedWhileLoading, size, off)
	}
	return off, nil
}

// write puts data into the spool at off, or at its end for a handle opened
// with O_APPEND (the kernel's idea of the end may predate another client's
// append).
func (n *fileNode) write(ctx context.Context, by *handle, data []byte, off int64, appendMode bool) (uint32, syscall.Errno) {
	if errno := n.lockIO(ctx, "write", by); errno != 0 {
		// The program's data is lost: the file on the server must not
		// become the spool without it (mmap write-back, a cp that closes
		// after the error). Later flushes report it.
		return 0, n.poison(errno)
	}
	defer n.ioMu.Unlock()
	if errno := n.writeErr(); errno != 0 {
		return 0, errno
	}
	if err := n.loadLocked(ctx); err != nil {
		return 0, n.poison(toErrno(n.fsys.log, "write", n.fsys.remotePath(&n.Inode), err))
	}
	s := n.w
	n.mu.Lock()
	if appendMode {
		off = s.size
	}
	n.mu.Unlock()
	if s.stream != nil && off != s.size {
		n.abortStreamLocked() // not sequential any more: close() uploads the spool
	}
	n.mu.Lock()
	if off != s.size {
		s.seq = false
	}
	if s.stream == nil && s.fresh && s.seq && s.size+int64(len(data)) >= streamAfter {
		n.startStreamLocked(s, n.fsys.remotePath(&n.Inode))
	}
	n.mu.Unlock()
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
		return uint32(got), n.poison(toErrno(n.fsys.log, "write spool", n.fsys.remotePath(&n.Inode), err))
	}
	return uint32(got), 0
}

// streamAfter is how much a file written sequentially from empty must
// reach before its upload streams. Below it, close() sends the whole file
// at once, and a file the server never held then goes straight to its name
// (see upload), where a stream would need a temporary: a rename costs two
// round trips, more than waiting for the last MiB.
const streamAfter = 1 << 20

// poison records a failed write: from now on the spool never replaces the
// server's copy, and every flush reports errno.
func (n *fileNode) poison(errno syscall.Errno) syscall.Errno {
	n.mu.Lock()
	if n.w != nil && n.w.writeErr == 0 {
		n.w.writeErr = errno
	}
	n.mu.Unlock()
	return errno
}

func (n *fileNode) writeErr() syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil {
		return 0
	}
	return n.w.writeErr
}

// abortStreamLocked stops a streaming upload and deletes what it sent;
// ioMu is held.
func (n *fileNode) abortStreamLocked() {
	n.mu.Lock()
	u := n.w.stream
	n.w.stream = nil
	n.mu.Unlock()
	if u != nil {
		n.dropStream(u)
	}
}

// dropStream aborts a streaming upload and deletes what it sent.
func (n *fileNode) dropStream(u *streamUpload) {
	u.abort()
	n.deleteTmp(u.tmp)
	u.release()
}

// truncateLocked sets the spool's size; both locks are held, and for a size
// other than 0 the spool is loaded.
func (n *fileNode) truncateLocked(size int64) syscall.Errno {
	if u := n.w.stream; u != nil {
		n.w.stream = nil
		n.mu.Unlock()
		n.dropStream(u)
		n.mu.Lock()
	}
	if err := truncateSpool(n.w.f, size); err != nil {
		return toErrno(n.fsys.log, "truncate spool", n.info.Name(), err)
	}
	n.w.size, n.w.loaded, n.w.dirty, n.w.wrote = size, true, true, now()
	n.w.fresh = size == 0
	n.w.seq = n.w.fresh
	if size == 0 {
		// Nothing written before is kept, so a write lost before no longer
		// matters: an open(O_TRUNC) right after a failed close() (whose
		// release may not have run yet) starts clean.
		n.w.writeErr = 0
	}
	return 0
}

func (n *fileNode) truncate(ctx context.Context, by *handle, size int64) syscall.Errno {
	if errno := n.lockIO(ctx, "truncate", by); errno != 0 {
		return errno
	}
	defer n.ioMu.Unlock()
	if size > 0 {
		if err := n.loadLocked(ctx); err != nil {
			return toErrno(n.fsys.log, "truncate", n.fsys.remotePath(&n.Inode), err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.truncateLocked(size)
}

// upload sends a dirty spool to the server: to a temporary name in the same
// directory, then renamed over the file, so a failed upload never damages
// the server's previous copy (a file the server never held goes straight
// to its name). The replacement gets the old copy's mode (or
// the one asked for here), and where that mode keeps others from reading,
// the temporary is given it before any content is sent. On failure the
// spool stays dirty and a later flush, fsync or release tries again; a
// spool whose writes failed is never uploaded.
func (n *fileNode) upload(ctx context.Context, by *handle) syscall.Errno {
	n.ioMu.Lock(by)
	defer n.ioMu.Unlock()
	n.mu.Lock()
	s := n.w
	if s == nil {
		n.mu.Unlock()
		return 0
	}
	stream := s.stream
	s.stream = nil
	writeErr := s.writeErr
	if writeErr != 0 || !s.dirty || n.unlinked {
		n.mu.Unlock()
		if stream != nil {
			n.dropStream(stream)
		}
		return writeErr
	}
	size, mtime, asked, existed := s.size, s.mtime, s.mode, s.existed
	mode, setMode := s.targetMode()
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
		defer stream.release()
	}
	direct := tmp == "" && !existed && size <= streamAfter
	if direct {
		// A small file created here that the server never held: there is
		// no previous copy to protect, so it goes straight to its name,
		// saving the temporary's rename (two round trips a file for cp -r).
		// A failed upload may leave what reached the server under the name;
		// it is not deleted, because a refused STOR may have left another
		// client's file there untouched. close() reports the failure. A
		// larger one goes through a temporary, so that a cut transfer never
		// leaves a long partial file that looks complete.
		tmp = p
		if setMode && exposes(mode) {
			if err := n.fsys.protect(ctx, p, mode); err != nil {
				n.directFailed(err)
				return toErrno(n.fsys.log, "upload", p, err)
			}
		}
		if err := n.fsys.remote.Store(ctx, p, s.f, size); err != nil {
			n.directFailed(err)
			return toErrno(n.fsys.log, "upload", p, err)
		}
	}
	if tmp == "" {
		name, done := n.fsys.tmpName(p)
		defer done()
		tmp = name
		if setMode && exposes(mode) {
			if err := n.fsys.protect(ctx, tmp, mode); err != nil {
				n.uploadFailed(tmp)
				return toErrno(n.fsys.log, "upload", p, err)
			}
		}
		if err := n.fsys.remote.Store(ctx, tmp, s.f, size); err != nil {
			n.uploadFailed(tmp)
			return toErrno(n.fsys.log, "upload", p, err)
		}
	}
	// A streamed temporary was protected with the mode known when it
	// started, which a chmod since may have changed: give it the mode now.
	if setMode && (!exposes(mode) || stream != nil && tmp == stream.tmp) {
		n.fsys.chmodUpload(ctx, tmp, mode)
	}
	if !direct {
		if err := n.fsys.remote.Rename(ctx, tmp, p, asideName(p)); err != nil {
			n.uploadFailed(tmp)
			return toErrno(n.fsys.log, "upload rename", p, err)
		}
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
	shownMode := n.info.Mode()
	if setMode {
		shownMode = mode
	}
	var laterTime *time.Time // a touch arrived during the upload (setMtime takes no ioMu)
	if s.mtime != mtime {
		laterTime = s.mtime
	}
	s.dirty, s.mtime, s.failed, s.fresh = false, nil, false, false
	later := s.mode != asked // a chmod arrived during the upload
	var laterMode fs.FileMode
	if later {
		laterMode = *s.mode
	} else {
		s.mode = nil
	}
	s.existed, s.oldMode, s.oldModeKnown = true, shownMode, setMode || s.oldModeKnown
	fi := localEntry{name: path.Base(p), size: size, mode: shownMode, mtime: shown, modeKnown: setMode || s.oldModeKnown}
	n.info = fi
	n.mu.Unlock()
	if later {
		n.fsys.chmodUpload(ctx, p, laterMode)
		fi.mode = laterMode
		n.setInfo(fi)
		n.mu.Lock()
		s.oldMode = laterMode
		n.mu.Unlock()
	}
	n.fsys.pending.remove(n)
	n.fsys.setEntry(dir, fi)
	n.fsys.blocks.InvalidatePath(p)
	n.fsys.forgetVersion(p)
	if laterTime != nil {
		_ = n.setMtime(ctx, *laterTime) // no longer dirty: goes to the server now
	}
	n.fsys.log.Debug("uploaded", "path", p, "bytes", size, "streamed", stream != nil)
	return 0
}

// exposes reports whether a file of this mode must get it before its
// content arrives: a temporary starts with the server's default mode
// (usually 0644), which would let others read what mode keeps from them.
func exposes(mode fs.FileMode) bool {
	return mode.Perm()&0o044 != 0o044
}

// protect creates tmp empty and gives it mode, before the content is sent
// into it. A server that refuses SITE CHMOD still gets the upload (the data
// is what matters most), with a warning that the mode could not be kept.
func (f *FS) protect(ctx context.Context, tmp string, mode fs.FileMode) error {
	if f.chmodRefused.Load() {
		f.warnMode(tmp, mode, nil)
		return nil
	}
	if err := f.remote.Store(ctx, tmp, strings.NewReader(""), 0); err != nil {
		return err
	}
	err := f.remote.Chmod(ctx, tmp, mode)
	if errors.Is(err, errors.ErrUnsupported) {
		f.chmodRefused.Store(true) // the server has no SITE CHMOD at all
		f.warnMode(tmp, mode, err)
		return nil
	}
	return err // anything else: better no upload than an exposed one
}

// chmodUpload gives an upload's temporary its mode, best effort.
func (f *FS) chmodUpload(ctx context.Context, tmp string, mode fs.FileMode) {
	if f.chmodRefused.Load() {
		f.warnMode(tmp, mode, nil)
		return
	}
	err := f.remote.Chmod(ctx, tmp, mode)
	if errors.Is(err, errors.ErrUnsupported) {
		f.chmodRefused.Store(true) // unknown command: it never will
	}
	if err != nil {
		f.warnMode(tmp, mode, err)
	}
}

func (f *FS) warnMode(tmp string, mode fs.FileMode, err error) {
	if err != nil || !f.modeWarned.Swap(true) {
		f.log.Warn("the server does not keep modes: replaced files get its default mode", "path", path.Dir(tmp), "mode", fmt.Sprintf("%04o", unixBits(mode)), "err", err)
	}
}

// uploadFailed marks the spool and deletes the temporary file.
func (n *fileNode) uploadFailed(tmp string) {
	n.markFailed()
	n.deleteTmp(tmp)
}

// directFailed records a failed upload straight to the file's name. Unless
// the server refused the STOR outright (before any data: what is at the
// name is then not ours, perhaps another client's), it may hold what we
// sent, which an unlink of the still pending file then deletes.
func (n *fileNode) directFailed(err error) {
	var re *pool.ReplyError
	refused := errors.As(err, &re) && refusedBeforeData(re.Code)
	n.mu.Lock()
	n.w.failed = true
	n.w.sentToName = n.w.sentToName || !refused
	n.mu.Unlock()
}

// refusedBeforeData: replies with which servers refuse a STOR before they
// open the file (a 552 may also come after data: left alone, the lesser harm).
func refusedBeforeData(code int) bool {
	switch code {
	case 450, 452, 530, 532, 550, 551, 552, 553:
		return true
	}
	return false
}

// markFailed records that the spool's upload failed (see releaseWriter).
func (n *fileNode) markFailed() {
	n.mu.Lock()
	n.w.failed = true
	n.mu.Unlock()
}

// deleteTmp deletes an upload's temporary file, best effort (a leftover is
// deleted by a later listing: see leftovers.go).
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
func (n *fileNode) releaseWriter(ctx context.Context, by *handle) {
	n.mu.Lock()
	failed := n.w != nil && n.w.failed
	n.mu.Unlock()
	p := n.fsys.remotePath(&n.Inode)
	if !failed {
		if errno := n.upload(ctx, by); errno != 0 {
			n.fsys.log.Error("changes not saved to the server", "path", p, "errno", errno.Error())
		}
	}
	n.ioMu.Lock(by)
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
		n.dropStream(u)
		n.mu.Lock()
	}
	n.w.close()
	n.w = nil
	n.fsys.pending.remove(n)
}

// Setattr: size changes the content (uploaded now when no handle is open,
// else on close); modes (SITE CHMOD) and times are set on the server, after
// the upload when there are unsaved changes. Ownership changes are accepted
// and ignored: FTP cannot make them, and cp -p or rsync -a must not fail
// over them.
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
	if mode, ok := in.GetMode(); ok {
		if errno := n.setMode(ctx, modeOf(mode)); errno != 0 {
			return errno
		}
	}
	if mtime, ok := in.GetMTime(); ok {
		if errno := n.setMtime(ctx, mtime); errno != 0 {
			return errno
		}
	}
	return n.Getattr(ctx, fh, out)
}

func (n *fileNode) setSize(ctx context.Context, fh gofs.FileHandle, size int64) syscall.Errno {
	if h, open := fh.(*handle); open || n.hasSpool() {
		return n.truncate(ctx, h, size)
	}
	// truncate(2) on a path: no close will follow, so upload now.
	if errno := n.addWriter(ctx, false); errno != 0 {
		return errno
	}
	defer n.releaseWriter(ctx, nil)
	if errno := n.truncate(ctx, nil, size); errno != 0 {
		return errno
	}
	return n.upload(ctx, nil)
}

// setMode changes the file's permission bits on the server, or with the
// coming upload while there are unsaved changes (sed -i and cp fchmod
// their new file before closing it).
func (n *fileNode) setMode(ctx context.Context, mode fs.FileMode) syscall.Errno {
	if n.fsys.cfg.ChmodIgnore {
		return 0
	}
	n.mu.Lock()
	if n.w != nil && n.w.dirty && n.w.stream == nil {
		// Applied by the coming upload, or by the running one when it
		// ends (see upload's later): no need to wait for it.
		n.w.mode = &mode
		n.mu.Unlock()
		return 0
	}
	n.mu.Unlock()
	if errno := n.lockIO(ctx, "chmod", nil); errno != 0 {
		return errno
	}
	n.mu.Lock()
	if n.w != nil && n.w.dirty {
		n.w.mode = &mode
		stream := n.w.stream
		n.mu.Unlock()
		if stream != nil && exposes(mode) {
			// Content already streams into a temporary of another mode:
			// close() uploads the spool into a protected one instead.
			n.abortStreamLocked()
		}
		n.ioMu.Unlock()
		return 0
	}
	n.mu.Unlock()
	n.ioMu.Unlock()
	p := n.fsys.remotePath(&n.Inode)
	if err := n.fsys.remote.Chmod(ctx, p, mode); err != nil {
		return chmodErrno(n.fsys.log, p, err)
	}
	n.mu.Lock()
	if n.w != nil {
		n.w.oldMode = mode
	}
	fi := n.info
	n.mu.Unlock()
	if fi != nil {
		updated := withMode{fi, mode}
		n.setInfo(updated)
		n.fsys.setEntry(path.Dir(p), updated)
	}
	return 0
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
