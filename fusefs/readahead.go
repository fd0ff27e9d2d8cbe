package fusefs

import (
	"context"
	"sync"
)

// readAhead fetches the blocks after a sequential reader's position in the
// background, through the same single-flight block cache the reads use, so
// the next read finds its block ready: decrypting and copying the stream
// then overlaps with serving the kernel. The window doubles while reads stay
// sequential, up to maxReadAheadBytes, fetched over the handle's stream.
// A reader that stays sequential for laneAfterBytes of a large file gets
// parallel ranges instead (see lanes.go).
type readAhead struct {
	mu       sync.Mutex
	cond     *sync.Cond          // lanes wait on it for the target to move
	last     int64               // last block a read asked for; -1 before the first
	seq      int                 // how many reads in a row were sequential
	next     int64               // first block not yet fetched ahead (or claimed by a lane)
	target   int64               // last block to fetch ahead; raised while reads stay sequential
	seeks    int                 // counts seeks: a lane drops a chunk claimed before one
	running  bool                // the single-stream fetcher runs
	probe    laneProbe           // whether lanes run, and the measurements that decide it
	claims   map[*claim]struct{} // chunks lanes are fetching
	progress chan struct{}       // closed when a lane fetched a block or let go of a chunk
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

const maxReadAheadBytes = 16 << 20

// outOfOrderBytes is how far the kernel's concurrent reads of a sequential
// reader (readahead and the read itself, up to 1 MiB each) may stray from
// each other without counting as a seek.
const outOfOrderBytes = 4 << 20

func newReadAhead() *readAhead {
	ctx, cancel := context.WithCancel(context.Background())
	ra := &readAhead{last: -1, ctx: ctx, cancel: cancel, claims: map[*claim]struct{}{}, progress: make(chan struct{})}
	ra.cond = sync.NewCond(&ra.mu)
	return ra
}

// observe records a read of block idx and starts fetching ahead when the
// reads are sequential.
func (h *handle) observe(idx int64) {
	ra := h.ra
	outOfOrderBlocks := max(2, outOfOrderBytes/int64(h.fsys.cfg.BlockSize))
	ra.mu.Lock()
	switch {
	case idx == ra.last:
	case idx > ra.last && idx <= ra.last+outOfOrderBlocks:
		ra.seq++
	case idx < ra.last && idx >= ra.last-outOfOrderBlocks && ra.last >= 0:
		ra.mu.Unlock() // the kernel's readahead, out of order: still sequential
		return
	default:
		ra.seq, ra.next, ra.target = 0, 0, -1 // a seek: stop fetching ahead for the old place
		ra.seeks++
	}
	ra.last = idx
	if ra.seq < 2 {
		ra.mu.Unlock()
		return
	}
	bs := int64(h.fsys.cfg.BlockSize)
	lastBlock := (h.size - 1) / bs
	if h.lanesLocked(idx, lastBlock) {
		ra.mu.Unlock()
		return
	}
	window := min(int64(1)<<min(ra.seq, 10), maxReadAheadBytes/bs)
	ra.target = min(idx+window, lastBlock)
	ra.next = max(ra.next, idx+1)
	if ra.running || ra.next > ra.target {
		ra.mu.Unlock() // the running fetcher sees the new target
		return
	}
	ra.running = true
	ra.wg.Add(1)
	ra.mu.Unlock()
	go h.fetchAhead()
}

// fetchAhead runs until it has caught up with the target, which reads keep
// raising, so a steady sequential reader keeps one stream busy without gaps.
// It hands over to lanes when they start.
func (h *handle) fetchAhead() {
	ra := h.ra
	defer ra.wg.Done()
	for {
		ra.mu.Lock()
		b := ra.next
		if b > ra.target || ra.probe.parallel || ra.ctx.Err() != nil {
			ra.running = false
			ra.mu.Unlock()
			return
		}
		ra.mu.Unlock()
		if _, err := h.fsys.blocks.Get(ra.ctx, h.key(b), func(ctx context.Context) ([]byte, error) {
			return h.fill(ctx, b)
		}); err != nil {
			ra.mu.Lock()
			ra.running = false // the read that needs it will fetch it and report the error
			ra.mu.Unlock()
			return
		}
		ra.mu.Lock()
		if ra.next == b {
			ra.next = b + 1
		}
		ra.mu.Unlock()
	}
}

// stop ends fetching ahead and waits for it, before the stream is closed.
func (ra *readAhead) stop() {
	ra.cancel()
	ra.mu.Lock()
	ra.cond.Broadcast()
	ra.mu.Unlock()
	ra.wg.Wait()
}
