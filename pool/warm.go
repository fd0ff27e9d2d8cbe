package pool

import (
	"context"
	"sync"
)

// Warm logs in up to n connections in the background of a fresh mount, so
// the first parallel reads do not each pay for a login (TCP, TLS, USER/PASS,
// FEAT, PBSZ, PROT: several round trips and, on vsftpd, ~55 ms of server
// CPU). Failures are ignored: the pool dials on demand anyway.
func (p *Pool) Warm(ctx context.Context, n int) {
	n = min(n, p.cfg.MaxConns)
	var (
		mu    sync.Mutex
		conns []*conn
		wg    sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.get(ctx, false, false)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, c := range conns {
		p.put(c, false)
	}
}
