package fusefs

import (
	"log/slog"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Observer hears about every FUSE operation the kernel sends: for metrics.
type Observer interface {
	Op(op string, errno syscall.Errno, took time.Duration)
	Bytes(read, written int)
}

// observed wraps the raw filesystem so every operation is counted and, in
// debug mode, logged with its duration, in one place instead of in every
// node method. It overrides every method of fuse.RawFileSystem the kernel's
// requests reach (observe_test.go enumerates them): a method left to the
// embedded interface would be served unseen, as writes were while only
// Write was wrapped and go-fuse delivers them through Writev.
type observed struct {
	fuse.RawFileSystem
	obs   Observer
	log   *slog.Logger
	debug bool
}

func (o *observed) done(op string, st fuse.Status, start time.Time, attrs ...any) {
	took := time.Since(start)
	errno := syscall.Errno(st)
	if o.obs != nil {
		o.obs.Op(op, errno, took)
	}
	if o.debug {
		args := append([]any{"op", op, "took", took.Round(time.Microsecond), "status", statusText(errno)}, attrs...)
		o.log.Debug("fuse", args...)
	}
}

func statusText(errno syscall.Errno) string {
	if errno == 0 {
		return "OK"
	}
	return errno.Error()
}

func (o *observed) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Lookup(c, h, name, out)
	o.done("lookup", st, start, "node", h.NodeId, "name", name)
	return st
}

func (o *observed) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.GetAttr(c, in, out)
	o.done("getattr", st, start, "node", in.NodeId)
	return st
}

func (o *observed) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.SetAttr(c, in, out)
	o.done("setattr", st, start, "node", in.NodeId)
	return st
}

func (o *observed) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Mkdir(c, in, name, out)
	o.done("mkdir", st, start, "node", in.NodeId, "name", name)
	return st
}

func (o *observed) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Unlink(c, h, name)
	o.done("unlink", st, start, "node", h.NodeId, "name", name)
	return st
}

func (o *observed) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Rmdir(c, h, name)
	o.done("rmdir", st, start, "node", h.NodeId, "name", name)
	return st
}

func (o *observed) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Rename(c, in, oldName, newName)
	o.done("rename", st, start, "node", in.NodeId, "name", oldName, "new_node", in.Newdir, "new_name", newName)
	return st
}

func (o *observed) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	start := time.Now()
	out, st := o.RawFileSystem.Readlink(c, h)
	o.done("readlink", st, start, "node", h.NodeId)
	return out, st
}

func (o *observed) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Create(c, in, name, out)
	o.done("create", st, start, "node", in.NodeId, "name", name)
	return st
}

func (o *observed) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Open(c, in, out)
	o.done("open", st, start, "node", in.NodeId, "flags", in.Flags)
	return st
}

func (o *observed) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	start := time.Now()
	res, st := o.RawFileSystem.Read(c, in, buf)
	n := 0
	if res != nil {
		n = res.Size()
	}
	if o.obs != nil {
		o.obs.Bytes(n, 0)
	}
	o.done("read", st, start, "node", in.NodeId, "offset", in.Offset, "size", in.Size, "got", n)
	return res, st
}

func (o *observed) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.Write(c, in, data)
	o.wrote(n, st, start, in, len(data))
	return n, st
}

// Writev is how go-fuse delivers every WRITE; only on ENOSYS does it call
// Write, which then counts the request instead.
func (o *observed) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.Writev(c, in, data)
	if st == fuse.ENOSYS {
		return n, st
	}
	size := 0
	for _, d := range data {
		size += len(d)
	}
	o.wrote(n, st, start, in, size)
	return n, st
}

func (o *observed) wrote(n uint32, st fuse.Status, start time.Time, in *fuse.WriteIn, size int) {
	if o.obs != nil {
		o.obs.Bytes(0, int(n))
	}
	o.done("write", st, start, "node", in.NodeId, "offset", in.Offset, "size", size)
}

func (o *observed) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Flush(c, in)
	o.done("flush", st, start, "node", in.NodeId)
	return st
}

func (o *observed) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Fsync(c, in)
	o.done("fsync", st, start, "node", in.NodeId)
	return st
}

