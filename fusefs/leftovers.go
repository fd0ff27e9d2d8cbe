package fusefs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Upload temporaries are named
//
//	.ftpsfs-upload-<space>-<pid>-<random>
//
// where space identifies the process-ID space of the uploading process (a
// hash of the kernel's boot ID and the PID namespace): on one machine, in
// one container, since one boot, a PID names one live process. A
// temporary is then provably abandoned when its space is ours and its
// process is gone (a mount that was killed, or this mount's own upload
// that could not be cleaned up), and is deleted when a listing shows it.
// An upload from another machine, container or boot cannot be proven dead
// by its PID: it is deleted only once it has not changed for
// foreignUploadAge, far beyond any timeout a live upload survives. Names of
// the older form (.ftpsfs-upload-<random>) are treated as foreign.
const foreignUploadAge = 24 * time.Hour

// uploadOwner is this process's share of temporary names.
type uploadOwner struct {
	space string // "" when /proc does not tell: nothing is ever provably ours
	pid   int

	mu       sync.Mutex
	active   map[string]bool // temporaries of uploads running now, by path
	queue    []leftover      // abandoned temporaries to delete
	cleaning bool            // a deleter is running
}

// processOwner is shared by every mount of this process: the PID in a
// temporary's name says nothing about which of them is uploading it.
var processOwner = sync.OnceValue(func() *uploadOwner {
	return &uploadOwner{space: pidSpace(), pid: os.Getpid(), active: map[string]bool{}}
})

// pidSpace hashes the boot ID and the PID namespace, or is "".
func pidSpace() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(string(boot)) + "\x00" + ns))
	return hex.EncodeToString(sum[:4])
}

// asidePrefix starts the name a file is moved to while a server that
// refuses to rename onto it is given its replacement. Such a file may be
// the only copy of the old content (if moving it back failed), so it is
// shown through the mount and never deleted as a leftover.
const asidePrefix = ".ftpsfs-aside-"

func asideName(p string) string {
	return path.Join(path.Dir(p), asidePrefix+randomSuffix()+"-"+path.Base(p))
}

// tmpName is a fresh temporary next to p, registered as active until done
// is called.
func (f *FS) tmpName(p string) (tmp string, done func()) {
	space := f.owner.space
	if space == "" {
		space = "x"
	}
	tmp = path.Join(path.Dir(p), uploadPrefix+space+"-"+strconv.Itoa(f.owner.pid)+"-"+randomSuffix())
	f.owner.mu.Lock()
	f.owner.active[tmp] = true
	f.owner.mu.Unlock()
	return tmp, func() {
		f.owner.mu.Lock()
		delete(f.owner.active, tmp)
		f.owner.mu.Unlock()
	}
}

// abandoned reports whether the temporary fi (listed in dir) belongs to
// no live upload.
func (f *FS) abandoned(dir string, fi fs.FileInfo) bool {
	rest := strings.TrimPrefix(fi.Name(), uploadPrefix)
	parts := strings.SplitN(rest, "-", 3)
	old := !fi.ModTime().IsZero() && time.Since(fi.ModTime()) > foreignUploadAge
	if len(parts) != 3 || f.owner.space == "" || parts[0] != f.owner.space {
		return old
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return old
	}
	if pid == f.owner.pid {
		f.owner.mu.Lock()
		defer f.owner.mu.Unlock()
		return !f.owner.active[path.Join(dir, fi.Name())]
	}
	return !processAlive(pid) || old // a live PID may have been reused
}

// processAlive: signal 0 reaches the process (EPERM: it exists, as
// another user's).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// collectLeftover queues an abandoned temporary for deletion by one
// background deleter, which runs while the queue is not empty; a full
// queue drops it (the next listing finds it again).
func (f *FS) collectLeftover(p string) {
	o := f.owner
	o.mu.Lock()
	defer o.mu.Unlock()
	l := leftover{f, p}
	if len(o.queue) >= maxQueuedLeftovers || slices.Contains(o.queue, l) {
		return
	}
	o.queue = append(o.queue, l)
	if !o.cleaning {
		o.cleaning = true
		go o.cleanLeftovers()
	}
}

// leftover is a temporary on one mount's server.
type leftover struct {
	f *FS
	p string
}

const maxQueuedLeftovers = 256

// cleanLeftovers deletes queued temporaries one at a time, each bounded by
// timeout, and ends when the queue is empty.
func (o *uploadOwner) cleanLeftovers() {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.cleaning = false
			o.mu.Unlock()
			return
		}
		l := o.queue[0]
		o.queue = o.queue[1:]
		o.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), l.f.cfg.Timeout)
		err := l.f.remote.Delete(ctx, l.p)
		cancel()
		if err != nil {
			l.f.log.Debug("could not delete an abandoned upload", "path", l.p, "err", err)
		} else {
			l.f.log.Info("deleted an abandoned upload", "path", l.p)
		}
	}
}
