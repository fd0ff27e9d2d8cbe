package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// lookupPatience is how long a lookup waits for its directory's listing
// (counted from the listing's start) before asking the server about its
// one name instead. A directory that lists in 15 s must not make every
// stat of one of its files take 15 s, nor time it out.
const lookupPatience = time.Second

// lookupEntry finds name in dir: from the cached listing, from the listing
// being loaded if it arrives within lookupPatience, and otherwise from the
// server (Remote.Stat) while the listing goes on arriving for the next
// callers. Names only this mount knows (files created here, not uploaded
// yet) and names listings hide (upload temporaries) are answered as a
// listing would answer them. Only a server that answers one name with its
// mode (MLST) is asked: elsewhere Stat guesses modes from SIZE and CWD (a
// 0600 file would show 0644, to other users too under allow_other) or
// lists the whole directory again, so the lookup waits for the listing.
func (f *FS) lookupEntry(ctx context.Context, dir, name string) (fs.FileInfo, bool, error) {
	if !f.remote.StatsOneName() {
		return f.waitListing(ctx, dir, name)
	}
	l, err := f.dirs.GetWithin(ctx, dir, lookupPatience, f.loader(dir))
	if err == nil {
		f.prefetch.used(dir, l)
		fi, ok := l.Lookup(name)
		return fi, ok, nil
	}
	if !errors.Is(err, cache.ErrStillLoading) {
		return nil, false, err
	}
	if strings.HasPrefix(name, uploadPrefix) {
		return nil, false, nil
	}
	for _, fi := range f.pending.in(dir) {
		if fi.Name() == name {
			return fi, true, nil
		}
	}
	p := path.Join(dir, name)
	fi, err := f.remote.Stat(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case !modeKnown(fi): // no UNIX.mode fact: only the listing knows the mode
		return f.waitListing(ctx, dir, name)
	}
	return f.times.refine(p, fi), true, nil
}

func (f *FS) waitListing(ctx context.Context, dir, name string) (fs.FileInfo, bool, error) {
	l, err := f.dirs.Get(ctx, dir, f.loader(dir))
	if err != nil {
		return nil, false, err
	}
	f.prefetch.used(dir, l)
	fi, ok := l.Lookup(name)
	return fi, ok, nil
}
