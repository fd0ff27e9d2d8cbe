package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRandomReadsThroughMount reads 64 KiB at random places in the big file
// of each real server, as a database would: every read returns the
// server's bytes, costs at most one RETR, and leaves no error in the log,
// whether it went over a spare data connection or not.
func TestRandomReadsThroughMount(t *testing.T) {
	for _, k := range []serverKind{serverKinds[0], serverKinds[2], serverKinds[4]} {
		t.Run(k.name, func(t *testing.T) {
			s := serveFixture(t, k)
			local, err := os.ReadFile(filepath.Join(s.Fx.Root, "big.bin"))
			if err != nil {
				t.Fatal(err)
			}
			m := mountForeground(t, s.URL, s.Env, s.Opts...)
			f, err := os.Open(filepath.Join(m.Dir, "big.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			before := strings.Count(s.Log(), "RETR ")
			rng := rand.New(rand.NewPCG(5, 6))
			const n, size = 40, 64 << 10
			buf := make([]byte, size)
			for i := range n {
				off := rng.Int64N(int64(len(local)) - size)
				if _, err := f.ReadAt(buf, off); err != nil {
					t.Fatalf("read %d at %d: %v", i, off, err)
				}
				if !bytes.Equal(buf, local[off:off+size]) {
					t.Fatalf("read %d at %d: differs from the server's copy", i, off)
				}
			}
			if retr := strings.Count(s.Log(), "RETR ") - before; retr > n {
				t.Errorf("%d random reads cost %d RETR", n, retr)
			}
			for _, bad := range []string{"level=ERROR", "level=WARN", "DATA RACE"} {
				if strings.Contains(m.logs.String(), bad) {
					t.Errorf("the mount logged %s:\n%s", bad, tail(m.logs.String(), 20))
				}
			}
		})
	}
}
