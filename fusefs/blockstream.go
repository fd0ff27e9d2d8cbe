package fusefs

import (
	"context"
	"errors"
	"io"
)

// blockStream reads whole blocks of one file from one remote stream, which
// stays open while the blocks asked for follow each other.
type blockStream struct {
	reader RemoteReader
	next   int64 // the block the stream will yield next; -1 when unknown
}

// readBlock returns block idx of a file of size bytes.
func (s *blockStream) readBlock(ctx context.Context, idx int64, blockSize int, size int64) ([]byte, error) {
	bs := int64(blockSize)
	start := idx * bs
	n := min(bs, size-start)
	want := n
	last := start+n == size
	if last {
		// Ask for one byte past the end: the stream then meets EOF and the
		// server's 226 at once, so the connection goes back to the pool now
		// instead of being aborted (426, NOOP) when the file is closed.
		want++
	}
	buf := make([]byte, want)
	got, err := s.reader.ReadAt(ctx, buf, start)
	if int64(got) >= n && (!last || err == nil || errors.Is(err, io.EOF)) {
		s.next = idx + 1
		return buf[:n:n], nil
	}
	s.next = -1
	if err == nil || errors.Is(err, io.EOF) {
		err = errShortRead
	}
	return nil, err
}
