package fusefs

import (
	"log"
	"log/slog"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MountConfig is the kernel-facing side of a mount.
type MountConfig struct {
	FSName             string // source shown in /proc/mounts (no secrets)
	AllowOther         bool
	DefaultPermissions bool
	ReadOnly           bool
	KernelOptions      []string // nosuid, nodev, noatime, ...
	AttrTimeout        time.Duration
	EntryTimeout       time.Duration
	Debug              bool // go-fuse's own trace of every FUSE request
	Logger             *slog.Logger
}

// Mount mounts f at dir and returns once the kernel has the mount.
func Mount(dir string, f *FS, mc MountConfig) (*fuse.Server, error) {
	attr, entry := mc.AttrTimeout, mc.EntryTimeout
	opts := []string{}
	if mc.DefaultPermissions {
		opts = append(opts, "default_permissions")
	}
	if mc.ReadOnly {
		opts = append(opts, "ro")
	}
	opts = append(opts, mc.KernelOptions...)
	var trace *log.Logger
	if mc.Debug && mc.Logger != nil {
		trace = slog.NewLogLogger(mc.Logger.Handler(), slog.LevelDebug)
	}
	return gofs.Mount(dir, f.Root(), &gofs.Options{
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &entry,
		RootStableAttr:  &gofs.StableAttr{Ino: 1},
		MountOptions: fuse.MountOptions{
			FsName:       mc.FSName,
			Name:         "ftpsfs", // /proc/mounts type: fuse.ftpsfs
			AllowOther:   mc.AllowOther,
			Options:      opts,
			MaxWrite:     1 << 20,
			MaxReadAhead: 1 << 20,
			DirectMount:  true, // as root, mount(2) directly; otherwise fusermount3
			Debug:        mc.Debug,
			Logger:       trace,
			// FTP has no extended attributes; ENOSYS makes the kernel answer
			// EOPNOTSUPP, which cp -p and rsync -a accept (ENODATA they do not).
			DisableXAttrs: true,
			// O_TRUNC arrives with OPEN instead of as a separate truncate,
			// which would cost an extra upload for every "> file".
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
		},
	})
}
