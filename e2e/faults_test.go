package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/faultproxy"
	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// The tests in this file put faults between the real mount and real servers
// with a fault proxy (e2e/faultproxy) on 127.0.0.2, which forwards the
// server's control port and every passive port to 127.0.0.1: ftpsfs connects
// data connections to the control connection's peer and the EPSV port, so
// both kinds of connection go through it. Mounts pin the certificate, so the
// address does not matter to TLS.

// faultTimeout is the timeout= of mounts that are expected to give up; the
// issue allows timeout + 5 s for a syscall to fail. It is long enough that
// an operation made of two timeouts in a row (12 s) breaks that limit.
const faultTimeout = 6 * time.Second

// faultServer is a real server with a fault proxy in front; URL points at
// the proxy.
type faultServer struct {
	*server
	Proxy *faultproxy.Proxy
	// Stop and Start take the server down and bring it back on the same
	// ports (embedded server only).
	Stop, Start func(t *testing.T)
}

// faultFixture writes the tree the fault tests read: big.bin (100 MiB),
// small files in several directories (each phase of a test uses a directory
// the mount has not listed yet), and n reader files of size bytes each.
func faultFixture(t *testing.T, n, size int) *fixture {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	fx := &fixture{Root: root, Hashes: map[string]string{}, Sizes: map[string]int64{}}
	put := func(rel string, data []byte) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fx.Hashes[rel] = hashBytes(data)
		fx.Sizes[rel] = int64(len(data))
	}
	put("a.txt", []byte("alpha\n"))
	for _, d := range []string{"p1", "p2", "p3", "p4"} {
		put(d+"/x.txt", []byte("x in "+d+"\n"))
		put(d+"/y.txt", []byte("y in "+d+"\n"))
	}
	for i := range n {
		b := make([]byte, size+i*4099)
		_, _ = rand.Read(b)
		put(fmt.Sprintf("readers/r%02d.bin", i), b)
	}
	big := sharedBig(t)
	if err := os.Link(big, filepath.Join(root, "big.bin")); err != nil {
		t.Fatal(err)
	}
	fx.Hashes["big.bin"] = hashFile(t, big)
	fx.Sizes["big.bin"] = bigSize
	return fx
}

// proxiedEmbedded serves fx with the embedded server (explicit TLS, reuse
// required) behind a proxy; its passive ports are fixed so the proxy can
// forward them, and Stop/Start restart it on the same ports.
func proxiedEmbedded(t *testing.T, fx *fixture) *faultServer {
	t.Helper()
	pr, err := testserver.ReservePassiveRange(16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pr.Release)
	cert, err := testserver.SelfSigned(testserver.CertSpec{})
	if err != nil {
		t.Fatal(err)
	}
	opts := testserver.EmbeddedOptions{Root: fx.Root, RequireReuse: true, Cert: cert, Passive: &pr}
	var mu sync.Mutex
	srv, err := testserver.StartEmbedded(opts)
	if err != nil {
		t.Fatalf("embedded server: %v", err)
	}
	opts.Listen = srv.Addr
	resumeFailures := 0
	stop := func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		if srv == nil {
			return
		}
		resumeFailures += srv.ResumeFailures()
		if err := srv.Close(); err != nil {
			t.Errorf("stopping the embedded server: %v", err)
		}
		srv = nil
	}
	startAgain := func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		var err error
		for range 50 { // the control port may linger for a moment
			if srv, err = testserver.StartEmbedded(opts); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("restarting the embedded server on %s: %v", opts.Listen, err)
	}
	t.Cleanup(func() {
		stop(t)
		if resumeFailures > 0 {
			t.Errorf("%d data connections did not resume the TLS session", resumeFailures)
		}
	})
	px := startProxy(t, faultproxy.Route{Listen: srv.Port, Target: srv.Port},
		faultproxy.Route{Listen: pr.Advertised, Target: pr.Listened, Count: pr.Count})
	return &faultServer{
		server: &server{
			URL:  fmt.Sprintf("ftpes://%s@%s/", srv.Opts.User, px.Addr(srv.Port)),
			Env:  []string{"FTPSFS_PASSWORD=" + srv.Opts.Password},
			Opts: []string{"fingerprint=" + testserver.FingerprintOption(cert.Fingerprint)},
			List: "MLSD", Log: func() string { return "" }, Pass: srv.Opts.Password, Cert: cert, Fx: fx,
		},
		Proxy: px, Stop: stop, Start: startAgain,
	}
}

