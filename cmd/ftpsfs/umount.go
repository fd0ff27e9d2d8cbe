package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// unmountCommand is `ftpsfs umount DIR`: umount(8) as root, fusermount3 -u
// otherwise (the only way a user may unmount a FUSE mount). It refuses a
// directory that carries no ftpsfs mount, so a slip of the finger does not
// unmount something else.
func unmountCommand(dir string) (int, error) {
	e, ok := readMountAt(dir)
	switch {
	case !ok:
		return 0, fmt.Errorf("%s is not mounted", dir)
	case e.fstype != "fuse.ftpsfs":
		return 0, fmt.Errorf("%s is not an ftpsfs mount (it is %s): use umount %s", dir, e.fstype, dir)
	}
	name, args := "fusermount3", []string{"-u", dir}
	if os.Getuid() == 0 {
		name, args = "umount", []string{dir}
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		why := strings.TrimSpace(string(out))
		if why == "" {
			why = err.Error()
		}
		return 0, fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), why)
	}
	return exitOK, nil
}
