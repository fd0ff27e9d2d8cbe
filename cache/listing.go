package cache

import (
	"io/fs"
	"slices"
	"time"
)

// Listing is one directory's entries as fetched at one moment. It is
// immutable once published: callers may read it from many goroutines
// without locks, and must not modify Entries or Names. [Dirs.Update]
// publishes a patched copy instead of changing a Listing in place.
type Listing struct {
	Entries map[string]fs.FileInfo // by name
	Names   []string               // sorted
	// Fetched is when the load began, so a listing's age is never
	// understated: the server's state may have changed while it ran.
	Fetched time.Time
}

// Lookup returns the entry called name. A false result from a cached
// listing is a negative answer: the name does not exist (as of Fetched).
func (l *Listing) Lookup(name string) (fs.FileInfo, bool) {
	if l == nil {
		return nil, false
	}
	fi, ok := l.Entries[name]
	return fi, ok
}

// newListing indexes entries by name. A repeated name keeps its last entry.
func newListing(entries []fs.FileInfo, fetched time.Time) *Listing {
	m := make(map[string]fs.FileInfo, len(entries))
	for _, fi := range entries {
		if fi != nil {
			m[fi.Name()] = fi
		}
	}
	return listingFromMap(m, fetched)
}

// listingFromMap takes ownership of m and builds the sorted Names. Nil
// entries are dropped, so Lookup never answers (nil, true).
func listingFromMap(m map[string]fs.FileInfo, fetched time.Time) *Listing {
	names := make([]string, 0, len(m))
	for name, fi := range m {
		if fi == nil {
			delete(m, name)
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return &Listing{Entries: m, Names: names, Fetched: fetched}
}