// proxiedVsftpd serves fx with vsftpd (explicit TLS) behind a proxy that
// forwards its control port and its whole passive range.
func proxiedVsftpd(t *testing.T, fx *fixture, extra map[string]string) *faultServer {
	t.Helper()
	v := startVsftpdWith(t, fx, extra)
	px := startProxy(t, faultproxy.Route{Listen: v.Port, Target: v.Port},
		faultproxy.Route{Listen: v.PasvMin, Target: v.PasvMin, Count: v.PasvMax - v.PasvMin + 1})
	return &faultServer{server: vsftpdServer(v, fx, px.Addr(v.Port)), Proxy: px}
}

// startVsftpdWith starts vsftpd over fx with extra configuration; it fails
// the test (never skips) when vsftpd cannot run here.
func startVsftpdWith(t *testing.T, fx *fixture, extra map[string]string) *testserver.Vsftpd {
	t.Helper()
	return runVsftpd(t, testserver.VsftpdOptions{Root: fx.Root, Extra: extra})
}

func vsftpdServer(v *testserver.Vsftpd, fx *fixture, addr string) *server {
	return &server{
		URL:  fmt.Sprintf("ftpes://%s@%s/", v.User, addr),
		Env:  []string{"FTPSFS_PASSWORD=" + v.Password},
		Opts: []string{"fingerprint=" + testserver.FingerprintOption(v.Cert.Fingerprint)},
		List: "LIST", Log: v.Log, Pass: v.Password, Cert: v.Cert, Fx: fx,
	}
}

func startProxy(t *testing.T, routes ...faultproxy.Route) *faultproxy.Proxy {
	t.Helper()
	px, err := faultproxy.Start(faultproxy.Config{Routes: routes})
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	t.Cleanup(func() { _ = px.Close() })
	return px
}

var faultServerKinds = []struct {
	name  string
	start func(t *testing.T, fx *fixture) *faultServer
}{
	{"embedded", proxiedEmbedded},
	{"vsftpd", func(t *testing.T, fx *fixture) *faultServer { return proxiedVsftpd(t, fx, nil) }},
}

// mountAt is mountForeground with the binary and the mount point chosen by
// the caller (a second mount on the same directory, a race-built binary).
func mountAt(t *testing.T, bin, dir, url string, env []string, opts ...string) *mounted {
	t.Helper()
	return startMount(t, bin, dir, 60*time.Second, url, env, opts...) // a race-built binary starts slowly
}

