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
// (counted from the listing's start) before answering from the entries
// that listing has given so far, or asking the server about its one name.
// A directory that lists in 15 s must not make every stat of one of its
// files take 15 s, nor time it out.
const lookupPatience = time.Second

// lookupEntry finds name in dir: from the cached listing, from the listing
// being loaded if it arrives within lookupPatience, and otherwise from the
// entries that listing has given so far (cache.Dirs.LookupArriving), or
// from the server (Remote.Stat) while the listing goes on arriving for the
// next callers. Names only this mount knows (files created here, not
// uploaded yet) and names listings hide (upload temporaries) are answered
// as a listing would answer them. Only a server that answers one name with
// its mode (MLST) is asked: elsewhere Stat guesses modes from SIZE and CWD
// (a 0600 file would show 0644, to other users too under allow_other) or
// lists the whole directory again, so the lookup waits for the name to
// arrive in the listing, or for the listing's end.
func (f *FS) lookupEntry(ctx context.Context, dir, name string) (fs.FileInfo, bool, error) {
	if !f.remote.StatsOneName() {
		return f.waitArriving(ctx, dir, name)
	}
	l, err := f.dirs.GetWithin(ctx, dir, lookupPatience, f.loader(dir))
	if err == nil {
		f.dirAhead.looked(dir)
		fi, ok := l.Lookup(name)
		return fi, ok, nil
	}
	if !errors.Is(err, cache.ErrStillLoading) {
		return nil, false, err
	}
	if strings.HasPrefix(name, uploadPrefix) {
		return nil, false, nil
	}
	p := path.Join(dir, name)
	if fi, ok := f.dirs.LookupArriving(dir, name); ok {
		return f.earlyEntry(f.times.refine(p, fi)), true, nil
	}
	for _, fi := range f.pending.in(dir) {
		if fi.Name() == name {
			return fi, true, nil
		}
	}
	fi, err := f.remote.Stat(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case !modeKnown(fi): // no UNIX.mode fact: only the listing knows the mode
		return f.waitArriving(ctx, dir, name)
	}
	return f.times.refine(p, fi), true, nil
}

// waitArriving answers name from dir's listing (see entryIn).
func (f *FS) waitArriving(ctx context.Context, dir, name string) (fs.FileInfo, bool, error) {
	fi, ok, _, err := f.entryIn(ctx, dir, name)
	return fi, ok, err
}

// entryIn finds name in dir's listing, and when that listing's load
// started (the listing's identity for content versions). If the listing
// is still arriving after lookupPatience, name is answered as soon as the
// listing has given it: the arriving entry is the listing's own
// (pool/listpartial.go), refined as the load function refines it, and the
// listing it belongs to has the same start. A name the listing has not
// given is absent only once it has ended. Upload temporaries, which the
// listing hides, and files created here, which it adds, wait for its end.
func (f *FS) entryIn(ctx context.Context, dir, name string) (fs.FileInfo, bool, time.Time, error) {
	var l *cache.Listing
	var err error
	if strings.HasPrefix(name, uploadPrefix) {
		l, err = f.listing(ctx, dir)
	} else {
		l, err = f.dirs.GetArriving(ctx, dir, name, lookupPatience, f.loader(dir))
	}
	if err != nil {
		return nil, false, time.Time{}, err
	}
	fi, ok := l.Lookup(name)
	if ok && l.Partial {
		fi = f.earlyEntry(f.times.refine(path.Join(dir, name), fi))
	}
	if !l.Partial {
		f.dirAhead.looked(dir)
	}
	return fi, ok, l.Started, nil
}

func (f *FS) waitListing(ctx context.Context, dir, name string) (fs.FileInfo, bool, error) {
	l, err := f.dirs.Get(ctx, dir, f.loader(dir))
	if err != nil {
		return nil, false, err
	}
	f.dirAhead.looked(dir)
	fi, ok := l.Lookup(name)
	return fi, ok, nil
}
