package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// bounded is a mount of the embedded server with synthetic listings and
// its metrics endpoint, for the tests of what a slow server may cost.
type bounded struct {
	srv     *testserver.Embedded
	m       *mounted
	metrics string // host:port
}

// startBounded serves a small tree (hello.txt, tree/a.txt) with eo (its
// Root set here) and mounts it with opts and a metrics endpoint.
func startBounded(t *testing.T, eo testserver.EmbeddedOptions, opts ...string) *bounded {
	t.Helper()
	root := t.TempDir()
	for rel, data := range map[string]string{"hello.txt": "hello\n", "tree/a.txt": "a\n"} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eo.Root = root
	srv, err := testserver.StartEmbedded(eo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b := &bounded{srv: srv, metrics: "127.0.0.1:" + strconv.Itoa(port)}
	pin := "fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)
	b.m = mountForeground(t, "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=" + srv.Opts.Password},
		append([]string{pin, "metrics=" + b.metrics}, opts...)...)
	return b
}

// metric reads one unlabelled figure from the metrics endpoint.
func (b *bounded) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}

// usageBase is the goroutines and control connections of a settled mount.
type usageBase struct{ goroutines, conns float64 }

// settle waits for the warm-up logins to finish (connections open stop
// changing) and returns the baseline.
func (b *bounded) settle(t *testing.T) usageBase {
	t.Helper()
	run(t, "ls", b.m.Dir)
	last, since := -1.0, time.Now()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c := b.metric(t, "ftpsfs_connections_open")
		if c != last {
			last, since = c, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return usageBase{goroutines: b.metric(t, "go_goroutines"), conns: last}
}

// backToBase waits up to 5 s for goroutines and control connections to be
// back at the baseline (goroutines within 3, as the soak tests allow), and
// for the server to have no data connection open; then the mount must
// still answer.
func (b *bounded) backToBase(t *testing.T, base usageBase) {
	t.Helper()
	var g, c float64
	var data int
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, c, data = b.metric(t, "go_goroutines"), b.metric(t, "ftpsfs_connections_open"), b.srv.DataConnsOpen()
		if (g <= base.goroutines+3 && c <= base.conns && data == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if g > base.goroutines+3 {
		t.Errorf("goroutines grew from %v to %v", base.goroutines, g)
	}
	if c > base.conns {
		t.Errorf("control connections grew from %v to %v", base.conns, c)
	}
	if data != 0 {
		t.Errorf("the server still has %d data connections open", data)
	}
	if r := runFor(10*time.Second, "cat", filepath.Join(b.m.Dir, "hello.txt")); r.err != nil || r.out != "hello\n" {
		t.Errorf("the mount no longer reads: %v", r)
	}
}

// readRSS is a process's resident memory (VmRSS) in KiB.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// peakRSS samples a process's RSS every 20 ms until stop is closed and
// returns the highest seen, in KiB.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		for {
			if n, err := readRSS(pid); err == nil {
				peak = max(peak, n)
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return out
}