// exited waits up to d for the mount's process to end and returns how it
// ended; the result is put back for the cleanup's own check.
func (m *mounted) exited(d time.Duration) (error, bool) {
	select {
	case err := <-m.done:
		m.done <- err
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

// result is one program run against the mount.
type result struct {
	out  string
	err  error
	took time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("after %v: %v %s", r.took.Round(time.Millisecond), r.err, strings.TrimSpace(r.out))
}

// runFor runs a program, killing it after limit (a test must not hang on
// a stuck mount), and returns its combined output, error and duration.
func runFor(limit time.Duration, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return result{string(out), err, time.Since(start)}
}

// async starts runFor in the background.
func async(limit time.Duration, name string, args ...string) <-chan result {
	ch := make(chan result, 1)
	go func() { ch <- runFor(limit, name, args...) }()
	return ch
}

// sha256 of a file through the mount, compared with the server's copy.
func checkSum(t *testing.T, m *mounted, fx *fixture, rel string) {
	t.Helper()
	r := runFor(2*time.Minute, "sha256sum", filepath.Join(m.Dir, rel))
	if r.err != nil {
		t.Errorf("sha256sum %s: %s", rel, r)
		return
	}
	if sum, _, _ := strings.Cut(r.out, " "); sum != fx.Hashes[rel] {
		t.Errorf("sha256sum %s = %s, server has %s: SILENT CORRUPTION", rel, sum, fx.Hashes[rel])
	}
}

// TestFaultCutsDuringBigRead reads 100 MiB while the proxy cuts every
// connection three times (twice with a reset, once with a FIN, which TLS
// reports as a plain EOF at a record boundary). The checksum must be right:
// each cut stream resumes at its exact offset on a fresh connection.
func TestFaultCutsDuringBigRead(t *testing.T) {
	for _, k := range faultServerKinds {
		t.Run(k.name, func(t *testing.T) {
			fx := faultFixture(t, 0, 0)
			s := k.start(t, fx)
			m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, s.Opts...)
			base := s.Proxy.Stats().BytesDown
			done := make(chan struct{})
			cuts := make(chan int, 1)
			go func() {
				n := 0
				defer func() { cuts <- n }()
				for _, at := range []int64{20 << 20, 45 << 20, 70 << 20} {
					for s.Proxy.Stats().BytesDown-base < at {
						select {
						case <-done:
							return
						case <-time.After(time.Millisecond):
						}
					}
					if n == 1 {
						s.Proxy.Hangup()
					} else {
						s.Proxy.Cut()
					}
					n++
				}
			}()
			start := time.Now()
			checkSum(t, m, fx, "big.bin")
			close(done)
			if n := <-cuts; n != 3 {
				t.Errorf("only %d of 3 cuts happened during the read", n)
			}
			t.Logf("100 MiB with 3 cuts: %v", time.Since(start).Round(time.Millisecond))
			if got := runFor(30*time.Second, "cat", filepath.Join(m.Dir, "p1/x.txt")); got.err != nil || got.out != "x in p1\n" {
				t.Errorf("cat after the cuts: %s", got)
			}
		})
	}
}

// TestFaultStallFailsInTimeThenRecovers: while the server accepts and never
// answers, ls and cat fail within timeout + 5 s and the rest of the mount
// answers; once it answers again they succeed, and a file held open across
// the stall reads on.
func TestFaultStallFailsInTimeThenRecovers(t *testing.T) {
	limit := faultTimeout + 5*time.Second
	for _, k := range faultServerKinds {
		t.Run(k.name, func(t *testing.T) {
			fx := faultFixture(t, 0, 0)
			s := k.start(t, fx)
			m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "timeout="+faultTimeout.String(), "dir_cache_ttl=0")...)
			if r := runFor(limit, "cat", filepath.Join(m.Dir, "a.txt")); r.err != nil {
				t.Fatalf("cat before the stall: %s", r)
			}
			open, err := os.Open(filepath.Join(m.Dir, "big.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer open.Close()
			buf := make([]byte, 64<<10)
			if _, err := open.ReadAt(buf, 0); err != nil {
				t.Fatal(err)
			}

			for round, dir := range []string{"p1", "p2"} {
				s.Proxy.SetMode(faultproxy.Stall)
				ls := async(limit+10*time.Second, "ls", filepath.Join(m.Dir, dir))
				cat := async(limit+10*time.Second, "cat", filepath.Join(m.Dir, dir, "x.txt"))
				readErr := make(chan result, 1)
				go func() {
					start := time.Now()
					_, err := open.ReadAt(buf, int64(50+round*20)<<20)
					readErr <- result{err: err, took: time.Since(start)}
				}()
				// The mount as a whole keeps answering meanwhile.
				time.Sleep(200 * time.Millisecond)
				if r := runFor(2*time.Second, "stat", m.Dir); r.err != nil || r.took > time.Second {
					t.Errorf("stat of the mount point during the stall: %s", r)
				}
				for name, ch := range map[string]<-chan result{"ls": ls, "cat": cat, "read of an open file": readErr} {
					r := <-ch
					if r.err == nil {
						t.Errorf("round %d: %s succeeded while the server stalls: %s", round, name, r)
					} else if r.took > limit {
						t.Errorf("round %d: %s failed after %v, more than timeout + 5 s: %s", round, name, r.took, r)
					} else {
						t.Logf("round %d: %s during the stall: %s", round, name, r)
					}
				}
				s.Proxy.SetMode(faultproxy.Pass)
				if r := runFor(limit, "ls", filepath.Join(m.Dir, dir)); r.err != nil || r.out != "x.txt\ny.txt\n" {
					t.Errorf("round %d: ls after the stall: %s", round, r)
				} else {
					t.Logf("round %d: ls after the stall: %v", round, r.took.Round(time.Millisecond))
				}
				if r := runFor(limit, "cat", filepath.Join(m.Dir, dir, "x.txt")); r.err != nil || r.out != "x in "+dir+"\n" {
					t.Errorf("round %d: cat after the stall: %s", round, r)
				}
				off := int64(50+round*20) << 20
				if _, err := open.ReadAt(buf, off); err != nil {
					t.Errorf("round %d: the open file after the stall: %v", round, err)
				} else if want := readLocal(t, fx, "big.bin", off, len(buf)); !bytes.Equal(buf, want) {
					t.Errorf("round %d: the open file read wrong bytes after the stall: SILENT CORRUPTION", round)
				}
			}
		})
	}
}

func readLocal(t *testing.T, fx *fixture, rel string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(fx.Root, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFaultServerRestart: the server goes away and comes back on the same
// ports. While it is gone, ls fails promptly; afterwards reads succeed
// without remounting, including on a file opened before the restart.
func TestFaultServerRestart(t *testing.T) {
	fx := faultFixture(t, 0, 0)
	s := proxiedEmbedded(t, fx)
	m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "timeout="+faultTimeout.String(), "dir_cache_ttl=0")...)
	limit := faultTimeout + 5*time.Second
	if r := runFor(limit, "cat", filepath.Join(m.Dir, "p1/x.txt")); r.err != nil || r.out != "x in p1\n" {
		t.Fatalf("first read: %s", r)
	}
	open, err := os.Open(filepath.Join(m.Dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	buf := make([]byte, 1<<20)
	if _, err := open.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}

	s.Stop(t)
	if r := runFor(limit+10*time.Second, "ls", filepath.Join(m.Dir, "p2")); r.err == nil || r.took > limit {
		t.Errorf("ls while the server is down: %s (want a failure within %v)", r, limit)
	} else {
		t.Logf("ls while the server is down: %s", r)
	}
	s.Start(t)

	start := time.Now()
	if r := runFor(limit, "cat", filepath.Join(m.Dir, "p2/y.txt")); r.err != nil || r.out != "y in p2\n" {
		t.Errorf("second read, after the restart: %s", r)
	}
	if _, err := open.ReadAt(buf, 30<<20); err != nil {
		t.Errorf("the file opened before the restart: %v", err)
	} else if !bytes.Equal(buf, readLocal(t, fx, "big.bin", 30<<20, len(buf))) {
		t.Errorf("the file opened before the restart read wrong bytes: SILENT CORRUPTION")
	}
	t.Logf("reads after the restart took %v", time.Since(start).Round(time.Millisecond))
}

// TestFaultUnmountWhileServerGone: with the server stalled (the worst kind
// of gone: connections hang instead of failing), fusermount3 -u and umount -l
// return promptly and the process exits, even with an ls stuck inside.
func TestFaultUnmountWhileServerGone(t *testing.T) {
	limit := faultTimeout + 5*time.Second
	for _, how := range []string{"fusermount3 -u", "umount -l"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			fx := faultFixture(t, 0, 0)
			s := proxiedEmbedded(t, fx)
			m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "timeout="+faultTimeout.String(), "dir_cache_ttl=0")...)
			if r := runFor(limit, "ls", m.Dir); r.err != nil {
				t.Fatalf("ls: %s", r)
			}
			s.Proxy.SetMode(faultproxy.Stall)
			var stuck <-chan result
			if how == "umount -l" {
				// Something is inside the mount, waiting on the server.
				stuck = async(limit+10*time.Second, "ls", filepath.Join(m.Dir, "p1"))
				time.Sleep(300 * time.Millisecond)
			}
			args := strings.Fields(how)
			args = append(args, m.Dir)
			r := runFor(10*time.Second, args[0], args[1:]...)
			if r.err != nil || r.took > 2*time.Second {
				t.Errorf("%s with the server gone: %s", how, r)
			}
			if stuck != nil {
				if r := <-stuck; r.err == nil || r.took > limit {
					t.Errorf("the ls inside the mount: %s (want a failure within %v)", r, limit)
				}
			}
			if err, ok := m.exited(limit); !ok {
				t.Errorf("ftpsfs still running %v after %s with the server gone", limit, how)
			} else if err != nil {
				t.Errorf("ftpsfs exited with %v", err)
			}
			s.Proxy.SetMode(faultproxy.Pass)
		})
	}
}

