package testserver

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/afero"
)

// Synthetic is a listing the embedded server sends instead of a
// directory's real one. ftpserverlib writes one line per entry straight to
// the data connection as it asks each entry for its name, so Delay gives a
// dripping listing and a large Entries a huge or, for a short timeout,
// endless one, without the server holding the lines.
type Synthetic struct {
	// Names are sent first, as they are: a name holding "\r\n" followed by
	// a whole MLSD line injects that line (how a type=cdir entry is sent).
	Names []string
	// Entries more files follow, named "f" plus the index, padded with
	// "x" to NameLen bytes (default 16).
	Entries int
	NameLen int
	// Delay paces the entries: entry i is sent no earlier than i×Delay
	// after the first (a dripping or slow listing).
	Delay time.Duration
	// Size and Mode are every entry's (Mode 0 means 0644).
	Size int64
	Mode os.FileMode
}

// listings counts the listings sent per directory.
type listings struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *listings) add(dir string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = map[string]int{}
	}
	l.n[dir]++
}

func (l *listings) count(dir string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[dir]
}

// Listings is how many LIST or MLSD transfers of dir ("/slow") the server
// began.
func (e *Embedded) Listings(dir string) int { return e.listed.count(dir) }

// DataConnsOpen is the number of data connections open now, as the server
// sees them: one ends when ftpserverlib closes it, after the client closed
// its end or a write to it failed.
func (e *Embedded) DataConnsOpen() int { return int(e.dataOpen.Load()) }

// makeSynthetic creates the directories of opts.Listings under Root, so
// that ftpserverlib's Stat of them succeeds.
func makeSynthetic(opts EmbeddedOptions) error {
	for dir := range opts.Listings {
		if !strings.HasPrefix(dir, "/") {
			return fmt.Errorf("testserver: synthetic listing %q: path must start with /", dir)
		}
		if err := os.MkdirAll(opts.Root+dir, 0o755); err != nil {
			return fmt.Errorf("testserver: %w", err)
		}
	}
	return nil
}

// ReadDir is ftpserverlib's ClientDriverExtensionFileList: the synthetic
// listing where one is set, the directory's entries otherwise.
func (f *faultFs) ReadDir(name string) ([]os.FileInfo, error) {
	if f.listed != nil {
		f.listed.add(name)
	}
	if s, ok := f.synthetic[name]; ok {
		return s.infos(), nil
	}
	return afero.ReadDir(f.Fs, name)
}

// infos builds the entries; names are made when ftpserverlib asks for them.
func (s Synthetic) infos() []os.FileInfo {
	st := &synthState{s: s}
	all := make([]synthEntry, len(s.Names)+s.Entries)
	out := make([]os.FileInfo, len(all))
	for i := range all {
		all[i] = synthEntry{st: st, i: i}
		out[i] = &all[i]
	}
	return out
}

// synthState is one transfer's pacing.
type synthState struct {
	s     Synthetic
	first atomic.Int64 // UnixNano of the first entry's name
}

type synthEntry struct {
	st *synthState
	i  int
}

// Name paces the transfer: ftpserverlib asks each entry for its name just
// before writing its line.
func (e *synthEntry) Name() string {
	s := e.st.s
	if s.Delay > 0 {
		now := time.Now().UnixNano()
		e.st.first.CompareAndSwap(0, now)
		due := e.st.first.Load() + int64(e.i)*int64(s.Delay)
		if wait := time.Duration(due - now); wait > 0 {
			time.Sleep(wait)
		}
	}
	if e.i < len(s.Names) {
		return s.Names[e.i]
	}
	n := fmt.Sprintf("f%d", e.i-len(s.Names))
	if l := max(s.NameLen, 16); len(n) < l {
		n += strings.Repeat("x", l-len(n))
	}
	return n
}

func (e *synthEntry) Size() int64 { return e.st.s.Size }
func (e *synthEntry) Mode() os.FileMode {
	if e.st.s.Mode == 0 {
		return 0o644
	}
	return e.st.s.Mode
}
func (e *synthEntry) ModTime() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
func (e *synthEntry) IsDir() bool        { return false }
func (e *synthEntry) Sys() any           { return nil }
