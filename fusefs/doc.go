// Package fusefs is the FUSE node tree of ftpsfs, on go-fuse's fs API:
// directories answered from cached listings, files read through a block
// cache fed by resumable remote streams, symlinks, statfs, the kernel cache
// policy, and the one place where errors become errno values (errno.go).
//
// It knows nothing of FTP: the server is reached through the Remote
// interface, which the pool package satisfies.
//
// Locking: fileNode.mu guards the node's last known attributes; handle.mu
// guards nothing on the network path (the remote reader serialises itself).
// No node lock is held across a network call. Cache invalidation of the
// kernel is never called from inside a handler.
package fusefs
