package fusefs

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ftpsfs/ftpsfs/cache"
)

// recorder is an Observer that remembers what it heard.
type recorder struct {
	mu            sync.Mutex
	ops           []string
	read, written int
}

func (r *recorder) Op(op string, _ syscall.Errno, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

func (r *recorder) Bytes(read, written int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read += read
	r.written += written
}

func (r *recorder) count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.ops {
		if o == op {
			n++
		}
	}
	return n
}

// acceptingWritev answers Writev, as go-fuse's node bridge does, so the
// wrapper's Writev has something to count.
type acceptingWritev struct{ fuse.RawFileSystem }

func (acceptingWritev) Writev(_ <-chan struct{}, _ *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	n := 0
	for _, d := range data {
		n += len(d)
	}
	return uint32(n), fuse.OK
}

// notOperations are the fuse.RawFileSystem methods no kernel request
// reaches: go-fuse calls them itself around serving.
var notOperations = map[string]string{
	"String":    "a name for go-fuse's own log lines",
	"SetDebug":  "go-fuse's debug switch",
	"Init":      "hands over the *fuse.Server before the first request",
	"OnUnmount": "called after the last request",
}

// opName is the op label a method must report: its name in lower case,
// except that both ways of delivering WRITE are "write".
func opName(method string) string {
	if method == "Writev" {
		return "write"
	}
	return strings.ToLower(method)
}

// TestEveryOperationIsObserved calls every method of go-fuse's
// RawFileSystem through the observing wrapper and checks each one was
// counted once under its name and traced in the debug log. A method that
// go-fuse adds, or that the wrapper leaves to the embedded interface, fails
// here instead of going unseen in metrics and -d.
func TestEveryOperationIsObserved(t *testing.T) {
	iface := reflect.TypeFor[fuse.RawFileSystem]()
	if iface.NumMethod() < 40 {
		t.Fatalf("fuse.RawFileSystem has only %d methods: reflection is not seeing the interface", iface.NumMethod())
	}
	for i := range iface.NumMethod() {
		m := iface.Method(i)
		if why, ok := notOperations[m.Name]; ok {
			t.Logf("%s: not an operation (%s)", m.Name, why)
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			rec := &recorder{}
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			o := &observed{RawFileSystem: acceptingWritev{fuse.NewDefaultRawFileSystem()}, obs: rec, log: log, debug: true}
			method := reflect.ValueOf(o).MethodByName(m.Name)
			args := make([]reflect.Value, m.Type.NumIn())
			for j := range args {
				args[j] = argFor(m.Type.In(j))
			}
			method.Call(args)
			want := opName(m.Name)
			if len(rec.ops) != 1 || rec.ops[0] != want {
				t.Errorf("%s: observer heard %q, want exactly [%s] (is the method wrapped in observe.go?)", m.Name, rec.ops, want)
			}
			if !strings.Contains(logBuf.String(), "op="+want+" ") {
				t.Errorf("%s: debug log lacks op=%s: %q", m.Name, want, logBuf.String())
			}
		})
	}
}

// argFor makes an argument the wrapper can read: non-nil pointers to zero
// values, and a two-part payload for the [][]byte of Writev.
func argFor(t reflect.Type) reflect.Value {
	switch {
	case t.Kind() == reflect.Pointer:
		return reflect.New(t.Elem())
	case t == reflect.TypeFor[[][]byte]():
		return reflect.ValueOf([][]byte{[]byte("ab"), []byte("c")})
	}
	return reflect.Zero(t)
}

func TestWritevCountsBytesAndFallbackCountsOnce(t *testing.T) {
	rec := &recorder{}
	o := &observed{RawFileSystem: acceptingWritev{fuse.NewDefaultRawFileSystem()}, obs: rec, log: slog.New(slog.DiscardHandler)}
	if n, st := o.Writev(nil, &fuse.WriteIn{}, [][]byte{[]byte("hello "), []byte("world")}); n != 11 || !st.Ok() {
		t.Fatalf("Writev: %d %v", n, st)
	}
	if rec.written != 11 || rec.count("write") != 1 {
		t.Errorf("after Writev of 11 bytes: written=%d, write ops=%d", rec.written, rec.count("write"))
	}

	// A file system without Writev: go-fuse then calls Write, which counts;
	// the ENOSYS from Writev must not count the same request twice.
	rec = &recorder{}
	o = &observed{RawFileSystem: fuse.NewDefaultRawFileSystem(), obs: rec, log: slog.New(slog.DiscardHandler)}
	if _, st := o.Writev(nil, &fuse.WriteIn{}, [][]byte{[]byte("x")}); st != fuse.ENOSYS {
		t.Fatalf("default Writev: %v, want ENOSYS", st)
	}
	o.Write(nil, &fuse.WriteIn{}, []byte("x"))
	if got := rec.count("write"); got != 1 {
		t.Errorf("write counted %d times for one request, want 1", got)
	}
}

// TestWritesThroughAMountAreCounted writes through a real mount and checks
// the observer saw the bytes and the write operations.
func TestWritesThroughAMountAreCounted(t *testing.T) {
	rec := &recorder{}
	dir := t.TempDir()
	fsys := New(newFakeRemote(), cache.NewDirs(time.Minute, 100, nil), cache.NewBlocks(1<<20), Config{
		Root: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Timeout: 5 * time.Second, SpoolDir: t.TempDir(),
	})
	server, err := Mount(dir, fsys, MountConfig{FSName: "fake", AttrTimeout: time.Second, EntryTimeout: time.Second, Observer: rec})
	if err != nil {
		t.Fatalf("mount failed (is /dev/fuse there, and fuse3 installed? apt-get install fuse3): %v", err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes: several WRITE requests
	if err := os.WriteFile(filepath.Join(dir, "new.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	written := rec.written
	rec.mu.Unlock()
	if written != len(data) {
		t.Errorf("observer counted %d bytes written, want %d", written, len(data))
	}
	if rec.count("write") == 0 || rec.count("create") != 1 || rec.count("flush") == 0 {
		t.Errorf("ops: write=%d create=%d flush=%d", rec.count("write"), rec.count("create"), rec.count("flush"))
	}
}
