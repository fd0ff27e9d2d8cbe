package fusefs

import (
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
	Debug              bool // log every FUSE operation with its duration
	Logger             *slog.Logger
	Observer           Observer // counts operations; may be nil
}

// Mount mounts f at dir and returns once the kernel has the mount.
func Mount(dir string, f *FS, mc MountConfig) (*fuse.Server, error) {
	attr, entry := mc.AttrTimeout, mc.EntryTimeout
	kernelOpts := []string{}
	if mc.DefaultPermissions {
		kernelOpts = append(kernelOpts, "default_permissions")
	}
	if mc.ReadOnly {
		kernelOpts = append(kernelOpts, "ro")
	}
	kernelOpts = append(kernelOpts, mc.KernelOptions...)
	if mc.Logger == nil {
		mc.Logger = slog.New(slog.DiscardHandler)
	}
	opts := &gofs.Options{
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &entry,
		RootStableAttr:  &gofs.StableAttr{Ino: 1},
		MountOptions: fuse.MountOptions{
			FsName:       mc.FSName,
			Name:         "ftpsfs", // /proc/mounts type: fuse.ftpsfs
			AllowOther:   mc.AllowOther,
			Options:      kernelOpts,
			MaxWrite:     1 << 20,
			MaxReadAhead: 1 << 20,
			DirectMount:  true, // as root, mount(2) directly; otherwise fusermount3
			Logger:       slog.NewLogLogger(mc.Logger.Handler(), slog.LevelWarn),
			// FTP has no extended attributes; ENOSYS makes the kernel answer
			// EOPNOTSUPP, which cp -p and rsync -a accept (ENODATA they do not).
			DisableXAttrs: true,
			// O_TRUNC arrives with OPEN instead of as a separate truncate,
			// which would cost an extra upload for every "> file".
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
		},
	}
	raw := &observed{RawFileSystem: gofs.NewNodeFS(f.Root(), opts), obs: mc.Observer, log: mc.Logger, debug: mc.Debug}
	server, err := fuse.NewServer(raw, dir, &opts.MountOptions)
	if err != nil {
		return nil, err
	}
	go func() {
		server.Serve()
		f.dirAhead.close() // unmounted: nobody walks any more
		f.prefetch.close()
	}()
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
		return nil, err
	}
	raiseReadAhead(dir, readAheadKB, mc.Logger)
	return server, nil
}
