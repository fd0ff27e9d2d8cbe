package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

var (
	_ = (gofs.NodeCreater)((*dirNode)(nil))
	_ = (gofs.NodeMkdirer)((*dirNode)(nil))
	_ = (gofs.NodeMknoder)((*dirNode)(nil))
	_ = (gofs.NodeUnlinker)((*dirNode)(nil))
	_ = (gofs.NodeRmdirer)((*dirNode)(nil))
	_ = (gofs.NodeRenamer)((*dirNode)(nil))
	_ = (gofs.NodeSymlinker)((*dirNode)(nil))
	_ = (gofs.NodeLinker)((*dirNode)(nil))
	_ = (gofs.NodeSetattrer)((*dirNode)(nil))
)

// access refuses writes on a read-only mount; everything else is left to
// the server (and to the kernel with default_permissions).
func (f *FS) access(mask uint32) syscall.Errno {
	const wOK = 2
	if mask&wOK != 0 && f.cfg.ReadOnly {
		return syscall.EROFS
	}
	return 0
}

// changeName checks a name a change would create: our own upload prefix is
// reserved, and names FTP cannot carry are refused.
func (d *dirNode) changeName(name string) syscall.Errno {
	if d.fsys.cfg.ReadOnly {
		return syscall.EROFS
	}
	if strings.HasPrefix(name, uploadPrefix) || strings.ContainsAny(name, "\r\n") {
		return syscall.EINVAL
	}
	return 0
}

// Create asks the server whether the name exists now (the listing that
// said it does not may be dir_cache_ttl old): if it does, O_EXCL fails
// with EEXIST and otherwise the existing file is opened, never truncated
// unless O_TRUNC says so. A new file costs no transfer of its own: it
// reaches the server with its content at close or fsync, and listings
// show it from here until then. FTP has no exclusive create: another
// client that creates the same name between this check and the upload
// is replaced by it.
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if errno := d.changeName(name); errno != 0 {
		return nil, nil, 0, errno
	}
	ctx, cancel := d.fsys.opContext(ctx)
	defer cancel()
	dir := d.fsys.remotePath(&d.Inode)
	p := path.Join(dir, name)
	_, err := d.fsys.remote.Stat(ctx, p)
	switch {
	case err == nil:
		return d.createExisting(ctx, name, flags, out)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, 0, toErrno(d.fsys.log, "create", p, err)
	}
	fi := localEntry{name: name, mode: modeOf(mode & 0o7777), mtime: now()}
	d.fsys.fillAttr(p, fi, &out.Attr)
	node := &fileNode{fsys: d.fsys, info: fi}
	ch := d.NewInode(ctx, node, d.fsys.stableAttr(out.Attr.Ino, syscall.S_IFREG))
	reused := false
	if fn, ok := ch.Operations().(*fileNode); ok {
		node, reused = fn, true // the kernel already knew this inode number
	}
	node.mu.Lock()
	fresh := node.w == nil
	node.mu.Unlock()
	if errno := node.addWriter(ctx, true); errno != 0 {
		return nil, nil, 0, errno // a reused node keeps what it showed
	}
	if reused {
		node.setInfo(fi)
	}
	node.mu.Lock()
	if fresh {
		// Nothing on the server to keep: the file gets the mode it was
		// created with (0644 is what servers give by default).
		node.w.existed = false
		if fi.mode != 0o644 {
			node.w.mode = &fi.mode
		}
	}
	node.mu.Unlock()
	d.fsys.pending.add(p, node)
	d.fsys.setEntry(dir, fi)
	d.fsys.blocks.InvalidatePath(p)
	d.fsys.times.forget(p)
	d.fsys.forgetVersion(p)
	h := d.fsys.newHandle(node, p, fi, version(fi), true)
	h.appendMode = flags&syscall.O_APPEND != 0
	return ch, h, 0, 0
}

