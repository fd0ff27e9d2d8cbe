package main

import (
	"github.com/ftpsfs/ftpsfs/fusefs"
	"github.com/ftpsfs/ftpsfs/pool"
)

// remote adapts the pool to the interfaces the node tree declares.
type remote struct{ *pool.Pool }

func (r remote) OpenReader(p string) fusefs.RemoteReader { return r.Pool.OpenReader(p) }

func (r remote) OpenLaneReader(p string) fusefs.RemoteReader { return r.Pool.OpenLaneReader(p) }

// The node tree asks for these capabilities by type assertion and works
// without them; these lines make a rename on either side a build error
// instead of a feature silently turned off. FullRemote embeds every
// capability the node tree asserts on its remote (a fusefs test keeps it
// so); the single lines name the one that broke.
var (
	_ fusefs.FullRemote    = remote{}
	_ fusefs.Remote        = remote{}
	_ fusefs.LaneOpener    = remote{}
	_ fusefs.PieceReader   = remote{}
	_ fusefs.SpaceReporter = remote{}
	_ fusefs.StreamStorer  = remote{}
	// Readers tell a transfer the server ended early from the file's end.
	_ fusefs.RemoteReader = (*pool.Reader)(nil)
	_ fusefs.SizeExpecter = (*pool.Reader)(nil)
)
