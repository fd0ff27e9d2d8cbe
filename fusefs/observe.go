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
// node method.
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
	if o.obs != nil {
		o.obs.Bytes(0, int(n))
	}
	o.done("write", st, start, "node", in.NodeId, "offset", in.Offset, "size", len(data))
	return n, st
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
