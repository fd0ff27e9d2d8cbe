package pool

import "sync/atomic"

// Metrics counts what the pool did; read them with Load.
type Metrics struct {
	Dials        atomic.Int64 // control connections logged in
	DialFailures atomic.Int64
	DataConns    atomic.Int64 // data connections opened
	ResumeMisses atomic.Int64 // data connections whose TLS session did not resume
	HelloRetries atomic.Int64 // data connections whose handshake took a HelloRetryRequest
	Discards     atomic.Int64 // control connections dropped as broken
	Retries      atomic.Int64 // operations retried on a fresh connection
	Evictions    atomic.Int64 // idle read streams closed to free a connection
	Preemptions  atomic.Int64 // background work cut for a program's request (sched.go)
	Resumes      atomic.Int64 // read streams resumed at their offset after a failure
	// SlowListingsStopped counts listings cut to wait for a slow slot.
	SlowListingsStopped atomic.Int64
	SparePieces         atomic.Int64 // pieces read on a spare data connection (spare.go)
	SpareStores         atomic.Int64 // uploads on a spare data connection (sparestore.go)
	PassivesAhead       atomic.Int64 // downloads on a passive port asked ahead (passive.go)
}
