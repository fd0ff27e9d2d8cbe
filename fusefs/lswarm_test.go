package fusefs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

func (r *recorder) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, o := range r.ops {
		m[o]++
	}
	return m
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = nil
}

// TestWarmLsCostsNothingPerEntry runs `ls -l` on a large cached directory
// and checks that no work per entry reaches the daemon beyond READDIRPLUS
// itself: no LOOKUP, GETATTR or GETXATTR per entry, and READDIRPLUS's own
// per-entry lookups answered from the listing the entries came from rather
// than through the listing cache once per entry (which, with a timeout
// context per call, was most of the daemon's time).
func TestWarmLsCostsNothingPerEntry(t *testing.T) {
	const n = 3000
	r := newFakeRemote()
	for i := range n {
		r.add(fmt.Sprintf("/list/f%05d", i), []byte("x"))
	}
	rec := &recorder{}
	dir := t.TempDir()
	dirs := cache.NewDirs(time.Minute, 100, nil)
	fsys := New(r, dirs, cache.NewBlocks(1<<20), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Timeout: 5 * time.Second, SpoolDir: t.TempDir(),
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: time.Second, EntryTimeout: time.Second, Observer: rec})
	if err != nil {
		t.Fatalf("mount failed (is /dev/fuse there, and fuse3 installed? apt-get install fuse3): %v", err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	ls := func() {
		t.Helper()
		out, err := exec.Command("ls", "-l", filepath.Join(dir, "list")).Output()
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Count(string(out), "\n"); lines != n+1 {
			t.Fatalf("ls -l printed %d lines, want %d entries + total", lines, n)
		}
	}
	ls() // cold: lists the root and list/
	lists := r.lists.Load()
	for run := range 2 {
		if run == 1 {
			// Past the kernel's attribute and entry timeouts: its cache
			// no longer answers, READDIRPLUS must again.
			time.Sleep(1100 * time.Millisecond)
		}
		rec.reset()
		before := dirs.Stats()
		ls()
		after := dirs.Stats()
		ops := rec.counts()
		for _, op := range []string{"lookup", "getattr", "getxattr", "listxattr"} {
			if ops[op] > 2 { // the directory itself, not its entries
				t.Errorf("run %d: %d %s requests for one ls -l of %d entries: %v", run, ops[op], op, n, ops)
			}
		}
		if ops["readdirplus"] == 0 || ops["readdirplus"] > 10 {
			t.Errorf("run %d: %d readdirplus requests, want a few: %v", run, ops["readdirplus"], ops)
		}
		if got := after.Hits - before.Hits; got > 4 {
			t.Errorf("run %d: %d listing cache hits for one ls -l of %d entries: a lookup per entry", run, got, n)
		}
		if after.Loads != before.Loads || r.lists.Load() != lists {
			t.Errorf("run %d: the warm ls -l listed again (%d lists, %d before)", run, r.lists.Load(), lists)
		}
	}
}

// TestDirHandleSeeks reads a directory in small pieces, seeks back to a
// position it was told and to the start, and gets the same entries again.
func TestDirHandleSeeks(t *testing.T) {
	r := newFakeRemote()
	for i := range 500 {
		r.add(fmt.Sprintf("/d/name-%03d", i), nil)
	}
	mnt := mount(t, r)
	fd, err := syscall.Open(filepath.Join(mnt, "d"), syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	// readAll returns the names from the current position on, and the
	// position after the first piece.
	readAll := func() ([]string, int64) {
		var names []string
		var mark int64 = -1
		buf := make([]byte, 512) // a few entries per getdents64
		for {
			n, err := syscall.Getdents(fd, buf)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return names, mark
			}
			if mark < 0 {
				if mark, err = syscall.Seek(fd, 0, io.SeekCurrent); err != nil {
					t.Fatal(err)
				}
			}
			_, _, got := syscall.ParseDirent(buf[:n], -1, nil)
			names = append(names, got...)
		}
	}
	all, mark := readAll()
	if len(all) != 500 { // ParseDirent leaves out . and ..
		t.Fatalf("read %d names, want 500", len(all))
	}
	if _, err := syscall.Seek(fd, mark, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tail, _ := readAll()
	if len(tail) == 0 || !slices.Equal(tail, all[len(all)-len(tail):]) {
		t.Errorf("after seeking to %d: %d names, not the tail of the %d", mark, len(tail), len(all))
	}
	if _, err := syscall.Seek(fd, 0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	again, _ := readAll()
	if !slices.Equal(again, all) {
		t.Errorf("after rewinding: %d names, want the same %d", len(again), len(all))
	}
}

func TestJoinNameIsPathJoin(t *testing.T) {
	for _, c := range [][2]string{{"/", "a"}, {"/x", "b c"}, {"/x/y", "é#%"}, {"/x/y", ".hidden"}} {
		if got, want := joinName(c[0], c[1]), path.Join(c[0], c[1]); got != want {
			t.Errorf("joinName(%q, %q) = %q, want %q", c[0], c[1], got, want)
		}
	}
}

// TestOpenDirectoryAfterLocalChanges: a directory handle opened before an
// rm through the mount does not bring the removed name back (READDIRPLUS
// answers from the listing the rm patched, not from the handle's
// snapshot), so creating the name again works; rewinddir reads anew.
func TestOpenDirectoryAfterLocalChanges(t *testing.T) {
	r := newFakeRemote()
	for i := range 200 {
		r.add(fmt.Sprintf("/d/name-%03d", i), []byte("x"))
	}
	mnt := mount(t, r)
	fd, err := syscall.Open(filepath.Join(mnt, "d"), syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, 512) // a few entries per getdents64
	if _, err := syscall.Getdents(fd, buf); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(mnt, "d", "name-150")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	for { // the rest of the directory, through READDIRPLUS
		n, err := syscall.Getdents(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := os.Lstat(victim); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a removed name after reading an open directory: %v, want ENOENT", err)
	}
	if err := os.WriteFile(victim, []byte("new"), 0o644); err != nil {
		t.Errorf("creating the removed name again: %v", err)
	}
	if _, err := syscall.Seek(fd, 0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<16)
	n, err := syscall.Getdents(fd, big)
	if err != nil {
		t.Fatal(err)
	}
	_, _, names := syscall.ParseDirent(big[:n], -1, nil)
	if !slices.Contains(names, "name-150") {
		t.Errorf("after rewinddir the re-created name is missing (%d names read)", len(names))
	}
}
