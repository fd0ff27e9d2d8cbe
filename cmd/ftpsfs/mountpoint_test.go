package main

import (
	"os"
	"strings"
	"testing"
)

const sampleMountInfo = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:40 / /mnt/pub rw,nosuid,nodev,relatime shared:2 - fuse.ftpsfs ftpes://alice@host/ rw,user_id=0
41 40 0:41 / /mnt/pub rw,nosuid,nodev,relatime - fuse.sshfs alice@other: rw,user_id=0
50 22 0:50 / /mnt/auto rw,relatime shared:3 - autofs systemd-1 rw,fd=52
60 22 0:60 / /mnt/with\040space rw - fuse.ftpsfs ftps://h/ rw
`

func TestTopMountAt(t *testing.T) {
	cases := []struct {
		dir, fstype string
		found, fuse bool
	}{
		{"/mnt/pub", "fuse.sshfs", true, true}, // the stacked one is on top
		{"/mnt/auto", "autofs", true, false},   // x-systemd.automount: allowed
		{"/mnt/with space", "fuse.ftpsfs", true, true},
		{"/mnt/pub/sub", "", false, false}, // inside a mount, not a mount point
		{"/mnt", "", false, false},
	}
	for _, c := range cases {
		e, ok := topMountAt(strings.NewReader(sampleMountInfo), c.dir)
		if ok != c.found || e.fstype != c.fstype || e.isFUSE() != c.fuse {
			t.Errorf("%s: got %+v %v, want type %q found %v fuse %v", c.dir, e, ok, c.fstype, c.found, c.fuse)
		}
	}
}

func TestMountContaining(t *testing.T) {
	for dir, want := range map[string]string{"/mnt/pub/a/b": "/mnt/pub", "/mnt/pub": "/mnt/pub", "/mnt/public": "/", "/srv": "/"} {
		if e, ok := mountContaining(strings.NewReader(sampleMountInfo), dir); !ok || e.point != want {
			t.Errorf("%s: got %+v, want mount point %s", dir, e, want)
		}
	}
}

// A directory that is not a mount point passes; a file and a missing path
// are usage errors naming the fix.
func TestCheckMountPointPlainCases(t *testing.T) {
	dir := t.TempDir()
	if err := checkMountPoint(dir); err != nil {
		t.Errorf("empty directory refused: %v", err)
	}
	f := dir + "/file"
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkMountPoint(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file: %v", err)
	}
	if err := checkMountPoint(dir + "/nope"); err == nil || !strings.Contains(err.Error(), "mkdir -p") {
		t.Errorf("missing: %v", err)
	}
}
