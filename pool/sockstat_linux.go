package pool

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// bytesReceived is how many bytes the kernel has received on nc's TCP
// socket, read or not; false when it cannot tell (closed, not TCP).
func bytesReceived(nc net.Conn) (uint64, bool) {
	if l, ok := nc.(*lazyConn); ok {
		select {
		case <-l.ready:
		default:
			return 0, false // still connecting
		}
		nc = l.conn
	}
	sc, ok := nc.(syscall.Conn)
	if !ok || nc == nil {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n uint64
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		var ti *unix.TCPInfo
		ti, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if gerr == nil {
			n = ti.Bytes_received
		}
	}); err != nil || gerr != nil {
		return 0, false
	}
	return n, true
}
