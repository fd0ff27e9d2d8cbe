package fusefs

import (
	"context"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
	"github.com/ftpsfs/ftpsfs/pool/priority"
)

// Parallel ranged reads. FTP has no ranged GET: a range is a REST + RETR
// stream that is aborted where the range ends. On a link with a long round
// trip, one stream is limited by its TCP window, so a long sequential read
// is split into chunks that several streams (lanes) fetch at once, each
// claiming the next chunk in turn. Chunks are large so that the abort and
// reopen between them (a few round trips) cost little next to the transfer.
//
// Lanes only pay when one stream is limited by its window rather than by
// the link: each chunk also costs a TCP slow start and the bytes in flight
// past its end. So a reader first runs on one stream, then with lanes, and
// keeps them only if they made it read clearly faster (laneGain).
const (
	minLaneChunkBytes = 16 << 20
	maxLaneChunkBytes = 64 << 20
	laneAfterBytes    = 8 << 20 // sequential reading before measuring one stream
	laneGain          = 1.15    // how much faster lanes must be to stay
	maxLanes          = 4       // more streams per file gain little and crowd other files out
	// laneMinRTT: below it (a LAN, loopback) one stream's window covers
	// any bandwidth, so lanes are not even tried.
	laneMinRTT = 2 * time.Millisecond
)

// laneProbe is a handle's state of trying lanes, under readAhead.mu.
type laneProbe struct {
	parallel   bool      // lanes fetch ahead
	tried      bool      // lanes were started (they are tried once per open)
	started    int       // lane goroutines started
	markBlock  int64     // where the current measurement began
	markTime   time.Time // when
	oneStream  float64   // blocks per second on one stream; 0 once judged
	measureFor int64     // blocks the current measurement spans
}

// rate is the reading speed since the mark, in blocks per second.
func (pr *laneProbe) rate(idx int64, now time.Time) float64 {
	return float64(idx-pr.markBlock) / max(now.Sub(pr.markTime).Seconds(), 1e-9)
}

// lanesLocked moves a sequential reader's lanes along, starts them once
// one stream has been measured, and stops them if they did not pay. It
// reports whether lanes are fetching ahead (then the single-stream fetcher
// stays off).
func (h *handle) lanesLocked(idx, lastBlock int64) bool {
	ra, pr := h.ra, &h.ra.probe
	plan := h.fsys.lanePlan()
	now := time.Now()
	switch {
	case pr.parallel:
		if pr.oneStream > 0 && idx-pr.markBlock >= pr.measureFor {
			withLanes := pr.rate(idx, now)
			pr.parallel = withLanes >= laneGain*pr.oneStream
			h.fsys.log.Debug("parallel ranges measured", "path", h.path, "lanes", plan.lanes,
				"one_stream_MiBps", pr.oneStream*float64(h.fsys.cfg.BlockSize)/(1<<20),
				"lanes_MiBps", withLanes*float64(h.fsys.cfg.BlockSize)/(1<<20), "kept", pr.parallel)
			pr.oneStream = 0
			if !pr.parallel {
				ra.cond.Broadcast() // lanes end at their next claim
				return false
			}
		}
		h.runLanesLocked(plan, min(idx+plan.window, lastBlock), idx+1)
		return true
	case pr.tried:
	case pr.markTime.IsZero():
		if plan.worthIt(int64(ra.seq), lastBlock-idx) {
			pr.markBlock, pr.markTime = idx, now // measure one stream over a chunk
		}
	case lastBlock-idx < plan.chunk:
		pr.tried = true // too little left to be worth it
	case idx-pr.markBlock >= plan.chunk:
		pr.oneStream = pr.rate(idx, now)
		pr.parallel, pr.tried = true, true
		pr.markBlock, pr.markTime, pr.measureFor = idx, now, int64(plan.lanes)*plan.chunk
		h.fsys.log.Debug("parallel ranges started", "path", h.path, "lanes", plan.lanes,
			"chunk_MiB", plan.chunk*int64(h.fsys.cfg.BlockSize)>>20, "at", idx*int64(h.fsys.cfg.BlockSize))
		h.runLanesLocked(plan, min(idx+plan.window, lastBlock), idx+1)
		return true
	}
	return false
}

// lanePlan is how a sequential reader of this mount is fetched in parallel.
type lanePlan struct {
	lanes  int   // streams; < 2 means no lanes
	chunk  int64 // blocks per claim
	window int64 // blocks fetched ahead of the reader
	after  int64 // blocks read in a row before lanes start
}

func (f *FS) lanePlan() lanePlan {
	lo, ok := f.remote.(LaneOpener)
	if !ok || lo.RoundTrip() < laneMinRTT {
		return lanePlan{}
	}
	bs := int64(f.cfg.BlockSize)
	p := lanePlan{lanes: min(lo.ReadLanes(), maxLanes), after: max(1, laneAfterBytes/bs)}
	// What is fetched ahead must stay cached until it is read: the window
	// stays within half the block cache. Chunks are as large as that
	// allows, up to maxLaneChunkBytes: every chunk costs a reopen, a TCP
	// slow start and the abort of what was in flight past its end.
	budget := f.blocks.MaxBytes() / 2 / bs
	for ; p.lanes > 1; p.lanes-- {
		p.chunk = min(budget/int64(p.lanes+1), maxLaneChunkBytes/bs)
		if p.chunk >= minLaneChunkBytes/bs {
			break
		}
	}
	p.window = int64(p.lanes+1) * p.chunk
	return p
}

