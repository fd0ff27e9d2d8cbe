package pool

import (
	"context"
	"sync"
)

// Warm logs in up to n connections in the background of a fresh mount.
func (p *Pool) Warm(ctx context.Context, n int) {
	n = min(n, p.cfg.MaxConns)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.warmOne(ctx)
		}()
	}
	wg.Wait()
}
