package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// TestFSX is an fsx-style randomized test: thousands of writes at random
// offsets, truncates, appends, reads, fsyncs, closes and reopens through the
// real mount, each checked against a model in memory; after every close the
// server's copy must equal the model byte for byte.
func TestFSX(t *testing.T) {
	const (
		ops     = 4000
		maxSize = 1 << 20
		seed    = 20261123
	)
	root := t.TempDir()
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m := mountForeground(t, "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=secret"},
		"fingerprint="+testserver.FingerprintOption(srv.Opts.Cert.Fingerprint))

	rng := rand.New(rand.NewPCG(seed, 1))
	p := filepath.Join(m.Dir, "fsx.bin")
	var model []byte
	open := func(flags int) *os.File {
		f, err := os.OpenFile(p, flags, 0o644)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return f
	}
	f := open(os.O_RDWR | os.O_CREATE | os.O_TRUNC)
	defer func() { _ = f.Close() }()
	randData := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	counts := map[string]int{}
	for i := 0; i < ops; i++ {
		op := rng.IntN(100)
		switch {
		case op < 35: // write at a random offset, maybe past the end
			off := rng.IntN(min(len(model)+65536, maxSize))
			data := randData(1 + rng.IntN(min(65536, maxSize-off)))
			if _, err := f.WriteAt(data, int64(off)); err != nil {
				t.Fatalf("op %d: write %d@%d: %v", i, len(data), off, err)
			}
			if end := off + len(data); end > len(model) {
				model = append(model, make([]byte, end-len(model))...)
			}
			copy(model[off:], data)
			counts["write"]++
		case op < 42: // append through an O_APPEND handle
			data := randData(1 + rng.IntN(8192))
			if len(model)+len(data) > maxSize {
				continue
			}
			a := open(os.O_WRONLY | os.O_APPEND)
			if _, err := a.Write(data); err != nil {
				t.Fatalf("op %d: append: %v", i, err)
			}
			if err := a.Close(); err != nil {
				t.Fatalf("op %d: close after append: %v", i, err)
			}
			model = append(model, data...)
			counts["append"]++
		case op < 50: // truncate, shrinking or growing
			size := rng.IntN(min(len(model)+65536, maxSize))
			if err := f.Truncate(int64(size)); err != nil {
				t.Fatalf("op %d: truncate %d: %v", i, size, err)
			}
			if size < len(model) {
				model = model[:size]
			} else {
				model = append(model, make([]byte, size-len(model))...)
			}
			counts["truncate"]++
		case op < 85: // read a random range
			if len(model) == 0 {
				continue
			}
			off := rng.IntN(len(model))
			buf := make([]byte, 1+rng.IntN(65536))
			n, _ := f.ReadAt(buf, int64(off))
			want := model[off:min(off+len(buf), len(model))]
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("op %d: read %d@%d: got %d bytes, differs from the model", i, len(buf), off, n)
			}
			counts["read"]++
		case op < 95: // close (uploads), check the server, reopen
			if err := f.Close(); err != nil {
				t.Fatalf("op %d: close: %v", i, err)
			}
			got, err := os.ReadFile(filepath.Join(root, "fsx.bin"))
			if err != nil || !bytes.Equal(got, model) {
				t.Fatalf("op %d: server copy: %d bytes (model %d), err %v", i, len(got), len(model), err)
			}
			if st, err := os.Stat(p); err != nil || st.Size() != int64(len(model)) {
				t.Fatalf("op %d: stat after close: %v %v, want size %d", i, st, err, len(model))
			}
			f = open(os.O_RDWR)
			counts["close+reopen"]++
		default:
			if err := f.Sync(); err != nil {
				t.Fatalf("op %d: fsync: %v", i, err)
			}
			counts["fsync"]++
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "fsx.bin"))
	if err != nil || !bytes.Equal(got, model) {
		t.Fatalf("final server copy: %d bytes (model %d), err %v", len(got), len(model), err)
	}
	t.Logf("seed %d: %s, final size %d", seed, fmt.Sprint(counts), len(model))
}
