package testserver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// server started on it can still lose a race; StartVsftpd retries then.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Ranges handed out by this process stay reserved until released, so
// concurrent servers in one test binary never share passive ports. Other
// processes (e2e and this package run in parallel under `go test ./...`) are
// avoided by random placement and by checking each port is free.
var (
	rangesMu sync.Mutex
	ranges   = map[int]int{} // first port → count
)

// reservePortRange finds n consecutive free ports on 127.0.0.1, below the
// kernel's ephemeral range so outgoing connections do not take them later.
func reservePortRange(n int) (first int, err error) {
	lo, hi := 20000, ephemeralLow()-n
	if hi-lo < 10*n {
		lo, hi = 1024, 65535-n
	}
	rangesMu.Lock()
	defer rangesMu.Unlock()
	for range 200 {
		first = lo + rand.IntN(hi-lo)
		if overlapsLocked(first, n) || !rangeFree(first, n) {
			continue
		}
		ranges[first] = n
		return first, nil
	}
	return 0, errors.New("no free range of passive ports found on 127.0.0.1")
}

func releasePortRange(first int) {
	rangesMu.Lock()
	delete(ranges, first)
	rangesMu.Unlock()
}

func overlapsLocked(first, n int) bool {
	for f, c := range ranges {
		if first < f+c && f < first+n {
			return true
		}
	}
	return false
}

func rangeFree(first, n int) bool {
	for p := first; p < first+n; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// ephemeralLow reads the start of the kernel's ephemeral port range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				return v
			}
		}
	}
	return 32768
}

func hostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port in %q: %w", addr, err)
	}
	return h, port, nil
}
