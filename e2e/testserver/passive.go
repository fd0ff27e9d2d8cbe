package testserver

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// PassiveRange fixes the embedded server's passive ports so that a proxy can
// stand in front of it: EPSV and PASV replies advertise port Advertised+i
// while the server listens on Listened+i, for i < Count. ftpserverlib binds
// passive ports on every address, so a proxy on another loopback address
// cannot share them: it listens on the advertised ports and forwards each to
// its listened twin.
type PassiveRange struct {
	Advertised, Listened, Count int
}

// ReservePassiveRange reserves 2n ports below the kernel's ephemeral range,
// free on every address, for one PassiveRange. Release returns them.
func ReservePassiveRange(n int) (PassiveRange, error) {
	lo, hi := 20000, ephemeralLow()-2*n
	if hi-lo < 20*n {
		lo, hi = 1024, 65535-2*n
	}
	rangesMu.Lock()
	defer rangesMu.Unlock()
	for range 200 {
		first := lo + rand.IntN(hi-lo)
		if overlapsLocked(first, 2*n) || !wildcardFree(first, 2*n) {
			continue
		}
		ranges[first] = 2 * n
		return PassiveRange{Advertised: first, Listened: first + n, Count: n}, nil
	}
	return PassiveRange{}, errors.New("no free range of passive ports found")
}

// Release gives the ports back to ReservePassiveRange.
func (r PassiveRange) Release() { releasePortRange(r.Advertised) }

// wildcardFree reports whether ports first..first+n-1 are free on every
// address (a wildcard bind fails if any address holds the port).
func wildcardFree(first, n int) bool {
	for p := first; p < first+n; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// portGetter is the range as ftpserverlib wants it; nil (an untyped nil
// interface, which ftpserverlib tests for) when no range is set.
func (r *PassiveRange) portGetter() ftpserver.PasvPortGetter {
	if r == nil || r.Count == 0 {
		return nil
	}
	return ftpserver.PortMappingRange{ExposedStart: r.Advertised, ListenedStart: r.Listened, Count: r.Count}
}
