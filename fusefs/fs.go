package fusefs

import (
	"context"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync/atomic"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/ftpsfs/ftpsfs/cache"
)

// Config is what the node tree needs to know.
type Config struct {
	Root      string // remote directory shown at the mount point
	UID, GID  uint32 // owner shown for every node
	Umask     uint32 // applied to the modes the listing implies
	BlockSize int    // bytes fetched and cached per block; default 1 MiB
	// Timeout bounds the wait for a connection and any one remote operation.
	Timeout  time.Duration
	ReadOnly bool   // refuse every change with EROFS
	SpoolDir string // where written files are staged; "" is os.TempDir()
	// ChmodIgnore accepts chmod and changes nothing (chmod=ignore), for
	// programs that insist on a server that refuses SITE CHMOD.
	ChmodIgnore bool
	// StatfsSize is the size statfs shows where the server does not tell
	// its free space; default 1 TiB.
	StatfsSize int64
	// DirPrefetch is how many listings of subdirectories may be fetched
	// ahead of a tree walk at once (prefetchdirs.go); 0 turns it off.
	DirPrefetch int
	// PrefetchFiles is how many small files are fetched ahead of a program
	// reading a directory's files in listing order (prefetchfiles.go);
	// 0 is the default (8), < 0 none.
	PrefetchFiles int
	// SharedWithOthers: other local users see the mount (allow_other), so
	// an entry shown before its listing has ended gets no group or other
	// permissions (see earlyEntry).
	SharedWithOthers bool
	Logger           *slog.Logger
}

// FS is one mounted remote tree.
type FS struct {
	remote   Remote
	dirs     *cache.Dirs
	blocks   *cache.Blocks
	cfg      Config
	log      *slog.Logger
	mounted  time.Time
	times    exactTimes
	versions contentVersions
	owner    *uploadOwner
	pending  pendingFiles
	gens     generations // identities of nodes moved by renames
	// chmodRefused: the server refused SITE CHMOD once; uploads stop asking.
	chmodRefused, modeWarned atomic.Bool
	space                    freeSpace
	pieces                   pieceIndex   // cached ranges of isolated reads
	prefetch                 filePrefetch // small files fetched ahead of a program reading them in order
	dirAhead                 *dirPrefetch // listings fetched ahead of a walk; nil when off
}

// New builds the tree; Root() is handed to go-fuse.
func New(remote Remote, dirs *cache.Dirs, blocks *cache.Blocks, cfg Config) *FS {
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = 1 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Root == "" {
		cfg.Root = "/"
	}
	if cfg.StatfsSize <= 0 {
		cfg.StatfsSize = 1 << 40
	}
	if cfg.PrefetchFiles == 0 {
		cfg.PrefetchFiles = defaultPrefetch
	}
	f := &FS{remote: remote, dirs: dirs, blocks: blocks, cfg: cfg, log: cfg.Logger, mounted: time.Now(), owner: processOwner(), prefetch: newFilePrefetch()}
	f.dirAhead = newDirPrefetch(dirs, cfg.DirPrefetch, f.loader)
	blocks.SetPatience(f.patience)
	return f
}

// Root is the node at the mount point.
func (f *FS) Root() gofs.InodeEmbedder { return &dirNode{fsys: f} }

// DropCaches forgets every listing and block (SIGHUP).
func (f *FS) DropCaches() {
	f.dirs.Purge()
	f.blocks.Purge()
}

// remotePath is the server path of a node.
func (f *FS) remotePath(n *gofs.Inode) string {
	return path.Join(f.cfg.Root, n.Path(nil))
}

// opContext bounds one metadata operation or block read by timeout. It
// ignores the request's cancellation: go-fuse cancels on every FUSE
// INTERRUPT, which the kernel sends for any signal the caller receives, and
// that must not turn into EINTR half-way through a remote operation.
func (f *FS) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.cfg.Timeout)
}

// transferContext is for whole-file transfers (uploads, and the download
// before an in-place write), which may rightly take longer than timeout:
// the pool bounds each network read and write instead, so a stalled server
// still fails them.
func transferContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// listing returns dir's entries, from the cache when it is fresh. Upload
// temporaries are left out (and deleted when provably abandoned), files
// created here and not uploaded yet are added, and times this mount set
// are shown exactly.
func (f *FS) listing(ctx context.Context, dir string) (*cache.Listing, error) {
	return f.dirs.Get(ctx, dir, f.loader(dir))
}

// loader is the load function of dir's listing. Its own deadline bounds a
// load that every caller stopped waiting for (see cache.Dirs.GetWithin).
func (f *FS) loader(dir string) func(ctx context.Context) ([]fs.FileInfo, error) {
	return func(ctx context.Context) ([]fs.FileInfo, error) {
		ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
		defer cancel()
		entries, err := f.remote.List(ctx, dir)
		if err != nil {
			return nil, err
		}
		out := entries[:0]
		listed := make(map[string]bool, len(entries))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), uploadPrefix) {
				if !e.IsDir() && f.abandoned(dir, e) {
					f.collectLeftover(path.Join(dir, e.Name()))
				}
				continue
			}
			listed[e.Name()] = true
			out = append(out, f.times.refine(path.Join(dir, e.Name()), e))
		}
		for _, fi := range f.pending.in(dir) {
			if !listed[fi.Name()] {
				out = append(out, fi)
			}
		}
		return out, nil
	}
}

// uploadPrefix starts the names uploads go to before they are renamed over
// their target; listings through the mount never show them.
const uploadPrefix = ".ftpsfs-upload-"

// setEntry records a local change in dir's cached listing, if there is one.
func (f *FS) setEntry(dir string, fi fs.FileInfo) {
	f.dirs.Update(dir, func(m map[string]fs.FileInfo) { m[fi.Name()] = fi })
}

// dropEntry removes name from dir's cached listing, if there is one.
func (f *FS) dropEntry(dir, name string) {
	f.dirs.Update(dir, func(m map[string]fs.FileInfo) { delete(m, name) })
}

// entry returns the listing entry of the node at p (never the root), and
// when that listing's load started (the listing's identity for content
// versions); from a slow listing, as soon as it has given p (entryIn).
func (f *FS) entry(ctx context.Context, p string) (fs.FileInfo, bool, time.Time, error) {
	return f.entryIn(ctx, path.Dir(p), path.Base(p))
}
