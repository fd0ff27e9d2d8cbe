// Package testserver starts FTPS servers for tests and demos: an embedded
// in-process server (fclairamb/ftpserverlib over a directory) and Debian's
// real vsftpd run by hand as root, plus the certificates both need.
//
// The embedded server is fast (about 50 ms to a full round trip) and can
// inject faults, send synthetic listings (dripping, slow, huge, or with
// injected lines: Synthetic), stall its greeting behind a front on the
// control port (GreetingFault) and emulate vsftpd's TLS session-reuse check; vsftpd is the
// strict reference a real deployment meets (no MLSD, 522 on a data
// connection that does not resume the control connection's TLS session).
//
// It knows nothing about ftpsfs internals: tests of the pool package, the
// end-to-end tests in e2e/ and `make demo` use it as they would a remote
// server. Everything listens on 127.0.0.1 only, except ftpserverlib's passive
// data listeners, which that library binds on all addresses (peers whose IP
// differs from the control connection's are refused).
package testserver