// TestFaultKill9LeavesClearableMount: after kill -9 the mount point says
// "transport endpoint is not connected"; fusermount3 -u clears it and it
// can be mounted again.
func TestFaultKill9LeavesClearableMount(t *testing.T) {
	fx := faultFixture(t, 0, 0)
	s := proxiedEmbedded(t, fx)
	dir := t.TempDir()
	m := mountAt(t, binary, dir, s.URL, s.Env, s.Opts...)
	if r := runFor(10*time.Second, "cat", filepath.Join(dir, "a.txt")); r.err != nil {
		t.Fatalf("cat: %s", r)
	}
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.exited(5 * time.Second); !ok {
		t.Fatal("ftpsfs survived kill -9")
	}
	<-m.done
	m.done <- nil // killed on purpose: the cleanup's check expects 0
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("stat in a dead mount: %v, want ENOTCONN", err)
	}
	if r := runFor(10*time.Second, "fusermount3", "-u", dir); r.err != nil || r.took > 2*time.Second {
		t.Fatalf("fusermount3 -u on a dead mount: %s", r)
	}
	if isMounted(dir) {
		t.Fatal("still mounted after fusermount3 -u")
	}
	m2 := mountAt(t, binary, dir, s.URL, s.Env, s.Opts...)
	if r := runFor(10*time.Second, "cat", filepath.Join(m2.Dir, "a.txt")); r.err != nil || r.out != "alpha\n" {
		t.Errorf("cat after mounting again: %s", r)
	}
}

