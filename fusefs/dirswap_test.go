package fusefs

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// preciseInfo is a listing entry whose time is exact (MLSD).
type preciseInfo struct{ fs.FileInfo }

func (preciseInfo) PreciseTime() bool { return true }

// preciseRemote lists like an MLSD server: exact times.
type preciseRemote struct{ *walkRemote }

func (r preciseRemote) List(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	l, err := r.walkRemote.List(ctx, dir)
	for i, fi := range l {
		if fi.Mode().IsRegular() {
			l[i] = preciseInfo{fi}
		}
	}
	return l, err
}

// A directory renamed away and another renamed to its name (a release
// swapped in: mv d old && mv new d) must not serve the old directory's
// cached blocks for the new directory's files. Files with the same size
// and time (reproducible builds, cp -p, tar) share a content version, so
// only the path tells them apart: a rename of a directory drops the blocks
// of everything below it, and the nodes it moves no longer answer for
// their old paths (identity.go).
func TestDirSwapServesTheNewFiles(t *testing.T) {
	r := preciseRemote{newWalkRemote()}
	r.add("/d/f00", bytes.Repeat([]byte{'a'}, 4<<10))
	r.add("/n/f00", bytes.Repeat([]byte{'b'}, 4<<10)) // same size, same (default) time
	mnt, _ := mountWalkFetching(t, r, 64<<20, -1)
	if got, err := os.ReadFile(filepath.Join(mnt, "d", "f00")); err != nil || got[0] != 'a' {
		t.Fatalf("first read: %v %q", err, got[:1])
	}
	if err := os.Rename(filepath.Join(mnt, "d"), filepath.Join(mnt, "o")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "n"), filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "d", "f00"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 'b' {
		t.Errorf("d/f00 after the swap reads %q..., want the new directory's file (b)", got[:4])
	}
	got, err = os.ReadFile(filepath.Join(mnt, "o", "f00"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 'a' {
		t.Errorf("o/f00 reads %q..., want a", got[:4])
	}
}

// The same swap with prefetch: files the program never read, fetched
// ahead into the old directory's paths, are not served for the new one.
func TestDirSwapDropsFilesFetchedAhead(t *testing.T) {
	r := preciseRemote{newWalkRemote()}
	for i := range 5 {
		r.add("/d/"+walkName(i), bytes.Repeat([]byte{byte('a' + i)}, 4<<10))
		r.add("/n/"+walkName(i), bytes.Repeat([]byte{byte('A' + i)}, 4<<10))
	}
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys) // f02..f04 of /d fetched ahead, never read
	if err := os.Rename(filepath.Join(mnt, "d"), filepath.Join(mnt, "o")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "n"), filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "d", "f03"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 'D' {
		t.Errorf("d/f03 after the swap reads %q..., want the new directory's (D)", got[:4])
	}
}

// After the swap, the directory under the old name is walked afresh: its
// files are fetched ahead from the first ones read, as the old walk's
// position would otherwise skip the files it had queued.
func TestDirSwapStartsANewWalk(t *testing.T) {
	r := preciseRemote{newWalkRemote()}
	for i := range 6 {
		r.add("/d/"+walkName(i), bytes.Repeat([]byte{byte('a' + i)}, 4<<10))
		r.add("/n/"+walkName(i), bytes.Repeat([]byte{byte('A' + i)}, 4<<10))
	}
	mnt, fsys := mountWalk(t, r, 64<<20)
	readWalk(t, mnt, 0)
	readWalk(t, mnt, 1)
	settled(t, fsys) // f02..f05 of /d fetched ahead
	if err := os.Rename(filepath.Join(mnt, "d"), filepath.Join(mnt, "o")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mnt, "n"), filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := os.ReadFile(filepath.Join(mnt, "d", walkName(i))); err != nil {
			t.Fatal(err)
		}
	}
	settled(t, fsys)
	for i := 2; i < 6; i++ {
		// One stream for the old file under this path, one for the new.
		if n := r.opened("/d/" + walkName(i)); n != 2 {
			t.Errorf("%s: %d streams, want 2 (the new directory's fetched ahead too)", walkName(i), n)
		}
	}
}
