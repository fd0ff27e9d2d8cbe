// Package pool owns the conversation with an FTPS server: dialing (explicit,
// implicit, or plain FTP only when asked), the TLS configuration (roots, CA
// file, SHA-256 pins, client certificates, version bounds, per-connection
// session caches so data connections resume their control connection's
// session), login, a bounded pool of control connections with health checks,
// reconnects and retries, the translation of FTP replies into Go errors, and
// the remote operations the filesystem needs (List, resumable reads, ...).
//
// It knows nothing of FUSE or of caches.
//
// Lock order: Reader.mu before Pool.mu. Pool.mu is never held across network
// I/O; a Reader's mu is (it serialises that reader's stream).
package pool
