package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// TestCheckSlowGreeting: `ftpsfs check` against a server whose greeting
// comes a byte a second, or never ends, returns within timeout= + 1 s.
func TestCheckSlowGreeting(t *testing.T) {
	for name, g := range map[string]testserver.GreetingFault{
		"byte-a-second": {Delay: time.Second},
		"endless":       {Endless: true},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, Greeting: &g})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			pin := "fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)
			start := time.Now()
			code, out, errOut := runCheck(t, []string{"FTPSFS_PASSWORD=" + srv.Opts.Password},
				"ftpes://test@"+srv.Addr+"/", "-o", pin+",timeout=2s")
			took := time.Since(start)
			if code == 0 {
				t.Errorf("check passed against a greeting that never completes:\n%s", out)
			}
			if took > 3*time.Second {
				t.Errorf("check took %v with timeout=2s:\n%s\n%s", took.Round(time.Millisecond), out, errOut)
			}
			if srv.GreetingsStalled() == 0 {
				t.Error("check never reached the greeting front")
			}
			waitGreetingsEnd(t, srv)
		})
	}
}

// TestWarmupBadGreeting: the mount's own login works; the warm-up logins
// after it meet a greeting that never completes. They end within
// timeout=, holding no connection or goroutine, and the mount works.
func TestWarmupBadGreeting(t *testing.T) {
	for name, g := range map[string]testserver.GreetingFault{
		"byte-a-second": {Forward: 1, Delay: time.Second},
		"endless":       {Forward: 1, Endless: true},
	} {
		t.Run(name, func(t *testing.T) {
			b := startBounded(t, testserver.EmbeddedOptions{Greeting: &g}, "timeout=2s")
			deadline := time.Now().Add(5 * time.Second)
			for b.srv.GreetingsStalled() == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if b.srv.GreetingsStalled() == 0 {
				t.Fatal("no warm-up login reached the greeting front")
			}
			waitGreetingsEnd(t, b.srv)
			base := b.settle(t)
			if base.conns != 1 {
				t.Errorf("%v control connections open, want the one that logged in", base.conns)
			}
			for range 3 {
				if got, err := os.ReadFile(filepath.Join(b.m.Dir, "hello.txt")); err != nil || string(got) != "hello\n" {
					t.Fatalf("read through the mount: %q, %v", got, err)
				}
			}
			b.backToBase(t, base)
		})
	}
}

// waitGreetingsEnd waits up to 3 s (timeout=2s and a second) for every
// connection the greeting front is stalling to be closed by the client.
func waitGreetingsEnd(t *testing.T, srv *testserver.Embedded) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for srv.GreetingConns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still stalled in their greeting 3 s on", srv.GreetingConns())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
