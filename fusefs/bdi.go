package fusefs

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// readAheadKB is the kernel readahead asked for: as large as one FUSE read
// (max_read, 1 MiB), so a sequential reader costs one request per MiB
// instead of eight. The kernel starts every FUSE mount at 128 KiB.
const readAheadKB = 1024

// raiseReadAhead sets the mount's readahead through its backing device in
// sysfs. Only root may; for anyone else reads stay at 128 KiB, which works,
// only with more requests.
func raiseReadAhead(dir string, kb int, log *slog.Logger) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		log.Debug("readahead unchanged", "err", err)
		return
	}
	dev := uint64(st.Dev)
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(dev), unix.Minor(dev))
	if err := os.WriteFile(path, []byte(strconv.Itoa(kb)), 0); err != nil {
		log.Debug("readahead unchanged", "path", path, "err", err)
		return
	}
	log.Debug("readahead raised", "path", path, "kb", kb)
}
