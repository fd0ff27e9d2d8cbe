package fusefs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRemote is an in-memory server that counts calls and injects errors.
type fakeRemote struct {
	mu       sync.Mutex
	files    map[string][]byte // path → content; directories end in "/"
	links    map[string]string
	lists    atomic.Int64
	opens    atomic.Int64
	readErr  error // returned by every ReadAt when set
	truncate int   // when > 0, ReadAt serves only this many bytes of any file
	storeErr error // returned by every Store when set
	mtimes   map[string]time.Time
	// oneNameStat: Stat answers like MLST with UNIX.mode (one command, the
	// server's mode); otherwise like SIZE+MDTM+CWD on a LIST server.
	oneNameStat bool
	modes       map[string]fs.FileMode
	stores      atomic.Int64
	stats       atomic.Int64
	// stall, when set, holds every Store until it is closed; each Store
	// reports on stalled when it starts waiting.
	stall   chan struct{}
	stalled chan struct{}
}

type fakeInfo struct {
	name   string
	size   int64
	mode   fs.FileMode
	target string
	mtime  time.Time
	exact  bool // the mode is the server's (an MLST answer with UNIX.mode)
}

func (f fakeInfo) ModeKnown() bool { return f.exact }

func (f fakeInfo) Name() string      { return f.name }
func (f fakeInfo) Size() int64       { return f.size }
func (f fakeInfo) Mode() fs.FileMode { return f.mode }
func (f fakeInfo) ModTime() time.Time {
	if f.mtime.IsZero() {
		return time.Unix(1700000000, 0)
	}
	return f.mtime
}
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return nil }
func (f fakeInfo) LinkTarget() string { return f.target }

func newFakeRemote() *fakeRemote {
	return &fakeRemote{files: map[string][]byte{}, links: map[string]string{}, mtimes: map[string]time.Time{}, modes: map[string]fs.FileMode{}}
}

func (r *fakeRemote) add(p string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[p] = data
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		r.files[d+"/"] = nil
	}
}

func (r *fakeRemote) List(ctx context.Context, dir string) ([]fs.FileInfo, error) {
	r.lists.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if dir != "/" {
		if _, ok := r.files[dir+"/"]; !ok {
			return nil, fs.ErrNotExist
		}
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []fs.FileInfo
	for p, data := range r.files {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" {
			continue
		}
		if name, isDir := strings.CutSuffix(rest, "/"); isDir && !strings.Contains(name, "/") {
			out = append(out, fakeInfo{name: name, mode: fs.ModeDir | 0o755})
		} else if !strings.Contains(rest, "/") {
			out = append(out, fakeInfo{name: rest, size: int64(len(data)), mode: 0o644, mtime: r.mtimes[p]})
		}
	}
	for p, target := range r.links {
		if path.Dir(p) == dir {
			out = append(out, fakeInfo{name: path.Base(p), mode: fs.ModeSymlink | 0o777, target: target, size: int64(len(target))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (r *fakeRemote) OpenReader(p string) RemoteReader {
	r.opens.Add(1)
	return &fakeReader{r: r, path: p}
}

type fakeReader struct {
	r    *fakeRemote
	path string
}

func (f *fakeReader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	if f.r.readErr != nil {
		return 0, f.r.readErr
	}
	data, ok := f.r.files[f.path]
	if !ok {
		return 0, fs.ErrNotExist
	}
	if f.r.truncate > 0 && len(data) > f.r.truncate {
		data = data[:f.r.truncate]
	}
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(buf, data[off:])
	if n < len(buf) {
		return n, io.EOF
	}
	return n, nil
}

func (f *fakeReader) Close() error { return nil }

var errInjected = errors.New("injected failure")

// stallStores holds uploads until release is called (by the test's end at
// the latest); stalled receives one value per upload that waits.
func (r *fakeRemote) stallStores(t *testing.T) (stalled <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stall, r.stalled = make(chan struct{}), make(chan struct{}, 16)
	gate := r.stall
	var once sync.Once
	release = func() {
		once.Do(func() {
			r.mu.Lock()
			r.stall = nil
			r.mu.Unlock()
			close(gate)
		})
	}
	t.Cleanup(release)
	return r.stalled, release
}

func (r *fakeRemote) Store(ctx context.Context, p string, src io.ReaderAt, size int64) error {
	r.stores.Add(1)
	r.mu.Lock()
	gate, stalled := r.stall, r.stalled
	r.mu.Unlock()
	if gate != nil {
		stalled <- struct{}{}
		<-gate
	}
	data := make([]byte, size)
	if _, err := src.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.storeErr != nil {
		return r.storeErr
	}
	if _, ok := r.files[path.Dir(p)+"/"]; !ok && path.Dir(p) != "/" {
		return fs.ErrNotExist
	}
	r.files[p] = data
	r.mtimes[p] = time.Now()
	return nil
}

func (r *fakeRemote) Rename(ctx context.Context, from, to, aside string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if data, ok := r.files[from]; ok {
		delete(r.files, from)
		r.files[to] = data
		r.mtimes[to] = r.mtimes[from]
		return nil
	}
	if _, ok := r.files[from+"/"]; !ok {
		return fs.ErrNotExist
	}
	for p, data := range r.files {
		if rest, ok := strings.CutPrefix(p, from+"/"); ok {
			delete(r.files, p)
			r.files[to+"/"+rest] = data
		}
	}
	return nil
}

func (r *fakeRemote) Delete(ctx context.Context, p string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.files[p]; !ok {
		return fs.ErrNotExist
	}
	delete(r.files, p)
	return nil
}

func (r *fakeRemote) MakeDir(ctx context.Context, dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[dir+"/"] = nil
	return nil
}

func (r *fakeRemote) RemoveDir(ctx context.Context, dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range r.files {
		if strings.HasPrefix(p, dir+"/") && p != dir+"/" {
			return fs.ErrPermission
		}
	}
	delete(r.files, dir+"/")
	return nil
}

func (r *fakeRemote) SetTime(ctx context.Context, p string, t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mtimes[p] = t
	return nil
}

func (r *fakeRemote) content(p string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, ok := r.files[p]
	return data, ok
}

func (r *fakeRemote) Stat(ctx context.Context, p string) (fs.FileInfo, error) {
	r.stats.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if data, ok := r.files[p]; ok {
		mode := fs.FileMode(0o644)
		if m, ok := r.modes[p]; ok {
			mode = m
		}
		return fakeInfo{name: path.Base(p), size: int64(len(data)), mode: mode, mtime: r.mtimes[p], exact: r.oneNameStat}, nil
	}
	if _, ok := r.files[p+"/"]; ok {
		return fakeInfo{name: path.Base(p), mode: fs.ModeDir | 0o755, exact: r.oneNameStat}, nil
	}
	return nil, fs.ErrNotExist
}

func (r *fakeRemote) StatsOneName() bool { return r.oneNameStat }

func (r *fakeRemote) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.modes[p] = mode
	return nil
}
