package fusefs

import (
	"context"
	"io"
	"io/fs"
	"time"
)

// Remote is what the filesystem needs from the server.
type Remote interface {
	// List returns a directory's entries without "." and "..".
	List(ctx context.Context, dir string) ([]fs.FileInfo, error)
	// OpenReader returns a reader of one file; nothing is sent until it is read.
	OpenReader(path string) RemoteReader
	// Store replaces path with size bytes of src, returning only once the
	// server confirmed all of them.
	Store(ctx context.Context, path string, src io.ReaderAt, size int64) error
	// Rename moves from to to. With aside set, an existing file at to may be
	// replaced; a server that refuses to rename over it gets to moved to
	// aside first (never deleted before the replacement is in place).
	Rename(ctx context.Context, from, to, aside string) error
	// Stat asks the server about path now (not from a listing); a missing
	// path is an error wrapping fs.ErrNotExist.
	Stat(ctx context.Context, path string) (fs.FileInfo, error)
	// StatsOneName reports whether Stat asks about one name with one
	// command and gets its mode (MLST), rather than listing its directory
	// or guessing the mode from SIZE and CWD.
	StatsOneName() bool
	// Chmod sets path's permission bits; a server that cannot gives an
	// error wrapping errors.ErrUnsupported.
	Chmod(ctx context.Context, path string, mode fs.FileMode) error
	Delete(ctx context.Context, path string) error
	MakeDir(ctx context.Context, dir string) error
	RemoveDir(ctx context.Context, dir string) error
	// SetTime sets a file's modification time.
	SetTime(ctx context.Context, path string, t time.Time) error
}

// The capabilities below are optional: the filesystem asks for each with a
// type assertion on its Remote (or reader) and works without it, more slowly
// or with less to show. The test fakes provide some and not others, which is
// how both ways are tested. The pool provides all of them; cmd/ftpsfs
// asserts at compile time that what it passes to New is a FullRemote and
// that its readers are SizeExpecters, so a renamed method or a changed
// signature on either side breaks the build instead of silently turning the
// feature off. TestRemoteCapabilitiesAreChecked fails when the remote is
// asserted to be anything FullRemote does not embed.

// FullRemote is a Remote with every optional capability: what the pool
// provides.
type FullRemote interface {
	Remote
	LaneOpener
	PieceReader
	SpaceReporter
	StreamStorer
}

// LaneOpener is a Remote that can read one file over several streams at
// once (lanes.go). Without it, or when it reports fewer than two lanes or a
// short round trip, a file is read on one stream.
type LaneOpener interface {
	// OpenLaneReader returns a reader for read-ahead, which the remote may
	// hold back or interrupt in favour of other work.
	OpenLaneReader(path string) RemoteReader
	// ReadLanes is how many streams one file may use at once.
	ReadLanes() int
	// RoundTrip is about the network's round-trip time.
	RoundTrip() time.Duration
}

// PieceReader is a Remote with a faster way to read a piece of a file than
// opening a reader for it (the pool keeps a data connection ready).
// Without it, a piece gets a reader of its own (pieces.go).
type PieceReader interface {
	// ReadPiece fills buf from off of path, whose size is size, like
	// RemoteReader.ReadAt.
	ReadPiece(ctx context.Context, path string, buf []byte, off, size int64) (int, error)
}

// SpaceReporter is a Remote that can tell the free space under a directory
// (AVBL). A server that cannot gives an error wrapping
// errors.ErrUnsupported; without either, statfs shows statfs_size=.
type SpaceReporter interface {
	Avail(ctx context.Context, dir string) (int64, error)
}

// StreamStorer is a Remote that can upload while the data is still being
// written: StoreStream stores what src yields until io.EOF and returns how
// many bytes the server confirmed. Without it, a large file is uploaded
// whole on close (stream.go).
type StreamStorer interface {
	StoreStream(ctx context.Context, path string, src io.Reader) (int64, error)
}

// SizeExpecter is a RemoteReader that can tell a transfer the server ended
// early (then resumed) from the real end of the file, once it knows the
// size the file should have.
type SizeExpecter interface{ ExpectSize(size int64) }

// RemoteReader reads one remote file at offsets, sequentially when it can.
type RemoteReader interface {
	// ReadAt fills buf from off: len(buf) and nil, or fewer and io.EOF when
	// the file ends first, or an error.
	ReadAt(ctx context.Context, buf []byte, off int64) (int, error)
	Close() error
}

// linkTargeter is implemented by listing entries that are symlinks.
type linkTargeter interface{ LinkTarget() string }

// timePrecision is implemented by entries that know whether their time is
// exact to the second (MLSD, MDTM) or rounded (LIST: minutes, or days).
type timePrecision interface{ PreciseTime() bool }

// modeKnower is implemented by entries that know whether their mode is the
// server's or a default (a listing without modes).
type modeKnower interface{ ModeKnown() bool }

// modeKnown reports whether fi's permission bits are the server's: only
// then does a replacement copy them onto the server (a default 0644 would
// widen a 0600 file).
func modeKnown(fi fs.FileInfo) bool {
	k, ok := fi.(modeKnower)
	return ok && k.ModeKnown()
}

// preciseTime reports whether fi's time tells every change apart that
// keeps the size (to the second).
func preciseTime(fi fs.FileInfo) bool {
	p, ok := fi.(timePrecision)
	return ok && p.PreciseTime()
}
