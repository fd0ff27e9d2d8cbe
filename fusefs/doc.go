// Package fusefs is the FUSE node tree of ftpsfs, on go-fuse's fs API:
// directories answered from cached listings, files read through a block
// cache fed by resumable remote streams, writes spooled locally and
// uploaded on close, symlinks, statfs, the kernel cache policy, and the one
// place where errors become errno values (errno.go).
//
// It knows nothing of FTP: the server is reached through the Remote
// interface, which the pool package satisfies, and errno.go maps the
// pool's error sentinels (pool.ErrNoSpace), never reply codes.
//
// # What is on the server is never destroyed on a guess
//
// Listings may be dir_cache_ttl old, and other clients write too. So every
// step that could destroy data asks the server first (Remote.Stat): create
// (a file another client made is opened, never truncated; O_EXCL fails),
// the first write into an existing file (its current content is loaded to
// its end). Uploads go to a temporary name and are renamed over the file;
// the rename never deletes a target it cannot replace (see pool.Rename).
// A spool whose write failed is never uploaded. Replacements keep the old
// mode, and a mode that keeps others out is set on the temporary before any
// content is sent (write.go). Temporaries of killed uploads are deleted
// when provably abandoned (leftovers.go). Blocks cached under a listing
// with rounded times are checked against MDTM after dir_cache_ttl
// (version.go).
//
// # Listings fetched ahead of a walk
//
// When a program's listing of a directory arrives (readdir, or the load a
// lookup waited for), the listings of its subdirectories are queued and
// fetched in the background, in listing order (prefetchdirs.go), so a tree
// walk finds them listed. Bounds: at most Config.DirPrefetch (dir_prefetch=,
// default connections/2) such loads in flight mount-wide; a queue of 256
// directories that drops its oldest entry when full; only a listing a
// program used queues its children, so prefetch runs at most one level
// ahead of the walk. Symlinks are never followed, and directories whose
// listing is fresh or loading are skipped. What cancels it: a queued entry
// whose parent no program used for 3 s is dropped; a local change in a
// directory disowns its prefetch in flight like any load (cache.Dirs), so
// a listing older than the change is never shown; a program that asks for
// a directory being prefetched joins the load and promotes it to the
// foreground (pool/priority); unmount drops the queue and cancels the
// loads. A prefetch that fails is dropped quietly: nothing is cached.
//
// # A directory that lists slowly
//
// A lookup or getattr waits lookupPatience (1 s, from the listing's start)
// for its directory's listing; after that it is answered from the entries
// the listing still arriving has given so far (cache.Dirs.GetArriving),
// as soon as its name is among them, refined as the finished listing
// would be. Only "found" is answered early: a name not given yet is absent
// only once the listing has ended. On a server that answers one name with
// its mode (MLST) a name not arrived yet is asked about instead (Stat).
// The pool offers an entry early only when it is the finished listing's
// own (pool/listpartial.go), and a local change (Update, Invalidate) drops
// what a listing in flight has given.
//
// # LOCK ORDERING
//
// Locks are taken in this order, never the reverse:
//
//	fileNode.ioMu → fileNode.mu → spool.life
//	fileNode.ioMu → streamUpload.mu
//
// and these are leaves, taken with nothing after them: pendingFiles.mu,
// contentVersions.mu, exactTimes.mu, generations.mu, uploadOwner.mu, handle.fillMu (then
// only the cache's own locks), freeSpace.mu, filePrefetch.mu,
// pieceState.mu, pieceIndex.mu, dirHandle.mu. The last three are never
// held across the network: a piece is fetched under the block cache's
// single flight only (pieces.go), and an open directory's listing is
// loaded once under dirHandle.mu, which READDIRPLUS's lookups then take
// only to read it (dirhandle.go).
//
//   - dirPrefetch.mu, a leaf too, guards the prefetch queue (per parent,
//     with each parent's last use), the programs waiting in directories,
//     what it remembers (which listing queued a directory's children, the
//     directories prefetched lately) and the count of loads in flight.
//     Never held across the network, nor while calling into the listing
//     cache (Dirs.Prefetch is called after it is released; a load's end
//     takes it from inside the cache's load goroutine, which holds no
//     cache lock then). Every operation under it is O(depth) or O(queued
//     parents), never a scan of every directory used.
//   - fileNode.ioMu serialises loading, writing, truncating and uploading
//     one file's spool, so an upload never sends a file half-way through a
//     write. It IS held across the network: the download before the first
//     in-place write, and the upload on close. A second writer of the same
//     file waits for the first one's upload (FTP has no partial writes:
//     the whole file goes up at once), but an open, write, truncate or
//     unlink waits about its timeout at most and then fails with ETIMEDOUT
//     (iolock.go); a chmod of a file with unsaved changes does not wait
//     (the upload, or the running one when it ends, applies it). Such a write loses the program's data, so it
//     poisons the spool: it never replaces the server's copy. A handle
//     never times out behind its own upload (a FLUSH from closing a dup):
//     it waits. Uploads and releases wait as long as it takes. An upload
//     started by fsync keeps writers waiting anyway: the kernel holds the
//     inode lock across FSYNC, which no filesystem can shorten.
//   - ioLock.mu guards which handle holds ioMu; a leaf.
//   - fileNode.mu guards the node's attributes (info, openedVers, writers,
//     unlinked, the spool pointer and the spool's fields). Never held
//     across the network (creating, truncating and closing the spool file
//     are the only disk calls under it).
//   - spool.life keeps the spool file open while readSpool reads it without
//     the node locks; close takes it exclusively.
//   - streamUpload.mu guards a streaming upload's counters; its cond
//     wakes the STOR goroutine.
//   - handle.fillMu serialises fills on one handle's stream (held across
//     the network: it is that stream's use).
//   - freeSpace.mu is held across one AVBL round trip, so concurrent
//     statfs calls share one question.
//   - filePrefetch.mu guards the reading order followed per directory, the
//     queue of files to fetch ahead, the bytes fetched ahead and the files
//     workers are fetching (whose bytes stay counted until the fetch ends,
//     even when their walk ended); never held across the network. Its ctx
//     ends at unmount, which stops the workers. A prefetch takes a file node's mu only to see
//     whether the file has a spool, and holds no handle and no ioMu.
//
// # Work done ahead of need
//
// Read-ahead lanes (lanes.go) and small files fetched ahead
// (prefetchfiles.go) are background work (package pool/priority): the
// pool serves a program's requests first. A read that needs a block such
// work is fetching promotes that fill and waits for it at most the block
// cache's patience (8 round trips, at least 50 ms: about one small
// transfer; see FS.patience), then fetches on its own: one patience in
// all, counting the wait for a lane's claim (awaitLane) and the one in the
// cache. When a program opens the files of a directory in listing order
// (a few out of order still count), the next 8 regular files of one block
// at most are fetched into the block cache under the keys their opens
// will use, by about connections/2 workers that end when nothing is
// queued or at unmount, and within min(cache_size/8, 8 MiB) of bytes
// fetched and not opened yet (64 directories followed at most; files the
// walk passed by two opens no longer count). A prefetch never
// changes what is read: a file with a spool, or no longer listed as it
// was queued, is skipped, checked again once its cache flight is
// registered so that any later local change (InvalidatePath, or
// InvalidateTree for a directory renamed or removed) disowns it;
// a file changed on the server gets new keys from its new listing.
//
// dirHandle (an open directory) has no lock: go-fuse serialises the
// requests on one handle, and its listing is immutable.
//
// Kernel cache invalidation is never called from inside a handler.
package fusefs
