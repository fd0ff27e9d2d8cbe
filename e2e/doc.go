// Package e2e holds the end-to-end tests of ftpsfs: they build the real
// binary, mount it against real servers (Debian's vsftpd and the embedded
// ftpserverlib server, see testserver) and drive the mount with ordinary
// programs (ls, stat, find, cat, sha256sum, dd, mount, umount). They know
// nothing of the other packages' internals.
package e2e