// createExisting opens a file that another client created after our
// listing: open(2) without O_EXCL opens what is there.
func (d *dirNode) createExisting(ctx context.Context, name string, flags uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_EXCL != 0 {
		return nil, nil, 0, syscall.EEXIST
	}
	dir := d.fsys.remotePath(&d.Inode)
	d.fsys.dirs.Invalidate(dir) // the listing missed it: its mode too
	l, err := d.fsys.listing(ctx, dir)
	if err != nil {
		return nil, nil, 0, toErrno(d.fsys.log, "create", dir, err)
	}
	ch, errno := d.Lookup(ctx, name, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	fn, ok := ch.Operations().(*fileNode)
	fi, listed := l.Lookup(name)
	if !ok || !listed {
		return nil, nil, 0, syscall.EISDIR
	}
	fh, fuseFlags, errno := fn.openListed(ctx, path.Join(dir, name), fi, l.Started, flags)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return ch, fh, fuseFlags, 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if errno := d.changeName(name); errno != 0 {
		return nil, errno
	}
	ctx, cancel := d.fsys.opContext(ctx)
	defer cancel()
	dir := d.fsys.remotePath(&d.Inode)
	p := path.Join(dir, name)
	if err := d.fsys.remote.MakeDir(ctx, p); err != nil {
		return nil, d.existsOr(ctx, dir, name, toErrno(d.fsys.log, "mkdir", p, err))
	}
	fi := localEntry{name: name, mode: fs.ModeDir | 0o755, mtime: now()}
	d.fsys.setEntry(dir, fi)
	d.fsys.dirs.InvalidateTree(p)
	d.fsys.fillAttr(p, fi, &out.Attr)
	return d.NewInode(ctx, &dirNode{fsys: d.fsys}, d.fsys.stableAttr(out.Attr.Ino, syscall.S_IFDIR)), 0
}

// existsOr turns a refused creation into EEXIST when the name is taken:
// servers answer 550 for both.
func (d *dirNode) existsOr(ctx context.Context, dir, name string, errno syscall.Errno) syscall.Errno {
	d.fsys.dirs.Invalidate(dir)
	if l, err := d.fsys.listing(ctx, dir); err == nil {
		if _, taken := l.Lookup(name); taken {
			return syscall.EEXIST
		}
	}
	return errno
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if d.fsys.cfg.ReadOnly {
		return syscall.EROFS
	}
	dir := d.fsys.remotePath(&d.Inode)
	p := path.Join(dir, name)
	var fn *fileNode
	if ch := d.GetChild(name); ch != nil {
		fn, _ = ch.Operations().(*fileNode)
	}
	if fn != nil {
		// An upload running now would bring the file back after we looked.
		// The kernel holds the directory locked meanwhile: give up after
		// timeout rather than freeze the directory for a whole STOR (no
		// deadline here: lockIO waits timeout from now).
		if errno := fn.lockIO(transferContext(ctx), "unlink", nil); errno != 0 {
			return errno
		}
		defer fn.ioMu.Unlock()
	}
	ctx, cancel := d.fsys.opContext(ctx) // the DELE's own timeout, after the wait
	defer cancel()
	switch {
	case fn != nil && d.fsys.pending.has(fn):
		// The server never confirmed it; a failed upload straight to its
		// name may have left part of it there: delete that, best effort
		// (the file itself exists only here, so the unlink succeeds).
		if fn.sentToName() {
			if err := d.fsys.remote.Delete(ctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				d.fsys.log.Warn("could not delete what a failed upload left", "path", p, "err", err)
			}
		}
		d.fsys.pending.remove(fn)
	default:
		if err := d.fsys.remote.Delete(ctx, p); err != nil {
			return toErrno(d.fsys.log, "unlink", p, err)
		}
	}
	if fn != nil {
		fn.mu.Lock()
		fn.unlinked = true // an open handle must not bring it back
		fn.mu.Unlock()
	}
	d.fsys.dropEntry(dir, name)
	d.fsys.blocks.InvalidatePath(p)
	d.fsys.times.forget(p)
	return 0
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if d.fsys.cfg.ReadOnly {
		return syscall.EROFS
	}
	ctx, cancel := d.fsys.opContext(ctx)
	defer cancel()
	dir := d.fsys.remotePath(&d.Inode)
	p := path.Join(dir, name)
	// Servers refuse a non-empty RMD with a bare 550; look first, so the
	// caller gets ENOTEMPTY (rm -r and rmdir rely on it).
	d.fsys.dirs.Invalidate(p)
	l, err := d.fsys.listing(ctx, p)
	if err != nil {
		return toErrno(d.fsys.log, "rmdir", p, err)
	}
	if len(l.Names) > 0 {
		return syscall.ENOTEMPTY
	}
	if err := d.fsys.remote.RemoveDir(ctx, p); err != nil {
		return toErrno(d.fsys.log, "rmdir", p, err)
	}
	d.fsys.dropEntry(dir, name)
	d.fsys.forgetTree(p)
	return 0
}

// Rename uses RNFR/RNTO. Replacing an existing file is atomic where the
// server's rename is (vsftpd, proftpd, ftpserverlib); servers that refuse it
// get delete-then-rename.
func (d *dirNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if errno := d.changeName(newName); errno != 0 {
		return errno
	}
	const renameNoReplace, renameExchange = 1, 2
	if flags&renameExchange != 0 {
		return syscall.EINVAL // FTP cannot swap two names atomically
	}
	ctx, cancel := d.fsys.opContext(ctx)
	defer cancel()
	fromDir := d.fsys.remotePath(&d.Inode)
	toDir := d.fsys.remotePath(newParent.EmbeddedInode())
	from, to := path.Join(fromDir, name), path.Join(toDir, newName)
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok && d.fsys.pending.has(fn) {
			// The server must have it before it can rename it.
			if errno := fn.upload(transferContext(ctx), nil); errno != 0 {
				return errno
			}
		}
	}
	src, dst, errno := d.renameParties(ctx, fromDir, name, toDir, newName)
	if errno != 0 {
		return errno
	}
	if dst != nil {
		switch {
		case flags&renameNoReplace != 0:
			return syscall.EEXIST
		case dst.IsDir() && !src.IsDir():
			return syscall.EISDIR
		case !dst.IsDir() && src.IsDir():
			return syscall.ENOTDIR
		}
	}
	aside := ""
	if dst != nil && !dst.IsDir() {
		aside = asideName(to)
	}
	if err := d.fsys.remote.Rename(ctx, from, to, aside); err != nil {
		return toErrno(d.fsys.log, "rename", from, err)
	}
	if ch := d.GetChild(name); ch != nil {
		d.fsys.displace(ch) // go-fuse moves it once this returns
	}
	d.fsys.dropEntry(fromDir, name)
	d.fsys.setEntry(toDir, renamed{src, newName})
	for _, p := range []string{from, to} {
		if src.IsDir() {
			d.fsys.forgetTree(p)
			continue
		}
		// A file renamed over another: the target's blocks, times and
		// version are the replaced file's.
		d.fsys.blocks.InvalidatePath(p)
		d.fsys.times.forget(p)
		d.fsys.forgetVersion(p)
	}
	return 0
}