// TestFaultUploadCut: an upload cut for good (every connection reset, the
// server unreachable) fails close(), and the server keeps its previous copy.
// Until writes land, the probe write fails with EROFS and the test skips.
func TestFaultUploadCut(t *testing.T) {
	for _, k := range faultServerKinds {
		t.Run(k.name, func(t *testing.T) {
			fx := faultFixture(t, 0, 0)
			old := make([]byte, 2<<20)
			_, _ = rand.Read(old)
			keep := filepath.Join(fx.Root, "keep.bin")
			if err := os.WriteFile(keep, old, 0o644); err != nil {
				t.Fatal(err)
			}
			s := k.start(t, fx)
			m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "timeout="+faultTimeout.String())...)

			base := s.Proxy.Stats().BytesUp
			done := make(chan struct{})
			defer close(done)
			cut := make(chan bool, 1)
			go func() {
				for s.Proxy.Stats().BytesUp-base < 4<<20 {
					select {
					case <-done:
						cut <- false
						return
					case <-time.After(time.Millisecond):
					}
				}
				s.Proxy.SetMode(faultproxy.Refuse) // the server is unreachable from now on
				s.Proxy.Cut()
				cut <- true
			}()
			data := make([]byte, 32<<20)
			_, _ = rand.Read(data)
			f, err := os.OpenFile(filepath.Join(m.Dir, "keep.bin"), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, werr := f.Write(data)
			start := time.Now()
			cerr := f.Close()
			took := time.Since(start)
			if !<-cut {
				t.Fatal("the upload never reached 4 MiB through the proxy")
			}
			if werr == nil && cerr == nil {
				t.Errorf("write and close both succeeded although the upload was cut")
			}
			t.Logf("write: %v; close: %v after %v", werr, cerr, took.Round(time.Millisecond))
			if took > 2*(faultTimeout+5*time.Second) {
				t.Errorf("close took %v", took)
			}
			if got, err := os.ReadFile(keep); err != nil || !bytes.Equal(got, old) {
				t.Errorf("the server's previous copy was damaged by the cut upload (%d bytes, %v)", len(got), err)
			}
			s.Proxy.SetMode(faultproxy.Pass)
			if r := runFor(faultTimeout+5*time.Second, "ls", m.Dir); r.err != nil {
				t.Errorf("ls after the cut upload: %s", r)
			}
			// Once the server is reachable again, saving the same data works.
			if err := os.WriteFile(filepath.Join(m.Dir, "keep.bin"), data, 0o644); err != nil {
				t.Errorf("saving again once the server is back: %v", err)
			}
			if got, err := os.ReadFile(keep); err != nil || !bytes.Equal(got, data) {
				t.Errorf("after the retry the server has %d bytes (%v), want the new %d", len(got), err, len(data))
			}
		})
	}
}

