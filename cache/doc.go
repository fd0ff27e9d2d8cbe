// Package cache holds ftpsfs's two in-memory caches: directory listings
// ([Dirs]: a TTL counted from each listing's arrival, negative entries,
// invalidation by path and by subtree, bounded by count and by estimated
// bytes, expired listings swept on a timer) and file blocks ([Blocks]: an
// LRU bounded in bytes). Both share one load per
// key among concurrent callers, so a burst of lookups or reads of the same
// thing costs one round trip. [Dirs.Prefetch] starts a listing load as
// background work (pool/priority) that a later caller joins and promotes.
//
// It owns only the caching policy. It knows nothing of FTP or FUSE: callers
// pass load and fill functions, and choose the keys (absolute remote paths,
// a file version string, a block number).
//
// A listing load gets, in its context, a sink (package pool/arriving) for
// the entries its listing gives while it still arrives (partial.go):
// [Dirs.LookupArriving] and [Dirs.GetArriving] answer a name found among
// them, never its absence. They live in the load's flight, outside the
// listing budget, and hold at most 20,000 entries (maxArrivals, a few MiB):
// names beyond that are not offered early, and a lookup of one waits for
// the whole listing as it would without arrivals. They are dropped
// when the load ends or is disowned (Update, Invalidate, InvalidateTree,
// Purge), so a local change is never contradicted by a load that may
// predate it.
//
// # Locking
//
// Dirs.mu and Blocks.mu are leaves: each guards only its own cache, neither
// is ever held while taking the other, and neither is held while a load or
// fill runs or while a caller waits for one. The one lock taken under
// Dirs.mu is a flight's arrivals.mu (disowning closes the arrivals), a
// leaf guarding only those entries; the load's goroutine takes it alone
// for each entry it offers. The one callback run under a
// lock is the patch function given to [Dirs.Update], which must therefore not
// call back into the same Dirs. Helpers named …Locked expect the lock held.
// A block fill started under a background context (package pool/priority)
// is marked so: a foreground Get that joins it promotes it and waits for it
// at most [Blocks.Patience] (or what [WithPatience] leaves of it), then
// fills on its own, disowning the slow fill
// (its result goes to its own waiters but is not stored).
// The sweeper goroutine ([Dirs.SweepEvery]) takes Dirs.mu once per sweep,
// for one scan of the held listings, and holds nothing between sweeps.
package cache
