package fusefs

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpsfs/ftpsfs/cache"
)

// Isolated reads. A read that starts far from where the handle's previous
// read ended, and is small, fetches only the range it asks for (rounded up
// to minPieceBytes): a piece. Fetching the whole block around it instead
// (1 MiB) costs, on a long round trip, several more round trips of TCP slow
// start on the fresh data connection, for a read of 64 KiB.
//
// A piece is cached under a key of its own (BlockKey.Piece is its length,
// Index its first byte), so it is never taken for a whole block, and found
// again through pieceIndex. Its stream is its own and is ended in the
// background: the abort (426, then a NOOP) is off the next read's way,
// which gets another connection. Sequential reading (the kernel's
// readahead included) never comes here, so it keeps its blocks, stream and
// read-ahead.
const (
	minPieceBytes = 64 << 10
	// maxPieceRead: larger isolated reads take whole blocks, which a
	// sequential reader starting there would want anyway.
	maxPieceRead = 256 << 10
	// maxPiecesPerFile and maxPieceFiles bound the index (not the data,
	// which the block cache bounds); past them old entries are forgotten.
	maxPiecesPerFile = 4096
	maxPieceFiles    = 1024
)

// pieceState is a handle's memory of its previous read, under mu.
type pieceState struct {
	mu      sync.Mutex
	prevEnd int64 // where the previous read ended
}

// isolated records the read [off, end) and reports whether it starts far
// from where the previous one ended. A handle's first read counts as
// following a read that ended at 0, so reading from the start is not
// isolated.
func (p *pieceState) isolated(off, end int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.prevEnd
	p.prevEnd = end
	return off > prev+outOfOrderBytes || off+outOfOrderBytes < prev
}

// pieceFile is one version of one file.
type pieceFile struct{ path, version string }

// piece is a cached range of a file.
type piece struct{ start, length int64 }

// pieceIndex lists the pieces the block cache may hold, per file version,
// sorted by start. Entries whose data was evicted are dropped when met.
type pieceIndex struct {
	mu    sync.Mutex
	files map[pieceFile][]piece
}

func (x *pieceIndex) add(f pieceFile, p piece) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.files == nil {
		x.files = make(map[pieceFile][]piece)
	}
	if _, ok := x.files[f]; !ok && len(x.files) >= maxPieceFiles {
		for other := range x.files { // forget any one file's pieces
			delete(x.files, other)
			break
		}
	}
	ps := x.files[f]
	i, found := slices.BinarySearchFunc(ps, p, comparePieces)
	if found {
		return
	}
	if len(ps) >= maxPiecesPerFile {
		ps = slices.Delete(ps, 0, 1)
		i = max(0, i-1)
	}
	x.files[f] = slices.Insert(ps, i, p)
}

func comparePieces(a, b piece) int {
	if c := cmp.Compare(a.start, b.start); c != 0 {
		return c
	}
	return cmp.Compare(a.length, b.length)
}

// covering returns the pieces of f that may hold [off, end), best first.
func (x *pieceIndex) covering(f pieceFile, off, end int64) []piece {
	x.mu.Lock()
	defer x.mu.Unlock()
	ps := x.files[f]
	// Pieces are at most maxPieceRead long (rounded up to minPieceBytes),
	// so only those starting in that distance before off can reach it.
	first, _ := slices.BinarySearchFunc(ps, piece{start: off - max(maxPieceRead, minPieceBytes)}, comparePieces)
	var out []piece
	for _, p := range ps[first:] {
		if p.start > off {
			break
		}
		if p.start+p.length >= end {
			out = append(out, p)
		}
	}
	return out
}

func (x *pieceIndex) remove(f pieceFile, p piece) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ps := x.files[f]
	if i, found := slices.BinarySearchFunc(ps, p, comparePieces); found {
		ps = slices.Delete(ps, i, i+1)
	}
	if len(ps) == 0 {
		delete(x.files, f)
		return
	}
	x.files[f] = ps
}

func (h *handle) pieceKey(p piece) cache.BlockKey {
	return cache.BlockKey{Path: h.path, Version: h.ver, Index: p.start, Piece: p.length}
}

// readIsolated serves an isolated read of [off, end) from a piece, cached
// or fetched. ok false: the read is not isolated, or whole blocks already
// hold it; the block path serves it.
func (h *handle) readIsolated(ctx context.Context, off, end int64) (res fuse.ReadResult, ok bool, errno syscall.Errno) {
	if !h.pieces.isolated(off, end) || end-off > maxPieceRead {
		return nil, false, 0
	}
	bs := int64(h.fsys.cfg.BlockSize)
	whole := true
	for idx := off / bs; idx <= (end-1)/bs && whole; idx++ {
		_, whole = h.fsys.blocks.Peek(h.key(idx))
	}
	if whole {
		return nil, false, 0
	}
	h.observe(off / bs) // a seek: read-ahead for the old place stops
	file := pieceFile{h.path, h.ver}
	for _, p := range h.fsys.pieces.covering(file, off, end) {
		if _, ok := h.fsys.blocks.Peek(h.pieceKey(p)); !ok {
			h.fsys.pieces.remove(file, p)
			continue
		}
		// Get, not Peek: a hit makes the piece recent, so hot pieces stay
		// cached (one evicted since the Peek is fetched again: it covers the read).
		data, err := h.fsys.blocks.Get(ctx, h.pieceKey(p), func(ctx context.Context) ([]byte, error) {
			return h.fetchPiece(ctx, p)
		})
		if err != nil {
			return nil, true, h.fail(err)
		}
		return fuse.ReadResultData(data[off-p.start : end-p.start]), true, 0
	}
	p := piece{start: off, length: min(max(end-off, minPieceBytes), h.size-off)}
	data, err := h.fsys.blocks.Get(ctx, h.pieceKey(p), func(ctx context.Context) ([]byte, error) {
		return h.fetchPiece(ctx, p)
	})
	if err != nil {
		return nil, true, h.fail(err)
	}
	h.fsys.pieces.add(file, p)
	return fuse.ReadResultData(data[:end-off]), true, 0
}

// fetchPiece reads p on a stream of its own, which is then ended in the
// background.
func (h *handle) fetchPiece(ctx context.Context, p piece) ([]byte, error) {
	want := p.length
	last := p.start+p.length == h.size
	if last {
		want++ // meet the end: the stream then ends without an abort (see readBlock)
	}
	buf := make([]byte, want)
	var got int
	var err error
	if pr, ok := h.fsys.remote.(PieceReader); ok {
		got, err = pr.ReadPiece(ctx, h.path, buf, p.start, h.size)
	} else {
		r := h.fsys.openReader(h.path, h.size)
		got, err = r.ReadAt(ctx, buf, p.start)
		go func() { _ = r.Close() }()
	}
	if int64(got) >= p.length && (!last || err == nil || errors.Is(err, io.EOF)) {
		return buf[:p.length:p.length], nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errShortRead
	}
	return nil, err
}
