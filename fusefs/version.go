package fusefs

import (
	"context"
	"io/fs"
	"maps"
	"strconv"
	"sync"
	"time"
)

// Content versions name the blocks cached for one state of a file. Where
// the listing's time is exact (MLSD) the listed time and size are the
// version. Where it is rounded (LIST: vsftpd gives minutes, or days), a
// change that keeps the size within the same minute would keep the old
// version and serve the old blocks for ever. So blocks cached under a
// rounded listing are tied to that listing: a file opened under a newer
// listing (after dir_cache_ttl) is served from them only when MDTM, exact
// to the second, says the file has the time it had when they were cached;
// otherwise it gets a new version and the old blocks are dropped. A change
// within the same second that keeps the size stays invisible: FTP tells
// nothing finer.
type contentVersions struct {
	mu sync.Mutex
	m  map[string]validVersion // by path
}

type validVersion struct {
	fetched time.Time // the listing it was settled under
	listed  string    // version(fi) as that listing gave it
	exact   string    // MDTM time and size, "" when not asked
	key     string    // the version blocks are cached under
}

const maxContentVersions = 100_000

// openVersion is the version to read p's blocks under, for an entry fi of
// the listing fetched at fetched.
func (f *FS) openVersion(ctx context.Context, p string, fi fs.FileInfo, fetched time.Time) string {
	listed := version(fi)
	if preciseTime(fi) {
		return listed
	}
	v := &f.versions
	v.mu.Lock()
	old, known := v.m[p]
	v.mu.Unlock()
	if known && old.listed == listed && old.fetched.Equal(fetched) {
		return old.key
	}
	next := validVersion{fetched: fetched, listed: listed, key: listed + "@" + strconv.FormatInt(fetched.UnixNano(), 36)}
	// Ask for the exact time only where it can save a download: blocks of
	// this file are cached, or the file is large enough that one round
	// trip now is cheap beside reading it again after the next listing.
	if f.blocks.Holds(p) || fi.Size() > int64(f.cfg.BlockSize) {
		if st, err := f.remote.Stat(ctx, p); err == nil && preciseTime(st) {
			next.exact = st.ModTime().UTC().Format(time.RFC3339) + "/" + strconv.FormatInt(st.Size(), 10)
			if known && old.exact == next.exact && old.listed == listed {
				next.key = old.key // unchanged since its blocks were cached
			}
		}
	}
	if known && next.key != old.key {
		f.blocks.InvalidatePath(p)
	}
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxContentVersions {
		v.m = map[string]validVersion{}
	}
	v.m[p] = next
	v.mu.Unlock()
	return next.key
}

// forgetVersion drops what is known of p's content (it changed here).
func (f *FS) forgetVersion(p string) {
	f.versions.mu.Lock()
	delete(f.versions.m, p)
	f.versions.mu.Unlock()
}

// forgetVersionTree drops what is known of the content of every file at
// or below dir (renamed or removed).
func (f *FS) forgetVersionTree(dir string) {
	under := underTree(dir)
	f.versions.mu.Lock()
	maps.DeleteFunc(f.versions.m, func(p string, _ validVersion) bool { return under(p) })
	f.versions.mu.Unlock()
}
