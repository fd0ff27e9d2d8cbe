package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// mountInfoPath is where the kernel lists this process's mounts.
const mountInfoPath = "/proc/self/mountinfo"

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point, fstype, source string
}

// isFUSE reports whether the entry is a FUSE filesystem (ours or another's).
func (e mountEntry) isFUSE() bool {
	return e.fstype == "fuse" || e.fstype == "fuseblk" || strings.HasPrefix(e.fstype, "fuse.")
}

// checkMountPoint refuses a mount point the kernel would accept but the user
// cannot want: a missing one, a file, and one that already carries a FUSE
// mount. mount(2) stacks a second mount over the first without complaint,
// which hides the first until the second is unmounted. Other filesystems
// there are fine: systemd's x-systemd.automount puts an autofs mount on the
// mount point and then runs us over it.
func checkMountPoint(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return usageError{fmt.Errorf("mount point %s does not exist (create it with mkdir -p %s)", dir, dir)}
	case errors.Is(err, syscall.ENOTCONN):
		// What a FUSE mount whose process died (kill -9, a crash) answers.
		dead := dir
		if e, ok := readMountContaining(dir); ok && e.isFUSE() {
			dead = e.point
		}
		return deadMountError(dir, dead)
	case err != nil:
		return fmt.Errorf("mount point %s: %v", dir, errors.Unwrap(err))
	case !fi.IsDir():
		return usageError{fmt.Errorf("mount point %s is not a directory", dir)}
	}
	e, ok := readMountAt(dir)
	if !ok || !e.isFUSE() {
		return nil
	}
	// The kernel answers stat of a dead mount's root from its attribute
	// cache for a while; statfs always asks the (gone) process.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); errors.Is(err, syscall.ENOTCONN) {
		return deadMountError(dir, dir)
	}
	return fmt.Errorf("%s is already mounted (%s %s): unmount it first with fusermount3 -u %s", dir, e.fstype, e.source, dir)
}

func deadMountError(dir, mountPoint string) error {
	return fmt.Errorf("mount point %s: a dead FUSE mount is still there (transport endpoint is not connected): run fusermount3 -u %s", dir, mountPoint)
}

// readMountAt returns the topmost mount whose mount point is dir itself.
func readMountAt(dir string) (mountEntry, bool) {
	return scanMountInfo(func(r io.Reader) (mountEntry, bool) { return topMountAt(r, resolvePath(dir)) })
}

// readMountContaining returns the mount dir lies in (dir itself or an ancestor).
func readMountContaining(dir string) (mountEntry, bool) {
	return scanMountInfo(func(r io.Reader) (mountEntry, bool) { return mountContaining(r, resolvePath(dir)) })
}

func scanMountInfo(f func(io.Reader) (mountEntry, bool)) (mountEntry, bool) {
	file, err := os.Open(mountInfoPath)
	if err != nil {
		return mountEntry{}, false // no /proc: the kernel still refuses what it must
	}
	defer file.Close()
	return f(file)
}

// resolvePath makes dir absolute and resolves symlinks as the kernel will.
// A dead FUSE mount fails every lookup inside it, so then only the parent is
// resolved.
func resolvePath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Clean(dir)
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		return p
	}
	if parent, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(parent, filepath.Base(abs))
	}
	return abs
}

// topMountAt returns the last (topmost: stacked mounts come later) entry
// mounted exactly at dir.
func topMountAt(r io.Reader, dir string) (mountEntry, bool) {
	var top mountEntry
	found := false
	for e := range mountEntries(r) {
		if e.point == dir {
			top, found = e, true
		}
	}
	return top, found
}

// mountContaining returns the entry with the longest mount point that is dir
// or one of its ancestors.
func mountContaining(r io.Reader, dir string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for e := range mountEntries(r) {
		if within(dir, e.point) && (!found || len(e.point) >= len(best.point)) {
			best, found = e, true
		}
	}
	return best, found
}

func within(p, root string) bool {
	return p == root || root == "/" || strings.HasPrefix(p, root+"/")
}

// mountEntries parses mountinfo lines: "ID PARENT MAJ:MIN ROOT POINT OPTS
// [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS" (proc(5)).
func mountEntries(r io.Reader) func(yield func(mountEntry) bool) {
	return func(yield func(mountEntry) bool) {
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 0, 4096), 1<<20)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) < 7 {
				continue
			}
			e := mountEntry{point: unescapeMountField(fields[4])}
			for i := 6; i < len(fields); i++ {
				if fields[i] == "-" && i+1 < len(fields) {
					e.fstype = unescapeMountField(fields[i+1])
					if i+2 < len(fields) {
						e.source = unescapeMountField(fields[i+2])
					}
					break
				}
			}
			if !yield(e) {
				return
			}
		}
	}
}

// unescapeMountField undoes the kernel's octal escapes of space, tab,
// newline and backslash.
func unescapeMountField(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
