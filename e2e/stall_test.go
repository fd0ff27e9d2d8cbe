package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stallBound is the longest one read(2) may take in TestNoStallBehindReadAhead.
// It is not a speed bound: a read that waited behind background work for a
// whole timeout= (10 s) is what it catches.
const stallBound = 3 * time.Second

// TestNoStallBehindReadAhead: with a few milliseconds of round trip, five
// other files held open (each holding a stream) and a long sequential read
// that starts read-ahead lanes, no read waits behind the background work
// for anything like a timeout: every read(2) ends well within timeout=, none
// fails, and the file reads back exactly. With connections=8 the lanes,
// the idle streams and the reader compete for the connections; with
// connections=2 there is one stream slot for all of them.
func TestNoStallBehindReadAhead(t *testing.T) {
	for _, conns := range []int{8, 2} {
		t.Run(fmt.Sprintf("connections=%d", conns), func(t *testing.T) {
			fx := faultFixture(t, 5, 1<<20)
			s := proxiedEmbedded(t, fx)
			// Lanes are only tried beyond a LAN's round trip.
			s.Proxy.SetDelay(3*time.Millisecond, 3*time.Millisecond)
			s.Proxy.SetRate(0, 8<<20) // one stream is window-bound: lanes pay
			m := mountAt(t, binary, t.TempDir(), s.URL, s.Env,
				append(s.Opts, "debug", "timeout=10s", fmt.Sprintf("connections=%d", conns))...)
			for i := range 5 {
				rel := fmt.Sprintf("readers/r%02d.bin", i)
				f, err := os.Open(filepath.Join(m.Dir, rel))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := io.ReadFull(f, make([]byte, 64<<10)); err != nil {
					t.Fatalf("reading a little of %s: %v", rel, err)
				}
			}
			sum, slowest, err := timedRead(filepath.Join(m.Dir, "big.bin"), stallBound)
			if err != nil {
				t.Fatalf("%v; log:\n%s", err, tail(m.logs.String(), 60))
			}
			if sum != fx.Hashes["big.bin"] {
				t.Errorf("big.bin read back as %s, server has %s", sum, fx.Hashes["big.bin"])
			}
			logs := m.logs.String()
			if !strings.Contains(logs, "parallel ranges started") && conns > 2 {
				t.Errorf("the read never used parallel ranges (the test proves nothing); log:\n%s", tail(logs, 40))
			}
			t.Logf("slowest read(2): %v", slowest.Round(time.Millisecond))
		})
	}
}

// timedRead reads path sequentially in 1 MiB read(2)s and returns its
// sha256 and the slowest read; a read that fails or takes longer than bound
// is an error.
func timedRead(path string, bound time.Duration) (string, time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var slowest time.Duration
	for off := int64(0); ; {
		start := time.Now()
		n, err := f.Read(buf)
		took := time.Since(start)
		slowest = max(slowest, took)
		h.Write(buf[:n])
		if took > bound {
			return "", slowest, fmt.Errorf("read(2) at %d took %v (bound %v)", off, took.Round(time.Millisecond), bound)
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return hex.EncodeToString(h.Sum(nil)), slowest, nil
		}
		if err != nil {
			return "", slowest, fmt.Errorf("read(2) at %d: %w", off, err)
		}
	}
}
