package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The soak tests run a mixed load through a mount of a race-built ftpsfs
// for 10 s (60 s with FTPSFS_SOAK=1), then check that the process is back
// to its goroutine, file-descriptor and heap baseline and that the race
// detector found nothing. Nothing is cached (listings, blocks, kernel
// attributes; readers evict their pages), so every operation reaches the
// pool and the server.

func soakDuration() time.Duration {
	if os.Getenv("FTPSFS_SOAK") == "1" {
		return 60 * time.Second
	}
	return 10 * time.Second
}

// soakProbe is compiled into the soak binary only (go build -overlay): on
// SIGUSR1 it writes the goroutine count, the heap in use after a GC and
// every goroutine's stack to $FTPSFS_SOAK_PROBE.
const soakProbe = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func init() {
	path := os.Getenv("FTPSFS_SOAK_PROBE")
	if path == "" {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			buf := make([]byte, 4<<20)
			n := runtime.Stack(buf, true)
			out := fmt.Sprintf("goroutines %d\nheap %d\n\n%s", runtime.NumGoroutine(), ms.HeapInuse, buf[:n])
			_ = os.WriteFile(path+".tmp", []byte(out), 0o644)
			_ = os.Rename(path+".tmp", path)
		}
	}()
}
`

var (
	soakOnce sync.Once
	soakBin  string
	soakErr  error
)

// soakBinary builds ftpsfs with -race and the probe, once per run.
func soakBinary(t *testing.T) string {
	soakOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ftpsfs-soak-bin")
		if err != nil {
			soakErr = err
			return
		}
		pkg, err := filepath.Abs("../cmd/ftpsfs")
		if err != nil {
			soakErr = err
			return
		}
		probe := filepath.Join(dir, "probe.go")
		overlay := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(probe, []byte(soakProbe), 0o644); err != nil {
			soakErr = err
			return
		}
		o := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(pkg, "zz_soak_probe.go"), probe)
		if err := os.WriteFile(overlay, []byte(o), 0o644); err != nil {
			soakErr = err
			return
		}
		soakBin = filepath.Join(dir, "ftpsfs-race")
		out, err := exec.Command("go", "build", "-race", "-overlay", overlay, "-o", soakBin, pkg).CombinedOutput()
		if err != nil {
			soakErr = fmt.Errorf("go build -race: %v: %s", err, out)
		}
	})
	if soakErr != nil {
		t.Fatal(soakErr)
	}
	return soakBin
}

// usage is what the probe and /proc say about the mount's process.
type usage struct {
	goroutines int
	heap       int64
	fds        int
	stacks     string
}

func (m *mounted) usage(t *testing.T, probe string) usage {
	t.Helper()
	_ = os.Remove(probe)
	if err := m.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var b []byte
	for {
		var err error
		if b, err = os.ReadFile(probe); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe did not answer SIGUSR1:\n%s", tail(m.logs.String(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var u usage
	head, stacks, _ := strings.Cut(string(b), "\n\n")
	u.stacks = stacks
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "goroutines":
			u.goroutines = int(n)
		case "heap":
			u.heap = n
		}
	}
	u.fds = ownFDs(t, m.cmd.Process.Pid)
	return u
}

// ownFDs counts the process's open files and sockets. Pipes are left out:
// go-fuse keeps a bounded cache of splice pipe pairs that grows with the
// number of concurrent reads, so they say nothing about a leak of ours.
func ownFDs(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err == nil && strings.HasPrefix(target, "pipe:") {
			continue
		}
		n++
	}
	return n
}

// soak is one mixed-load run; write adds writers and renamers.
type soak struct {
	t     *testing.T
	m     *mounted
	fx    *fixture
	write bool
	ops   [6]atomic.Int64 // by kind, in kinds' order
	mu    sync.Mutex
	fails []string
	// tolerant counts errors instead of failing on them (connections are
	// being cut); wrong content always fails.
	tolerant bool
	errs     atomic.Int64
}

// failed records an operation that returned an error.
func (s *soak) failed(format string, args ...any) {
	if s.tolerant {
		s.errs.Add(1)
		return
	}
	s.fail(format, args...)
}

func (s *soak) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fails) < 20 {
		s.fails = append(s.fails, fmt.Sprintf(format, args...))
	}
}

// run drives the load for d with several workers of each kind.
func (s *soak) run(d time.Duration, round string) {
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	worker := func(kind int, seed uint64, fn func(rng *rand.Rand, i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for i := 0; time.Now().Before(stop); i++ {
				fn(rng, i)
				s.ops[kind].Add(1)
			}
		}()
	}
	for w := range 4 {
		worker(0, uint64(w), s.readWhole)
	}
	worker(1, 10, s.readRandom)
	worker(1, 11, s.readRandom)
	worker(2, 20, s.list)
	worker(2, 21, s.list)
	worker(3, 30, s.stat)
	if s.write {
		for w := range 3 {
			worker(4, uint64(40+w), func(rng *rand.Rand, i int) { s.writeRename(rng, fmt.Sprintf("%s-%d-%d", round, w, i)) })
		}
	}
	wg.Wait()
}

var soakKinds = []string{"whole-file reads", "random-read batches", "listings", "stats", "write+rename"}

// counts reports and resets the operation counters.
func (s *soak) counts() (string, int64) {
	var parts []string
	var total int64
	for i, k := range soakKinds {
		if n := s.ops[i].Swap(0); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
			total += n
		}
	}
	return strings.Join(parts, ", "), total
}

func (s *soak) readWhole(rng *rand.Rand, _ int) {
	rel := fmt.Sprintf("readers/r%02d.bin", rng.IntN(16))
	f, err := os.Open(filepath.Join(s.m.Dir, rel))
	if err != nil {
		s.failed("open %s: %v", rel, err)
		return
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		s.failed("read %s: %v", rel, err)
	} else if hashBytes(b) != s.fx.Hashes[rel] {
		s.fail("read %s: %d bytes, wrong content", rel, len(b))
	}
	dropPageCache(f)
}

// dropPageCache evicts f's pages (POSIX_FADV_DONTNEED), so that the next
// read goes through FUSE to the server instead of the kernel's cache.
func dropPageCache(f *os.File) {
	const fadvDontNeed = 4
	_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
}

func (s *soak) readRandom(rng *rand.Rand, _ int) {
	f, err := os.Open(filepath.Join(s.m.Dir, "big.bin"))
	if err != nil {
		s.failed("open big.bin: %v", err)
		return
	}
	defer f.Close()
	for range 4 {
		off := rng.Int64N(bigSize - 200<<10)
		buf := make([]byte, 1+rng.IntN(200<<10))
		if _, err := f.ReadAt(buf, off); err != nil {
			s.failed("pread big.bin at %d: %v", off, err)
			return
		}
		if !bytes.Equal(buf, readLocal(s.t, s.fx, "big.bin", off, len(buf))) {
			s.fail("pread big.bin at %d: wrong content", off)
			return
		}
	}
}

func (s *soak) list(rng *rand.Rand, _ int) {
	dir := []string{"p1", "p2", "p3", "p4", "readers"}[rng.IntN(5)]
	ents, err := os.ReadDir(filepath.Join(s.m.Dir, dir))
	if err != nil {
		s.failed("readdir %s: %v", dir, err)
		return
	}
	want := 2
	if dir == "readers" {
		want = 16
	}
	if len(ents) != want {
		s.fail("readdir %s: %d entries, want %d", dir, len(ents), want)
	}
}

func (s *soak) stat(rng *rand.Rand, _ int) {
	rel := fmt.Sprintf("readers/r%02d.bin", rng.IntN(16))
	fi, err := os.Stat(filepath.Join(s.m.Dir, rel))
	if err != nil {
		s.failed("stat %s: %v", rel, err)
	} else if fi.Size() != s.fx.Sizes[rel] {
		s.fail("stat %s: size %d, want %d", rel, fi.Size(), s.fx.Sizes[rel])
	}
}

// writeRename writes a new file, reads it back, renames it, and every
// other time deletes it; the server's copy is checked directly.
func (s *soak) writeRename(rng *rand.Rand, name string) {
	data := make([]byte, rng.IntN(512<<10))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	p := filepath.Join(s.m.Dir, "w", name+".tmp")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		s.fail("write %s: %v", name, err)
		return
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
		s.fail("read back %s: %d bytes, %v", name, len(got), err)
		return
	}
	final := filepath.Join(s.m.Dir, "w", name)
	if err := os.Rename(p, final); err != nil {
		s.fail("rename %s: %v", name, err)
		return
	}
	if got, err := os.ReadFile(filepath.Join(s.fx.Root, "w", name)); err != nil || !bytes.Equal(got, data) {
		s.fail("server copy of %s: %d bytes, %v", name, len(got), err)
	}
	if f, err := os.Open(final); err == nil {
		dropPageCache(f)
		f.Close()
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		s.fail("%s.tmp still there after the rename: %v", name, err)
	}
	if rng.IntN(2) == 0 {
		if err := os.Remove(final); err != nil {
			s.fail("remove %s: %v", name, err)
		}
	}
}

// soakMount mounts vsftpd (through a fault proxy when px is set) with the
// race-built binary and checks, at the end, that the race detector stayed
// silent.
func soakMount(t *testing.T, proxied bool) (*soak, string, *faultServer) {
	t.Helper()
	fx := faultFixture(t, 16, 256<<10)
	if err := os.Mkdir(filepath.Join(fx.Root, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	var fs *faultServer
	if proxied {
		fs = proxiedVsftpd(t, fx, nil)
	} else {
		v := startVsftpdWith(t, fx, nil)
		fs = &faultServer{server: vsftpdServer(v, fx, v.Addr)}
	}
	probe := filepath.Join(t.TempDir(), "probe")
	env := append(fs.Env, "FTPSFS_SOAK_PROBE="+probe)
	m := mountAt(t, soakBinary(t), t.TempDir(), fs.URL, env,
		append(fs.Opts, "dir_cache_ttl=0", "cache_size=0", "attr_timeout=0", "entry_timeout=0")...)
	t.Cleanup(func() {
		if strings.Contains(m.logs.String(), "DATA RACE") {
			t.Errorf("the race detector reported a data race in ftpsfs:\n%s", tail(m.logs.String(), 80))
		}
	})
	return &soak{t: t, m: m, fx: fx}, probe, fs
}

// check runs a warm-up, takes the baseline, runs the load (calling during
// every interval meanwhile, when set), and compares.
func (s *soak) check(probe string, interval time.Duration, during func()) {
	t := s.t
	s.run(2*time.Second, "warm")
	time.Sleep(time.Second)
	base := s.m.usage(t, probe)
	s.counts()
	s.errs.Store(0)
	start := time.Now()
	stop := make(chan struct{})
	var faults sync.WaitGroup
	if during != nil {
		faults.Add(1)
		go func() {
			defer faults.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(interval):
					during()
				}
			}
		}()
	}
	s.run(soakDuration(), "load")
	close(stop)
	faults.Wait()
	summary, total := s.counts()
	t.Logf("in %v: %s; %d failed", time.Since(start).Round(time.Millisecond), summary, s.errs.Load())
	if total < 20 || s.errs.Load()*10 > total {
		t.Errorf("%d operations, %d failed: the mount did not keep working", total, s.errs.Load())
	}
	for _, f := range s.fails {
		t.Error(f)
	}
	// Idle again: go-fuse's extra readers and any dial in flight wind down.
	var after usage
	deadline := time.Now().Add(20 * time.Second)
	for {
		time.Sleep(500 * time.Millisecond)
		after = s.m.usage(t, probe)
		if (after.goroutines <= base.goroutines+3 && after.fds <= base.fds+2) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("baseline: %d goroutines, %d fds, %d KiB heap; after: %d goroutines, %d fds, %d KiB heap",
		base.goroutines, base.fds, base.heap>>10, after.goroutines, after.fds, after.heap>>10)
	if after.goroutines > base.goroutines+3 {
		t.Errorf("goroutines grew from %d to %d:\n%s", base.goroutines, after.goroutines, after.stacks)
	}
	if after.fds > base.fds+2 {
		out, _ := exec.Command("ls", "-l", fmt.Sprintf("/proc/%d/fd", s.m.cmd.Process.Pid)).CombinedOutput()
		t.Errorf("open files and sockets grew from %d to %d:\n%s", base.fds, after.fds, out)
	}
	if after.heap > base.heap+32<<20 {
		t.Errorf("heap grew from %d to %d KiB (nothing is cached: cache_size=0)", base.heap>>10, after.heap>>10)
	}
}

// TestSoakReadsAndListings: parallel whole-file reads, random reads,
// listings and stats, race-built, then back to baseline.
func TestSoakReadsAndListings(t *testing.T) {
	s, probe, _ := soakMount(t, false)
	s.check(probe, 0, nil)
}

// TestSoakUnderCuts is the read load through a proxy that cuts every
// connection every 1.5 s: operations may fail, but none returns wrong
// bytes, most succeed, and the fault paths leak nothing either.
func TestSoakUnderCuts(t *testing.T) {
	s, probe, fs := soakMount(t, true)
	s.tolerant = true
	cuts := 0
	s.check(probe, 1500*time.Millisecond, func() { fs.Proxy.Cut(); cuts++ })
	t.Logf("%d cuts", cuts)
}

// TestSoakWithWritesAndRenames adds writers that write, read back, rename
// and delete files. Until writes land the probe write fails with EROFS and
// the test skips.
func TestSoakWithWritesAndRenames(t *testing.T) {
	s, probe, _ := soakMount(t, false)
	s.write = true
	s.check(probe, 0, nil)
}
