package fusefs

import (
	"io/fs"
	"maps"
	"strings"
	"sync"
	"time"
)

// exactTimes remembers the modification times this mount set, so that
// servers whose listings are coarse (vsftpd's LIST: minutes, or days for old
// files) still show them to the second; rsync -a compares them. A listed
// time is replaced only when it is the remembered time at the listing's
// precision.
type exactTimes struct {
	mu sync.Mutex
	m  map[string]time.Time
	// kept are times the server refused to set (vsftpd answers MDTM on a
	// directory with 550): they are shown for this mount whatever the
	// listing says, so rsync -a finds nothing to do on a second run.
	kept map[string]time.Time
}

const maxExactTimes = 100_000

func (e *exactTimes) set(p string, t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil || len(e.m) >= maxExactTimes {
		e.m = map[string]time.Time{}
	}
	e.m[p] = t.UTC()
}

// keep remembers a time the server would not take.
func (e *exactTimes) keep(p string, t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kept == nil || len(e.kept) >= maxExactTimes {
		e.kept = map[string]time.Time{}
	}
	e.kept[p] = t.UTC()
}

func (e *exactTimes) forget(p string) {
	e.mu.Lock()
	delete(e.m, p)
	delete(e.kept, p)
	e.mu.Unlock()
}

// forgetTree forgets dir and every path below it (a directory renamed or
// removed): the files there now are not the ones these times were set on.
func (e *exactTimes) forgetTree(dir string) {
	under := underTree(dir)
	e.mu.Lock()
	defer e.mu.Unlock()
	maps.DeleteFunc(e.m, func(p string, _ time.Time) bool { return under(p) })
	maps.DeleteFunc(e.kept, func(p string, _ time.Time) bool { return under(p) })
}

// underTree reports, for a path, whether it is dir or below it ("/a"
// holds "/a/b" but not "/ab").
func underTree(dir string) func(p string) bool {
	dir = strings.TrimSuffix(dir, "/")
	prefix := dir + "/"
	return func(p string) bool { return p == dir || strings.HasPrefix(p, prefix) }
}

// refine returns fi with its remembered exact time when the listing's time
// matches it at minute or day precision.
func (e *exactTimes) refine(p string, fi fs.FileInfo) fs.FileInfo {
	e.mu.Lock()
	t, ok := e.m[p]
	kept, isKept := e.kept[p]
	e.mu.Unlock()
	if isKept {
		return withTime{fi, kept}
	}
	if !ok {
		return fi
	}
	listed := fi.ModTime().UTC()
	day := func(x time.Time) time.Time { return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC) }
	if listed.Equal(t) || listed.Equal(t.Truncate(time.Second)) || listed.Equal(t.Truncate(time.Minute)) || listed.Equal(day(t)) {
		return withTime{fi, t}
	}
	return fi
}

// withTime is a listing entry with another modification time.
type withTime struct {
	fs.FileInfo
	t time.Time
}

func (w withTime) ModTime() time.Time { return w.t }

func (w withTime) LinkTarget() string { return linkTarget(w.FileInfo) }

func (w withTime) PreciseTime() bool { return preciseTime(w.FileInfo) }
func (w withTime) ModeKnown() bool   { return modeKnown(w.FileInfo) }

// withMode is a listing entry with other permission bits (chmod here).
type withMode struct {
	fs.FileInfo
	perm fs.FileMode
}

func (w withMode) Mode() fs.FileMode {
	return w.FileInfo.Mode()&fs.ModeType | w.perm&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
}

func (w withMode) LinkTarget() string { return linkTarget(w.FileInfo) }

func (w withMode) PreciseTime() bool { return preciseTime(w.FileInfo) }
func (w withMode) ModeKnown() bool   { return true }

// renamed is a listing entry under another name.
type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string       { return r.name }
func (r renamed) LinkTarget() string { return linkTarget(r.FileInfo) }
func (r renamed) PreciseTime() bool  { return preciseTime(r.FileInfo) }
func (r renamed) ModeKnown() bool    { return modeKnown(r.FileInfo) }

// localEntry describes a file or directory this mount just created or
// changed, until the next listing says otherwise.
type localEntry struct {
	name      string
	size      int64
	mode      fs.FileMode
	mtime     time.Time
	modeKnown bool // the mode is what the server has (or is given with the upload)
}

func (l localEntry) Name() string       { return l.name }
func (l localEntry) Size() int64        { return l.size }
func (l localEntry) Mode() fs.FileMode  { return l.mode }
func (l localEntry) ModTime() time.Time { return l.mtime }
func (l localEntry) IsDir() bool        { return l.mode.IsDir() }
func (l localEntry) Sys() any           { return nil }
func (l localEntry) ModeKnown() bool    { return l.modeKnown }
