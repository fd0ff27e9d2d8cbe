package fusefs

import (
	"context"
	"io/fs"
)

// Remote is what the filesystem needs from the server.
type Remote interface {
	// List returns a directory's entries without "." and "..".
	List(ctx context.Context, dir string) ([]fs.FileInfo, error)
	// OpenReader returns a reader of one file; nothing is sent until it is read.
	OpenReader(path string) RemoteReader
}

// RemoteReader reads one remote file at offsets, sequentially when it can.
type RemoteReader interface {
	// ReadAt fills buf from off: len(buf) and nil, or fewer and io.EOF when
	// the file ends first, or an error.
	ReadAt(ctx context.Context, buf []byte, off int64) (int, error)
	Close() error
}

// linkTargeter is implemented by listing entries that are symlinks.
type linkTargeter interface{ LinkTarget() string }
