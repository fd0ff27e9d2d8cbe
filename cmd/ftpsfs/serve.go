package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
	"github.com/ftpsfs/ftpsfs/fusefs"
	"github.com/ftpsfs/ftpsfs/mountopts"
	"github.com/ftpsfs/ftpsfs/pool"
)

// serve connects, mounts, and serves until unmounted or signalled.
func serve(mountPoint string, cfg *mountopts.Config, stderr io.Writer) (int, error) {
	log, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		notifyParent(err)
		return 0, err
	}
	defer closeLog()

	pcfg := poolConfig(cfg, log)
	var m *metrics
	if cfg.Metrics != "" {
		m = newMetrics()
		pcfg.OnOp = m.RemoteOp
	}
	p, err := pool.New(pcfg)
	if err != nil {
		notifyParent(err)
		return 0, err
	}
	defer p.Close()
	// Log in before mounting, so bad credentials or certificates fail the
	// command instead of the first ls.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	err = p.Check(ctx, cfg.Root)
	cancel()
	if err != nil {
		notifyParent(err)
		return 0, err
	}

	dirs, blocks := cache.NewDirs(cfg.DirCacheTTL, maxListings, nil), cache.NewBlocks(cfg.CacheSize)
	// Expired listings are freed on a timer, not only when asked for again;
	// both timers stop at unmount.
	cacheCtx, stopCacheTimers := context.WithCancel(context.Background())
	defer stopCacheTimers()
	dirs.SweepEvery(cacheCtx, cache.SweepInterval(cfg.DirCacheTTL))
	limitMemory(cacheCtx, cfg.CacheSize, dirs)
	var observer fusefs.Observer
	if m != nil {
		m.watch(p, dirs, blocks)
		mctx, stopMetrics := context.WithCancel(context.Background())
		defer stopMetrics()
		if err := serveMetrics(mctx, cfg.Metrics, m, log); err != nil {
			notifyParent(err)
			return 0, err
		}
		observer = m
	}
	fsys := fusefs.New(remote{p}, dirs, blocks, fusefs.Config{
		Root:     cfg.Root,
		UID:      uint32(ownerID(cfg.UID, os.Getuid())),
		GID:      uint32(ownerID(cfg.GID, os.Getgid())),
		Umask:    cfg.Umask,
		Timeout:  cfg.Timeout,
		ReadOnly: cfg.ReadOnly,
		SpoolDir: cfg.SpoolDir,
		Logger:   log,

		ChmodIgnore:   cfg.ChmodIgnore,
		StatfsSize:    cfg.StatfsSize,
		DirPrefetch:   cfg.DirPrefetch,
		PrefetchFiles: prefetchFiles(cfg.Prefetch),

		SharedWithOthers: cfg.AllowOther,
	})
	server, err := fusefs.Mount(mountPoint, fsys, fusefs.MountConfig{
		FSName:             cfg.FSName,
		AllowOther:         cfg.AllowOther,
		DefaultPermissions: cfg.DefaultPermissions,
		ReadOnly:           cfg.ReadOnly,
		KernelOptions:      cfg.KernelOptions,
		AttrTimeout:        cfg.AttrTimeout,
		EntryTimeout:       cfg.EntryTimeout,
		Debug:              cfg.Debug,
		Logger:             log,
		Observer:           observer,
	})
	if err != nil {
		err = fmt.Errorf("mounting on %s: %w", mountPoint, err)
		notifyParent(err)
		return 0, err
	}
	log.Info("mounted", "source", cfg.FSName, "mountpoint", mountPoint)
	notifyParent(nil)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		p.Warm(ctx, cfg.Connections)
	}()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			if s == syscall.SIGHUP {
				log.Info("SIGHUP: dropping listing and block caches")
				fsys.DropCaches()
				continue
			}
			log.Info("unmounting", "signal", s.String())
			unmount(server, mountPoint, log)
		}
	}()
	server.Wait()
	log.Info("unmounted", "mountpoint", mountPoint)
	return exitOK, nil
}

// unmount detaches the filesystem; when files are still open it detaches
// lazily, as umount -l does, so a signal always ends the process.
func unmount(server interface{ Unmount() error }, mountPoint string, log *slog.Logger) {
	if err := server.Unmount(); err == nil {
		return
	} else {
		log.Warn("unmount failed; detaching lazily", "err", err)
	}
	if err := syscall.Unmount(mountPoint, syscall.MNT_DETACH); err != nil {
		_ = runFusermount("-u", "-z", mountPoint)
	}
}

func ownerID(opt, def int) int {
	if opt >= 0 {
		return opt
	}
	return def
}

func poolConfig(cfg *mountopts.Config, log *slog.Logger) pool.Config {
	mode := pool.Explicit
	switch cfg.TLS {
	case mountopts.TLSImplicit:
		mode = pool.Implicit
	case mountopts.TLSNone:
		mode = pool.Plain
	}
	return pool.Config{
		Host:     cfg.Host,
		Port:     cfg.Port,
		User:     cfg.User,
		Password: cfg.Password.Reveal(),
		Mode:     mode,
		TLS: pool.TLSOptions{
			CAFile:       cfg.CAFile,
			Fingerprints: cfg.Fingerprints,
			Insecure:     cfg.Insecure,
			ClientCert:   cfg.ClientCert,
			ClientKey:    cfg.ClientKey,
			MinVersion:   cfg.TLSMin,
			MaxVersion:   cfg.TLSMax,
		},
		MaxConns:   cfg.Connections,
		Timeout:    cfg.Timeout,
		MaxListing: cfg.MaxListing,
		IdleCheck:  15 * time.Second,
		Logger:     log,
		Debug:      cfg.Debug,
	}
}

// prefetchFiles maps prefetch=N to fusefs.Config.PrefetchFiles, where 0
// is the default and none is negative.
func prefetchFiles(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
