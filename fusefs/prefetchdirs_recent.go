package fusefs

import "time"

// recent remembers a value per key for ttl after it was put, at most max
// keys (the oldest go first). Its cost is amortised O(1) per call: keys
// leave in the order they were put, so nothing scans the whole set. Not
// safe for concurrent use: its owner's lock guards it.
type recent[V comparable] struct {
	ttl   time.Duration
	max   int
	m     map[string]recentValue[V]
	order []recentKey // by put time, oldest first; a key put again is in it twice
}

type recentValue[V comparable] struct {
	v  V
	at time.Time
}

type recentKey struct {
	key string
	at  time.Time
}

func newRecent[V comparable](ttl time.Duration, max int) recent[V] {
	return recent[V]{ttl: ttl, max: max, m: make(map[string]recentValue[V])}
}

// get returns key's value if it was put less than ttl ago.
func (r *recent[V]) get(key string, now time.Time) (V, bool) {
	e, ok := r.m[key]
	if !ok || now.Sub(e.at) >= r.ttl {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (r *recent[V]) has(key string, now time.Time) bool {
	_, ok := r.get(key, now)
	return ok
}

// put remembers v for key from now on, and forgets what has expired or
// is over max.
func (r *recent[V]) put(key string, v V, now time.Time) {
	r.m[key] = recentValue[V]{v: v, at: now}
	r.order = append(r.order, recentKey{key: key, at: now})
	for len(r.order) > 0 {
		k := r.order[0]
		if now.Sub(k.at) < r.ttl && len(r.m) <= r.max && len(r.order) <= 2*r.max {
			break
		}
		r.order = r.order[1:]
		if e, ok := r.m[k.key]; ok && e.at.Equal(k.at) { // not put again since
			delete(r.m, k.key)
		}
	}
}

// reset forgets everything.
func (r *recent[V]) reset() {
	clear(r.m)
	r.order = nil
}
