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
// jlaffaye/ftp does the FTP conversation; what it lacks (SITE CHMOD, AVBL,
// MLST with every fact, RNFR and RNTO as separate steps, the modes in a
// listing) is added on the same connection: raw.go sends commands through
// the library's own text connection, and modes.go reads the listing's
// bytes as its data connection delivers them. Both rely on one rule: a
// conn has one owner at a time (the goroutine it is lent to), and only
// that owner talks on it, between whole command/reply exchanges.
//
// Lock order: Reader.mu before Pool.mu, and Pool.mu and spareSlot.mu are
// never held together (spare.go takes one, lets go, then the other).
// Pool.mu and spareSlot.mu are never held across network I/O; a Reader's
// mu is (it serialises that reader's stream). A spare's connection is lent
// like any other: the goroutine holding the spare owns it.
package pool
