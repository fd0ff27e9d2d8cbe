package fusefs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// laneRemote is the fake with read-ahead lanes whose streams are limited
// to perStream bytes per second each, or, with shared, all together: the
// first is a link where one TCP window limits a stream, the second one
// whose bandwidth one stream already fills.
type laneRemote struct {
	*fakeRemote
	perStream float64
	shared    sync.Mutex // held while a read "transfers", when shared is on
	isShared  bool
	laneOpens atomic.Int64
	fetched   atomic.Int64 // bytes read from the "server", by every stream
}

func (r *laneRemote) ReadLanes() int { return 3 }

func (r *laneRemote) RoundTrip() time.Duration { return 10 * time.Millisecond }

func (r *laneRemote) OpenReader(p string) RemoteReader {
	return &slowReader{RemoteReader: r.fakeRemote.OpenReader(p), r: r}
}

func (r *laneRemote) OpenLaneReader(p string) RemoteReader {
	r.laneOpens.Add(1)
	return r.OpenReader(p)
}

type slowReader struct {
	RemoteReader
	r *laneRemote
}

func (s *slowReader) ReadAt(ctx context.Context, buf []byte, off int64) (int, error) {
	if s.r.isShared {
		s.r.shared.Lock()
		defer s.r.shared.Unlock()
	}
	time.Sleep(time.Duration(float64(len(buf)) / s.r.perStream * float64(time.Second)))
	n, err := s.RemoteReader.ReadAt(ctx, buf, off)
	s.r.fetched.Add(int64(n))
	return n, err
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// readThroughLanes reads a 96 MiB file sequentially through a mount of r
// and returns the mount's debug log.
func readThroughLanes(t *testing.T, r *laneRemote) string {
	t.Helper()
	data := randBytes(96 << 20)
	r.add("/big", data)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mnt := mountRemote(t, r, 128<<20, true, log)
	got, err := os.ReadFile(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes that differ from the file's %d", len(got), len(data))
	}
	if r.laneOpens.Load() < 2 {
		t.Errorf("%d lane streams opened; want several", r.laneOpens.Load())
	}
	return logs.String()
}

func TestParallelRangesKeptWhenEachStreamIsLimited(t *testing.T) {
	t.Parallel()
	r := &laneRemote{fakeRemote: newFakeRemote(), perStream: 20 << 20}
	log := readThroughLanes(t, r)
	if !strings.Contains(log, "parallel ranges measured") || !strings.Contains(log, "kept=true") {
		t.Errorf("lanes were not kept although each stream is limited on its own; log:\n%s", grepLines(log, "parallel"))
	}
}

func TestParallelRangesDroppedWhenTheLinkIsFull(t *testing.T) {
	t.Parallel()
	r := &laneRemote{fakeRemote: newFakeRemote(), perStream: 20 << 20, isShared: true}
	log := readThroughLanes(t, r)
	if !strings.Contains(log, "parallel ranges measured") || !strings.Contains(log, "kept=false") {
		t.Errorf("lanes were kept although they share one stream's bandwidth; log:\n%s", grepLines(log, "parallel"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestReadWaitsForLanesMakingProgress: a read that reaches a block a lane
// has claimed but not fetched yet waits for it while the lanes keep
// delivering blocks, and fetches it itself only when they stall. Before,
// it gave up after one patience whatever the lanes did, and fetched on
// its own stream what the lanes were about to deliver: the file was
// downloaded half again, and sequential reads at 20 ms round trips were
// a fifth slower than without the patience.
func TestReadWaitsForLanesMakingProgress(t *testing.T) {
	t.Parallel()
	// A block takes a lane 125 ms, longer than the patience (80 ms).
	r := &laneRemote{fakeRemote: newFakeRemote(), perStream: 8 << 20}
	readThroughLanes(t, r)
	size := int64(96 << 20)
	t.Logf("%d MiB fetched for %d MiB", r.fetched.Load()>>20, size>>20)
	if got := r.fetched.Load(); got > size+size/8 {
		t.Errorf("%d MiB fetched for a %d MiB file: reads took over blocks lanes were delivering", got>>20, size>>20)
	}
}