// forgetTree forgets everything cached for directory dir and below it,
// renamed or removed: listings, blocks (and fills of them in flight, so
// a prefetch under the old name is not stored), exact times, content
// versions, the reading order followed there. A directory moved in under dir's name may hold files of the
// same size and time as the old one's, which would get the same block
// keys: only the path told them apart.
func (f *FS) forgetTree(dir string) {
	f.dirs.InvalidateTree(dir)
	f.blocks.InvalidateTree(dir)
	f.times.forgetTree(dir)
	f.forgetVersionTree(dir)
	f.prefetch.forgetTree(dir)
}

// renameParties looks up the source (which must exist) and the target.
func (d *dirNode) renameParties(ctx context.Context, fromDir, name, toDir, newName string) (src, dst fs.FileInfo, errno syscall.Errno) {
	l, err := d.fsys.listing(ctx, fromDir)
	if err != nil {
		return nil, nil, toErrno(d.fsys.log, "rename", fromDir, err)
	}
	src, ok := l.Lookup(name)
	if !ok {
		return nil, nil, syscall.ENOENT
	}
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok {
			if local, ok := fn.localInfo(); ok {
				src = local
			}
		}
	}
	tl, err := d.fsys.listing(ctx, toDir)
	if err != nil {
		return nil, nil, toErrno(d.fsys.log, "rename", toDir, err)
	}
	dst, _ = tl.Lookup(newName)
	return src, dst, 0
}

// FTP has no symlinks, hard links or special files to create.

func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.fsys.cfg.ReadOnly {
		return nil, syscall.EROFS
	}
	return nil, syscall.EPERM
}

func (d *dirNode) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.fsys.cfg.ReadOnly {
		return nil, syscall.EROFS
	}
	return nil, syscall.EPERM
}

func (d *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.fsys.cfg.ReadOnly {
		return nil, syscall.EROFS
	}
	return nil, syscall.EPERM
}

// Setattr on a directory: modes go to the server (SITE CHMOD); times too
// (MFMT, or vsftpd's MDTM form) where it takes them for directories, and
// are otherwise remembered and shown for this mount, so tar -x and rsync
// -a can restore directories.
func (d *dirNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if d.fsys.cfg.ReadOnly {
		return syscall.EROFS
	}
	if _, ok := in.GetSize(); ok {
		return syscall.EISDIR
	}
	if mode, ok := in.GetMode(); ok && !d.fsys.cfg.ChmodIgnore && !d.IsRoot() {
		cctx, cancel := d.fsys.opContext(ctx)
		defer cancel()
		p := d.fsys.remotePath(&d.Inode)
		m := modeOf(mode)
		if err := d.fsys.remote.Chmod(cctx, p, m); err != nil {
			return chmodErrno(d.fsys.log, p, err)
		}
		if fi, ok, _, err := d.fsys.entry(cctx, p); err == nil && ok {
			d.fsys.setEntry(path.Dir(p), withMode{fi, m})
		}
	}
	if mtime, ok := in.GetMTime(); ok && !d.IsRoot() {
		cctx, cancel := d.fsys.opContext(ctx)
		defer cancel()
		p := d.fsys.remotePath(&d.Inode)
		t := mtime.UTC()
		if err := d.fsys.remote.SetTime(cctx, p, t); err != nil {
			d.fsys.log.Debug("server did not take the directory's time; kept for this mount", "path", p, "err", err)
			d.fsys.times.keep(p, t)
		} else {
			d.fsys.times.set(p, t)
		}
		if fi, ok, _, err := d.fsys.entry(cctx, p); err == nil && ok {
			d.fsys.setEntry(path.Dir(p), withTime{fi, t})
		}
	}
	return d.Getattr(ctx, fh, out)
}