// TestSlowTransfersOutlastTimeout: timeout= bounds each network read and
// write of a transfer, not the whole transfer, so an upload and a read that
// take longer than timeout on a slow link still succeed.
func TestSlowTransfersOutlastTimeout(t *testing.T) {
	fx := faultFixture(t, 0, 0)
	s := proxiedEmbedded(t, fx)
	m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "timeout=2s")...)
	const rate = 2 << 20 // bytes per second each way
	s.Proxy.SetRate(rate, rate)
	data := make([]byte, 8<<20) // about 4 s each way at this rate
	_, _ = rand.Read(data)
	start := time.Now()
	if err := os.WriteFile(filepath.Join(m.Dir, "slow.bin"), data, 0o644); err != nil {
		t.Fatalf("an upload longer than timeout= failed: %v", err)
	}
	took := time.Since(start)
	if took < 3*time.Second {
		t.Fatalf("the upload took only %v: the rate limit did not apply", took)
	}
	if got, err := os.ReadFile(filepath.Join(fx.Root, "slow.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("server copy: %d bytes, %v", len(got), err)
	}
	r := runFor(30*time.Second, "sha256sum", filepath.Join(m.Dir, "slow.bin"))
	if r.err != nil || !strings.HasPrefix(r.out, hashBytes(data)) {
		t.Errorf("reading back over the slow link: %s", r)
	}
	// An in-place write first downloads the whole file into the spool.
	f, err := os.OpenFile(filepath.Join(m.Dir, "slow.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("PATCH"), 1<<20); err != nil {
		t.Errorf("an in-place write whose download outlasts timeout=: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("close after the in-place write: %v", err)
	}
	copy(data[1<<20:], "PATCH")
	if got, err := os.ReadFile(filepath.Join(fx.Root, "slow.bin")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("server copy after the in-place write: %d bytes, %v", len(got), err)
	}
	t.Logf("8 MiB up in %v at %d MiB/s with timeout=2s", took.Round(time.Millisecond), rate>>20)
}

// TestVsftpdMaxPerIP: vsftpd allows two connections per address; sixteen
// parallel readers through a mount that would use eight all get the right
// bytes (the pool shrinks to two and queues), and listings still answer.
func TestVsftpdMaxPerIP(t *testing.T) {
	fx := faultFixture(t, 16, 3<<20)
	v := startVsftpdWith(t, fx, map[string]string{"max_per_ip": "2"})
	s := vsftpdServer(v, fx, v.Addr)
	m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "dir_cache_ttl=0")...)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checkSum(t, m, fx, fmt.Sprintf("readers/r%02d.bin", i))
		}()
	}
	stop := make(chan struct{})
	listed := make(chan int)
	go func() {
		n := 0
		defer func() { listed <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := runFor(time.Minute, "ls", filepath.Join(m.Dir, "p1")); r.err != nil || r.out != "x.txt\ny.txt\n" {
				t.Errorf("ls during the reads: %s", r)
				return
			}
			n++
		}
	}()
	wg.Wait()
	close(stop)
	n := <-listed
	took := time.Since(start)
	t.Logf("16 readers with max_per_ip=2: %v, %d listings meanwhile", took.Round(time.Millisecond), n)
	// 48 MiB on loopback take well under a second; anything near timeout
	// (30 s) means work waited behind connections that were never freed.
	if took > 15*time.Second {
		t.Errorf("16 readers took %v under max_per_ip=2: operations were stuck", took)
	}
	if strings.Contains(m.logs.String(), "level=ERROR") {
		t.Logf("ftpsfs log:\n%s", tail(m.logs.String(), 40))
	}
}

