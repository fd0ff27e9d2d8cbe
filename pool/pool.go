package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"sync"
	"time"
)

// Pool lends logged-in control connections. At most MaxConns exist at once;
// read streams may hold at most MaxConns-1 of them (when MaxConns > 1) so
// metadata operations always find one, and an idle stream is closed to free
// its connection when anyone is waiting.
type Pool struct {
	cfg     Config
	log     *slog.Logger
	dialer  *dialer
	Metrics Metrics

	mu      sync.Mutex
	idle    []*conn               // most recently used last
	open    int                   // connections lent, idle or being dialled
	max     int                   // MaxConns, lowered when the server refuses more
	streams int                   // connections lent to readers
	readers map[*Reader]time.Time // readers holding a stream while not reading, by last use
	changed chan struct{}         // closed and replaced whenever a connection is freed
	closed  bool
}

// New prepares a pool; it does not connect (see Check).
func New(cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	p := &Pool{cfg: cfg, log: cfg.Logger, max: cfg.MaxConns, readers: map[*Reader]time.Time{}, changed: make(chan struct{})}
	d, err := newDialer(cfg, &p.Metrics)
	if err != nil {
		return nil, err
	}
	p.dialer = d
	return p, nil
}

// Check logs in once (so bad credentials or certificates fail before
// mounting) and verifies that dir exists; the connection stays in the pool.
func (p *Pool) Check(ctx context.Context, dir string) error {
	return p.do(ctx, "check", dir, false, func(c *conn) error {
		if err := c.sc.ChangeDir(dir); err != nil {
			return replyError("start directory", dir, err)
		}
		return nil
	})
}

// Close quits every idle connection; lent ones are closed when returned.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.signalLocked()
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
	return nil
}

// OpenConns is the number of control connections currently open or dialling.
func (p *Pool) OpenConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *Pool) maxStreamsLocked() int {
	if p.max > 1 {
		return p.max - 1
	}
	return 1
}

func (p *Pool) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// get lends a connection. fresh skips idle connections that were not
// checked, after an operation failed on one.
func (p *Pool) get(ctx context.Context, forStream, fresh bool) (*conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if !forStream || p.streams < p.maxStreamsLocked() {
			if n := len(p.idle); n > 0 {
				c := p.idle[n-1]
				p.idle = p.idle[:n-1]
				p.lendLocked(c, forStream)
				p.mu.Unlock()
				if fresh || time.Since(c.lastUsed) > p.cfg.IdleCheck {
					if err := c.sc.NoOp(); err != nil {
						p.log.Debug("idle connection failed its check", "err", err)
						p.put(c, true)
						continue
					}
				}
				return c, nil
			}
			if p.open < p.max {
				p.open++
				p.mu.Unlock()
				c, err := p.dialer.dial(ctx)
				if err != nil {
					p.Metrics.DialFailures.Add(1)
					if p.shrinkOnRefusal(err) {
						continue
					}
					p.mu.Lock()
					p.open--
					p.signalLocked()
					p.mu.Unlock()
					return nil, err
				}
				p.mu.Lock()
				p.lendLocked(c, forStream)
				p.mu.Unlock()
				return c, nil
			}
		}
		victim := p.oldestIdleReaderLocked()
		wake := p.changed
		p.mu.Unlock()
		if victim != nil && victim.park() {
			p.Metrics.Evictions.Add(1)
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a free connection: %w", ctx.Err())
		}
	}
}

func (p *Pool) lendLocked(c *conn, forStream bool) {
	c.stream = forStream
	if forStream {
		p.streams++
	}
}

// shrinkOnRefusal handles a server that refuses one more connection (421 at
// the greeting, as vsftpd's max_per_ip does) while others are open: the
// pool shrinks to what the server allows and the caller waits instead of
// failing.
func (p *Pool) shrinkOnRefusal(err error) bool {
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 421 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open--
	if p.open == 0 {
		p.signalLocked()
		return false
	}
	if p.max > p.open {
		p.log.Warn("server refused another connection; using fewer", "connections", p.open, "reply", te.Msg)
		p.max = p.open
	}
	p.signalLocked()
	return true
}

// put returns a lent connection; a broken one is dropped.
func (p *Pool) put(c *conn, isBroken bool) {
	c.lastUsed = time.Now()
	p.mu.Lock()
	if c.stream {
		p.streams--
		c.stream = false
	}
	if isBroken || p.closed {
		p.open--
		p.signalLocked()
		p.mu.Unlock()
		if isBroken {
			p.Metrics.Discards.Add(1)
			c.drop()
		} else {
			c.close()
		}
		return
	}
	p.idle = append(p.idle, c)
	p.signalLocked()
	p.mu.Unlock()
}

// do runs fn on a lent connection. When the connection breaks and the
// operation is idempotent, it is retried once on a fresh connection.
func (p *Pool) do(ctx context.Context, op, path string, idempotent bool, fn func(*conn) error) error {
	if err := checkPath(path); err != nil {
		return err
	}
	fresh := false
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx, false, fresh)
		if err != nil {
			return err
		}
		start := time.Now()
		err = fn(c)
		isBroken := broken(err)
		p.put(c, isBroken)
		p.log.Debug("remote op", "op", op, "path", path, "took", time.Since(start).Round(time.Microsecond), "err", err)
		if p.cfg.OnOp != nil {
			p.cfg.OnOp(op, time.Since(start), err)
		}
		if isBroken && idempotent && attempt == 0 && transient(err) && ctx.Err() == nil {
			p.Metrics.Retries.Add(1)
			p.log.Debug("retrying on a fresh connection", "op", op, "path", path, "err", err)
			fresh = true
			continue
		}
		return err
	}
}

// readerIdle records that r holds a stream but is not reading.
func (p *Pool) readerIdle(r *Reader, idle bool) {
	p.mu.Lock()
	if idle {
		p.readers[r] = time.Now()
		p.signalLocked() // a waiter may now evict it
	} else {
		delete(p.readers, r)
	}
	p.mu.Unlock()
}

func (p *Pool) oldestIdleReaderLocked() *Reader {
	var victim *Reader
	var oldest time.Time
	for r, t := range p.readers {
		if victim == nil || t.Before(oldest) {
			victim, oldest = r, t
		}
	}
	return victim
}
