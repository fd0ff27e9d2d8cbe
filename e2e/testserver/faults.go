package testserver

import (
	"fmt"
	"os"
	"syscall"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// Fault is a failure the embedded server injects into uploads.
type Fault int

const (
	// FaultNone serves the directory normally.
	FaultNone Fault = iota
	// FaultNoSpace makes STOR and APPE fail with 552 once data arrives; the
	// existing file is never opened for writing, so its content survives.
	FaultNoSpace
	// FaultDenyWrite refuses STOR and APPE with 553 before any data flows.
	FaultDenyWrite
	// FaultDenyRename refuses every rename (as vsftpd with
	// cmds_denied=RNFR,RNTO does, with 550).
	FaultDenyRename
	// FaultNoReplaceRename refuses to rename onto an existing file, as
	// some servers (IIS among them) do.
	FaultNoReplaceRename
	// FaultDenyChmod refuses SITE CHMOD with 550.
	FaultDenyChmod
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultNoSpace:
		return "no-space"
	case FaultDenyWrite:
		return "deny-write"
	case FaultDenyRename:
		return "deny-rename"
	case FaultNoReplaceRename:
		return "no-replace-rename"
	case FaultDenyChmod:
		return "deny-chmod"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// faultFs is the per-client file system: the served directory, with uploads
// going through the currently set fault.
type faultFs struct {
	afero.Fs
	root      string
	fault     func() Fault
	synthetic map[string]Synthetic // by FTP path
	listed    *listings
}

func (f *faultFs) Create(name string) (afero.File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (f *faultFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		switch f.fault() {
		case FaultDenyWrite:
			// ftpserverlib maps ErrFileNameNotAllowed to 553.
			return nil, fmt.Errorf("write to %s denied by test fault: %w", name, ftpserver.ErrFileNameNotAllowed)
		case FaultNoSpace:
			return newNoSpaceFile(name)
		}
	}
	if flag&os.O_CREATE != 0 {
		// ftpserverlib asks for 0777; real servers create files 0666 &^ umask.
		perm = 0o666
	}
	return f.Fs.OpenFile(name, flag, perm)
}

// GetAvailableSpace answers AVBL with the served file system's free space.
func (f *faultFs) GetAvailableSpace(string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.root, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

func (f *faultFs) Rename(from, to string) error {
	switch f.fault() {
	case FaultDenyRename:
		return fmt.Errorf("rename %s denied by test fault", from)
	case FaultNoReplaceRename:
		if _, err := f.Fs.Stat(to); err == nil {
			return fmt.Errorf("rename onto existing %s refused by test fault", to)
		}
	}
	return f.Fs.Rename(from, to)
}

func (f *faultFs) Chmod(name string, mode os.FileMode) error {
	if f.fault() == FaultDenyChmod {
		return fmt.Errorf("chmod %s denied by test fault", name)
	}
	return f.Fs.Chmod(name, mode)
}

// noSpaceFile accepts the open and fails every write with
// ErrStorageExceeded, which ftpserverlib answers with 552.
type noSpaceFile struct{ afero.File }

func newNoSpaceFile(name string) (afero.File, error) {
	// A scratch in-memory file supplies the rest of afero.File.
	f, err := afero.NewMemMapFs().Create(name)
	if err != nil {
		return nil, err
	}
	return noSpaceFile{f}, nil
}

func (noSpaceFile) Write([]byte) (int, error) { return 0, ftpserver.ErrStorageExceeded }

func (noSpaceFile) WriteAt([]byte, int64) (int, error) { return 0, ftpserver.ErrStorageExceeded }

func (noSpaceFile) WriteString(string) (int, error) { return 0, ftpserver.ErrStorageExceeded }
