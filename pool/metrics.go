package pool

import "sync/atomic"

// Metrics counts what the pool did; read them with Load.
type Metrics struct {
	Dials        atomic.Int64 // control connections logged in
	DialFailures atomic.Int64
	DataConns    atomic.Int64 // data connections opened
	ResumeMisses atomic.Int64 // data connections whose TLS session did not resume
	Discards     atomic.Int64 // control connections dropped as broken
	Retries      atomic.Int64 // operations retried on a fresh connection
	Evictions    atomic.Int64 // idle read streams closed to free a connection
	Resumes      atomic.Int64 // read streams resumed at their offset after a failure
	// SlowListingsStopped counts listings cut to wait for a slow slot.
	SlowListingsStopped atomic.Int64
}
