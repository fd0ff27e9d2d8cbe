package fusefs

import (
	"context"
	"errors"
	"sync"
	"time"
)

// freeSpaceTTL is how long one answer serves statfs calls: file managers
// and shells call it often, and each would otherwise cost a round trip.
const freeSpaceTTL = 10 * time.Second

// freeSpace caches the server's free space.
type freeSpace struct {
	mu          sync.Mutex
	bytes       int64
	at          time.Time
	unsupported bool // the server answered that it has no AVBL
}

// freeSpace returns the server's free bytes under the mount's root, or
// false when it does not tell.
func (f *FS) freeSpace(ctx context.Context) (int64, bool) {
	a, ok := f.remote.(SpaceReporter)
	if !ok {
		return 0, false
	}
	fs := &f.space
	fs.mu.Lock()
	defer fs.mu.Unlock() // one question at a time; the others wait for its answer
	if fs.unsupported {
		return 0, false
	}
	if !fs.at.IsZero() && time.Since(fs.at) < freeSpaceTTL {
		return fs.bytes, true
	}
	ctx, cancel := f.opContext(ctx)
	defer cancel()
	n, err := a.Avail(ctx, f.cfg.Root)
	if errors.Is(err, errors.ErrUnsupported) {
		fs.unsupported = true
		return 0, false
	}
	if err != nil {
		return fs.bytes, !fs.at.IsZero() // the last answer, if any
	}
	fs.bytes, fs.at = n, time.Now()
	return n, true
}