func (o *observed) Release(c <-chan struct{}, in *fuse.ReleaseIn) {
	start := time.Now()
	o.RawFileSystem.Release(c, in)
	o.done("release", fuse.OK, start, "node", in.NodeId)
}

func (o *observed) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.OpenDir(c, in, out)
	o.done("opendir", st, start, "node", in.NodeId)
	return st
}

func (o *observed) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.ReadDir(c, in, out)
	o.done("readdir", st, start, "node", in.NodeId, "offset", in.Offset)
	return st
}

func (o *observed) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.ReadDirPlus(c, in, out)
	o.done("readdirplus", st, start, "node", in.NodeId, "offset", in.Offset)
	return st
}

func (o *observed) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.StatFs(c, h, out)
	o.done("statfs", st, start, "node", h.NodeId)
	return st
}

func (o *observed) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Access(c, in)
	o.done("access", st, start, "node", in.NodeId, "mask", in.Mask)
	return st
}

func (o *observed) Forget(nodeID, nlookup uint64) {
	start := time.Now()
	o.RawFileSystem.Forget(nodeID, nlookup)
	o.done("forget", fuse.OK, start, "node", nodeID, "nlookup", nlookup)
}

func (o *observed) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Mknod(c, in, name, out)
	o.done("mknod", st, start, "node", in.NodeId, "name", name)
	return st
}

func (o *observed) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Link(c, in, name, out)
	o.done("link", st, start, "node", in.NodeId, "name", name, "old_node", in.Oldnodeid)
	return st
}

func (o *observed) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Symlink(c, h, target, name, out)
	o.done("symlink", st, start, "node", h.NodeId, "name", name)
	return st
}

func (o *observed) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.GetXAttr(c, h, attr, dest)
	o.done("getxattr", st, start, "node", h.NodeId, "attr", attr)
	return n, st
}

func (o *observed) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.ListXAttr(c, h, dest)
	o.done("listxattr", st, start, "node", h.NodeId)
	return n, st
}

func (o *observed) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.SetXAttr(c, in, attr, data)
	o.done("setxattr", st, start, "node", in.NodeId, "attr", attr)
	return st
}

func (o *observed) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.RemoveXAttr(c, h, attr)
	o.done("removexattr", st, start, "node", h.NodeId, "attr", attr)
	return st
}

func (o *observed) Tmpfile(c <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Tmpfile(c, in, out)
	o.done("tmpfile", st, start, "node", in.NodeId)
	return st
}

func (o *observed) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Lseek(c, in, out)
	o.done("lseek", st, start, "node", in.NodeId, "offset", in.Offset, "whence", in.Whence)
	return st
}

func (o *observed) GetLk(c <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.GetLk(c, in, out)
	o.done("getlk", st, start, "node", in.NodeId)
	return st
}

func (o *observed) SetLk(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.SetLk(c, in)
	o.done("setlk", st, start, "node", in.NodeId)
	return st
}

func (o *observed) SetLkw(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.SetLkw(c, in)
	o.done("setlkw", st, start, "node", in.NodeId)
	return st
}

func (o *observed) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	start := time.Now()
	n, st := o.RawFileSystem.CopyFileRange(c, in)
	o.done("copyfilerange", st, start, "node", in.NodeId, "len", in.Len)
	return n, st
}

func (o *observed) Ioctl(c <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Ioctl(c, in, inbuf, out, outbuf)
	o.done("ioctl", st, start, "node", in.NodeId, "cmd", in.Cmd)
	return st
}

func (o *observed) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Fallocate(c, in)
	o.done("fallocate", st, start, "node", in.NodeId, "offset", in.Offset, "length", in.Length)
	return st
}

func (o *observed) ReleaseDir(in *fuse.ReleaseIn) {
	start := time.Now()
	o.RawFileSystem.ReleaseDir(in)
	o.done("releasedir", fuse.OK, start, "node", in.NodeId)
}

func (o *observed) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.FsyncDir(c, in)
	o.done("fsyncdir", st, start, "node", in.NodeId)
	return st
}

func (o *observed) Statx(c <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	start := time.Now()
	st := o.RawFileSystem.Statx(c, in, out)
	o.done("statx", st, start, "node", in.NodeId)
	return st
}
