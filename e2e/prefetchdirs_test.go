package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// walkFixture is tree/dNN/fM: dirs directories of files files each.
func walkFixture(t *testing.T, dirs, files int) *fixture {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	fx := &fixture{Root: root, Hashes: map[string]string{}, Sizes: map[string]int64{}}
	for d := range dirs {
		for f := range files {
			rel := fmt.Sprintf("tree/d%02d/f%d", d, f)
			data := []byte(strings.Repeat("x", d*files+f))
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			fx.Sizes[rel] = int64(len(data))
		}
	}
	return fx
}

// walk is `find tree -type f | xargs stat` through the mount; it returns
// each file's path (relative to the mount) and size as stat saw them.
func walk(mnt string) (map[string]int64, error) {
	out, err := exec.Command("sh", "-c", `cd "$1" && find tree -type f -print0 | xargs -0 stat -c '%n %s'`, "walk", mnt).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("walk: %v: %s", err, out)
	}
	got := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var size int64
		name, sz, _ := strings.Cut(line, " ")
		if _, err := fmt.Sscan(sz, &size); err != nil {
			return nil, fmt.Errorf("walk: bad line %q", line)
		}
		got[name] = size
	}
	return got, nil
}

func checkWalk(t *testing.T, fx *fixture, got map[string]int64) {
	t.Helper()
	if len(got) != len(fx.Sizes) {
		t.Errorf("walk saw %d files, want %d", len(got), len(fx.Sizes))
	}
	for rel, size := range fx.Sizes {
		if g, ok := got[rel]; !ok || g != size {
			t.Errorf("%s: walk saw size %d (listed %v), want %d", rel, g, ok, size)
		}
	}
}

// TestTreeWalkListsEachDirectoryOnce: find + stat over a 20×5 tree, with
// subdirectories listed ahead of the walk, lists every directory exactly
// once (the walk finds the prefetched listings; nobody fetches one twice),
// shows every file right; a listing of a directory alone gets its
// subdirectories listed; and the race-built process is back at its
// goroutine and socket baseline afterwards.
func TestTreeWalkListsEachDirectoryOnce(t *testing.T) {
	fx := walkFixture(t, 20, 5)
	for d := range 10 { // for the end, where the walk never went
		if err := os.MkdirAll(filepath.Join(fx.Root, "other", fmt.Sprintf("s%02d", d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: fx.Root, RequireReuse: true})
	if err != nil {
		t.Fatalf("embedded server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	probe := filepath.Join(t.TempDir(), "probe")
	m := mountAt(t, soakBinary(t), t.TempDir(), fmt.Sprintf("ftpes://%s@%s/", srv.Opts.User, srv.Addr),
		[]string{"FTPSFS_PASSWORD=" + srv.Opts.Password, "FTPSFS_SOAK_PROBE=" + probe},
		"fingerprint="+testserver.FingerprintOption(srv.Opts.Cert.Fingerprint), "connections=8")
	t.Cleanup(func() {
		if strings.Contains(m.logs.String(), "DATA RACE") {
			t.Errorf("the race detector reported a data race in ftpsfs:\n%s", tail(m.logs.String(), 80))
		}
	})
	if _, err := os.Stat(m.Dir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the pool's warm-up ends
	base := m.usage(t, probe)

	got, err := walk(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	checkWalk(t, fx, got)
	want := []string{"/tree"}
	for d := range 20 {
		want = append(want, fmt.Sprintf("/tree/d%02d", d))
	}
	for _, dir := range want {
		if n := srv.Listings(dir); n != 1 {
			t.Errorf("%s listed %d times; want once", dir, n)
		}
	}

	// A listing by a program alone queues its subdirectories.
	if _, err := os.ReadDir(filepath.Join(m.Dir, "other")); err != nil {
		t.Fatal(err)
	}
	for d := range 10 {
		dir := fmt.Sprintf("/other/s%02d", d)
		for deadline := time.Now().Add(10 * time.Second); srv.Listings(dir) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never listed after a listing of /other", dir)
			}
		}
	}

	var after usage
	for deadline := time.Now().Add(20 * time.Second); ; {
		time.Sleep(500 * time.Millisecond)
		after = m.usage(t, probe)
		if (after.goroutines <= base.goroutines+3 && after.fds <= base.fds+2) || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("baseline %d goroutines, %d fds; after the walk %d, %d", base.goroutines, base.fds, after.goroutines, after.fds)
	if after.goroutines > base.goroutines+3 {
		t.Errorf("goroutines grew from %d to %d:\n%s", base.goroutines, after.goroutines, after.stacks)
	}
	if after.fds > base.fds+2 {
		t.Errorf("open files and sockets grew from %d to %d", base.fds, after.fds)
	}
}

// TestTreeWalkSurvivesCutDuringPrefetch: every connection is cut while
// the walk runs and listings are being fetched ahead of it; the walk still
// sees every file right (a prefetch the cut broke is dropped, never stored
// half or wrong).
func TestTreeWalkSurvivesCutDuringPrefetch(t *testing.T) {
	fx := walkFixture(t, 20, 5)
	fs := proxiedEmbedded(t, fx)
	fs.Proxy.SetDelay(5*time.Millisecond, 5*time.Millisecond) // listings stay in flight long enough to be cut
	m := mountForeground(t, fs.URL, fs.Env, append(fs.Opts, "connections=8", "timeout=10s")...)
	done := make(chan error, 1)
	var got map[string]int64
	go func() {
		var err error
		got, err = walk(m.Dir)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	cut := fs.Proxy.Cut()
	if err := <-done; err != nil {
		t.Fatalf("walk failed after a cut of %d connections: %v", cut, err)
	}
	t.Logf("cut %d connections during the walk", cut)
	checkWalk(t, fx, got)
	// A second walk answers from what the first left cached: right too.
	again, err := walk(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	checkWalk(t, fx, again)
}
