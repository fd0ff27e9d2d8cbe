package fusefs

import (
	"hash/fnv"
	"io/fs"
	"strconv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileType is the S_IF* bits for an entry.
func fileType(fi fs.FileInfo) uint32 {
	switch {
	case fi.IsDir():
		return syscall.S_IFDIR
	case fi.Mode()&fs.ModeSymlink != 0:
		return syscall.S_IFLNK
	default:
		return syscall.S_IFREG
	}
}

// inodeNumber is stable for a path and type, so the kernel and programs like
// find and tar (which compare st_ino) see the same number on every lookup.
func inodeNumber(p string, typ uint32) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(p))
	_, _ = h.Write([]byte{0, byte(typ >> 12)})
	ino := h.Sum64()
	if ino <= 1 { // 1 is the root
		ino += 2
	}
	return ino
}

// fillAttr describes an entry to the kernel.
func (f *FS) fillAttr(p string, fi fs.FileInfo, out *fuse.Attr) {
	typ := fileType(fi)
	perm := unixBits(fi.Mode())
	if typ != syscall.S_IFLNK {
		perm &^= f.cfg.Umask
	}
	out.Mode = typ | perm
	out.Ino = inodeNumber(p, typ)
	out.Size = uint64(fi.Size())
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = uint32(f.cfg.BlockSize)
	out.Nlink = 1
	if typ == syscall.S_IFDIR {
		out.Nlink = 2
	}
	t := fi.ModTime()
	if t.IsZero() {
		t = f.mounted
	}
	out.SetTimes(&t, &t, &t)
	out.Uid, out.Gid = f.cfg.UID, f.cfg.GID
}

// rootAttr describes the mount point itself, which no listing names.
func (f *FS) rootAttr(out *fuse.Attr) {
	out.Mode = syscall.S_IFDIR | (0o755 &^ f.cfg.Umask)
	out.Ino = 1
	out.Nlink = 2
	out.Blksize = uint32(f.cfg.BlockSize)
	t := f.mounted
	out.SetTimes(&t, &t, &t)
	out.Uid, out.Gid = f.cfg.UID, f.cfg.GID
}

// version identifies a file's content as listed; a change gives new cache keys.
func version(fi fs.FileInfo) string {
	return fi.ModTime().UTC().Format(time.RFC3339Nano) + "/" + strconv.FormatInt(fi.Size(), 10)
}

// unixBits is a mode's permission bits with setuid, setgid and sticky as
// stat(2) shows them.
func unixBits(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		bits |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		bits |= syscall.S_ISVTX
	}
	return bits
}

// modeOf is the inverse of unixBits, for a mode chmod(2) or open(2) gives.
func modeOf(bits uint32) fs.FileMode {
	m := fs.FileMode(bits & 0o777)
	if bits&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if bits&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if bits&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
