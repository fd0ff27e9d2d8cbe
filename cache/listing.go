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
	// Started is when the load began: what the listing says was true at
	// some moment between Started and Arrived. Content versions name a
	// listing by it (fusefs/version.go).
	Started time.Time
	// Arrived is when the load ended. Freshness (the TTL) counts from here,
	// so a listing that takes longer than the TTL to arrive is still used
	// rather than expired on arrival.
	Arrived time.Time
	// Partial marks a view of a listing still arriving that holds only the
	// entries asked for ([Dirs.GetArriving]): a name it lacks may exist.
	// Such a view is never cached, and its Arrived is zero.
	Partial bool
	// bytes is the memory the listing is estimated to hold (see
	// EntryOverhead), counted against the cache's byte budget.
	bytes int64
}

// EntryOverhead is the estimated memory of one listing entry beside its
// name's bytes: the entry itself (a pool fileInfo of about 100 bytes with
// its allocation rounding), its map slot and its place in Names. A
// listing's estimate is the sum over its entries of EntryOverhead plus
// twice the name's length (the name, and a symlink target or the
// listing line's copy when there is one, as an upper bound).
const EntryOverhead = 256

// Bytes is the listing's estimated memory (see EntryOverhead).
func (l *Listing) Bytes() int64 {
	if l == nil {
		return 0
	}
	return l.bytes
}

// Lookup returns the entry called name. A false result from a cached
// listing is a negative answer: the name does not exist (as of Started);
// from a Partial view it means nothing.
func (l *Listing) Lookup(name string) (fs.FileInfo, bool) {
	if l == nil {
		return nil, false
	}
	fi, ok := l.Entries[name]
	return fi, ok
}

// newListing indexes entries by name. A repeated name keeps its last entry.
func newListing(entries []fs.FileInfo, started, arrived time.Time) *Listing {
	m := make(map[string]fs.FileInfo, len(entries))
	for _, fi := range entries {
		if fi != nil {
			m[fi.Name()] = fi
		}
	}
	return listingFromMap(m, started, arrived)
}

// listingFromMap takes ownership of m and builds the sorted Names. Nil
// entries are dropped, so Lookup never answers (nil, true).
func listingFromMap(m map[string]fs.FileInfo, started, arrived time.Time) *Listing {
	names := make([]string, 0, len(m))
	var size int64
	for name, fi := range m {
		if fi == nil {
			delete(m, name)
			continue
		}
		names = append(names, name)
		size += EntryOverhead + 2*int64(len(name))
	}
	slices.Sort(names)
	return &Listing{Entries: m, Names: names, Started: started, Arrived: arrived, bytes: size}
}