// worthIt says whether a reader that read seq blocks in a row, with left
// blocks after the current one, should get lanes.
func (p lanePlan) worthIt(seq, left int64) bool {
	return p.lanes > 1 && seq >= p.after && left >= 2*p.chunk
}

// runLanesLocked starts the lanes if needed and moves their target. It is
// called with h.ra.mu held.
func (h *handle) runLanesLocked(p lanePlan, target, next int64) {
	ra := h.ra
	if ra.probe.started == 0 {
		ra.probe.started = p.lanes
		for range p.lanes {
			ra.wg.Add(1)
			go h.lane(p.chunk)
		}
	}
	ra.target = target
	ra.next = max(ra.next, next)
	ra.cond.Broadcast()
}

// lane claims chunks ahead of the reader and fetches them into the block
// cache on a stream of its own, until the handle is released or lanes are
// given up. The handle's stream stays for the reads that outrun them.
func (h *handle) lane(chunk int64) {
	ra := h.ra
	defer ra.wg.Done()
	s := &blockStream{reader: h.fsys.openLaneReader(h.path, h.size), next: -1}
	defer func() { _ = s.reader.Close() }()
	fill := func(ctx context.Context, idx int64) ([]byte, error) {
		return s.readBlock(ctx, idx, h.fsys.cfg.BlockSize, h.size)
	}
	lastBlock := (h.size - 1) / int64(h.fsys.cfg.BlockSize)
	for {
		ra.mu.Lock()
		for ra.ctx.Err() == nil && ra.probe.parallel && ra.next > ra.target {
			ra.cond.Wait()
		}
		if ra.ctx.Err() != nil || !ra.probe.parallel {
			ra.mu.Unlock()
			return
		}
		c := &claim{start: ra.next, end: min(ra.next+chunk-1, lastBlock)}
		seeks := ra.seeks
		ra.next = c.end + 1
		ra.claims[c] = struct{}{}
		ra.mu.Unlock()
		for b := c.start; b <= c.end; b++ {
			ra.mu.Lock()
			stale := ra.seeks != seeks
			ra.mu.Unlock()
			if stale {
				break // the reader went elsewhere
			}
			// Each block is background work of its own, so a read that
			// joins it promotes that block only (cache.Blocks.Get).
			_, err := h.fsys.blocks.Get(priority.Background(ra.ctx), h.key(b), func(ctx context.Context) ([]byte, error) {
				return fill(ctx, b)
			})
			ra.progressed()
			if err != nil {
				break // the read that needs the block fetches it and reports the error
			}
		}
		ra.mu.Lock()
		delete(ra.claims, c)
		ra.mu.Unlock()
		ra.progressed()
	}
}

// claim is a chunk a lane is fetching.
type claim struct{ start, end int64 }

// progressed wakes reads waiting for a lane.
func (ra *readAhead) progressed() {
	ra.mu.Lock()
	close(ra.progress)
	ra.progress = make(chan struct{})
	ra.mu.Unlock()
}

// awaitLane waits while block idx belongs to a chunk a lane is fetching
// and is not cached yet, so that a read never fetches the lane's blocks
// on the handle's stream (which would then reopen at every other block).
// It waits no longer than the block cache's patience without the lanes
// delivering a block: a stalled lane is background work, which a read
// never waits long for; the read then fetches itself.
// It returns the context to get the block under: after a wait here, one
// whose patience is what is left of it, so that joining the lane's fill
// in the cache does not wait a second patience.
func (h *handle) awaitLane(ctx context.Context, idx int64) context.Context {
	ra := h.ra
	var timer *time.Timer // started at the first wait: most reads never wait
	var start time.Time
	patience := h.fsys.blocks.Patience()
	rest := func() context.Context {
		if timer == nil {
			return ctx
		}
		timer.Stop()
		return cache.WithPatience(ctx, patience-time.Since(start))
	}
	for {
		ra.mu.Lock()
		claimed := false
		for c := range ra.claims {
			claimed = claimed || c.start <= idx && idx <= c.end
		}
		wake := ra.progress
		ra.mu.Unlock()
		if !claimed {
			return rest()
		}
		if _, ok := h.fsys.blocks.Peek(h.key(idx)); ok {
			return rest()
		}
		if timer == nil {
			start, timer = time.Now(), time.NewTimer(patience)
		}
		select {
		case <-wake:
			// The lanes delivered a block: they are making progress, and
			// the patience counts from now. Only lanes that stall (held
			// back for a connection, or a silent server) are overtaken;
			// overtaking a lane that streams opens the handle's own stream
			// where the lane is about to deliver, which at a 20 ms round
			// trip cost sequential reads a quarter of their speed.
			start = time.Now()
			if !timer.Stop() {
				<-timer.C
			}
			timer.Reset(patience)
		case <-timer.C:
			return rest()
		case <-ctx.Done():
			return rest()
		}
	}
}

// patience is how long a read waits for background work (a lane, a
// prefetch) before fetching on its own: a few round trips, measured where
// the remote tells them. It is about what one small transfer takes (data
// connection, its TLS handshake, RETR, the reply): a fetch under way
// usually ends within it, so waiting beats a second download, while one
// that is stuck or held back costs the read little.
func (f *FS) patience() time.Duration {
	if lo, ok := f.remote.(LaneOpener); ok {
		if rtt := lo.RoundTrip(); rtt > 0 {
			return max(8*rtt, minPatience)
		}
	}
	return 0 // the cache's default
}

// minPatience keeps a read on a fast link from giving up on background
// work that is about to deliver: on loopback a TLS data connection alone
// takes milliseconds.
const minPatience = 50 * time.Millisecond