// TestVsftpdIdleTimeout: vsftpd drops connections idle for two seconds
// (421 Timeout); operations after an idle pause succeed, and a file read
// before the pause reads on after it.
func TestVsftpdIdleTimeout(t *testing.T) {
	fx := faultFixture(t, 0, 0)
	v := startVsftpdWith(t, fx, map[string]string{"idle_session_timeout": "2"})
	s := vsftpdServer(v, fx, v.Addr)
	m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "dir_cache_ttl=0")...)
	open, err := os.Open(filepath.Join(m.Dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	buf := make([]byte, 1<<20)
	for round, dir := range []string{"p1", "p2", "p3"} {
		if _, err := open.ReadAt(buf, int64(round)*(10<<20)); err != nil {
			t.Fatalf("round %d: read before the pause: %v", round, err)
		}
		logins := strings.Count(v.Log(), "OK LOGIN")
		time.Sleep(3500 * time.Millisecond)
		start := time.Now()
		if r := runFor(30*time.Second, "ls", filepath.Join(m.Dir, dir)); r.err != nil || r.out != "x.txt\ny.txt\n" {
			t.Errorf("round %d: ls after an idle pause: %s", round, r)
		}
		if r := runFor(30*time.Second, "cat", filepath.Join(m.Dir, dir, "y.txt")); r.err != nil || r.out != "y in "+dir+"\n" {
			t.Errorf("round %d: cat after an idle pause: %s", round, r)
		}
		off := int64(round)*(10<<20) + 5<<20
		if _, err := open.ReadAt(buf, off); err != nil {
			t.Errorf("round %d: the open file after an idle pause: %v", round, err)
		} else if !bytes.Equal(buf, readLocal(t, fx, "big.bin", off, len(buf))) {
			t.Errorf("round %d: wrong bytes after an idle pause: SILENT CORRUPTION", round)
		}
		t.Logf("round %d: operations after the pause took %v", round, time.Since(start).Round(time.Millisecond))
		// vsftpd had closed every idle session: the mount logged in again.
		if strings.Count(v.Log(), "OK LOGIN") == logins {
			t.Errorf("round %d: no new login after the pause: the sessions were not timed out, the test proves nothing", round)
		}
	}
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestFaultCutsDuringParallelRanges: with each connection held to 8 MiB/s
// and a 4 ms round trip (a link where one stream's window is the limit), a long sequential read
// moves to parallel ranged streams, and cuts while they run are resumed:
// the file reads back exactly.
func TestFaultCutsDuringParallelRanges(t *testing.T) {
	for _, k := range faultServerKinds {
		t.Run(k.name, func(t *testing.T) {
			fx := faultFixture(t, 0, 0)
			s := k.start(t, fx)
			// Lanes are only tried beyond a LAN's round trip.
			s.Proxy.SetDelay(2*time.Millisecond, 2*time.Millisecond)
			s.Proxy.SetRate(0, 8<<20)
			m := mountAt(t, binary, t.TempDir(), s.URL, s.Env, append(s.Opts, "debug")...)
			base := s.Proxy.Stats().BytesDown
			done := make(chan struct{})
			cuts := make(chan int, 1)
			go func() {
				n := 0
				defer func() { cuts <- n }()
				for _, at := range []int64{55 << 20, 75 << 20} {
					for s.Proxy.Stats().BytesDown-base < at {
						select {
						case <-done:
							return
						case <-time.After(time.Millisecond):
						}
					}
					s.Proxy.Cut()
					n++
				}
			}()
			checkSum(t, m, fx, "big.bin")
			close(done)
			if n := <-cuts; n != 2 {
				t.Errorf("only %d of 2 cuts happened during the read", n)
			}
			if logs := m.logs.String(); !strings.Contains(logs, "parallel ranges started") {
				t.Errorf("the read never used parallel ranges; log:\n%s", tail(logs, 40))
			}
		})
	}
}
