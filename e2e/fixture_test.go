package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fixture is the tree every server serves, with what each file should hash to.
type fixture struct {
	Root   string
	Hashes map[string]string // relative path → sha256 hex
	Sizes  map[string]int64
}

const (
	bigSize  = 100 << 20
	manyDirs = 5000
)

var (
	bigOnce sync.Once
	bigPath string
	bigErr  error
)

// sharedBig is one 100 MiB random file per test run, hard-linked into each
// server's tree to spare the disk.
func sharedBig(t *testing.T) string {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ftpsfs-e2e-big")
		if err != nil {
			bigErr = err
			return
		}
		bigPath = filepath.Join(dir, "big.bin")
		f, err := os.Create(bigPath)
		if err != nil {
			bigErr = err
			return
		}
		defer f.Close()
		_, bigErr = io.CopyN(f, rand.Reader, bigSize)
	})
	if bigErr != nil {
		t.Fatal(bigErr)
	}
	return bigPath
}

func writeFixture(t *testing.T, root string) *fixture {
	t.Helper()
	fx := &fixture{Root: root, Hashes: map[string]string{}, Sizes: map[string]int64{}}
	put := func(rel string, data []byte) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		fx.Hashes[rel] = hex.EncodeToString(sum[:])
		fx.Sizes[rel] = int64(len(data))
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	put("empty", nil)
	put("one", []byte{'1'})
	put("mib+1.bin", random(1<<20+1))
	put("with space.txt", []byte("space\n"))
	put("hash#name.txt", []byte("hash\n"))
	put("per%cent.txt", []byte("percent\n"))
	put("naïve-日本.txt", []byte("unicode\n"))
	put(".hidden", []byte("dotfile\n"))
	put("tree/report.csv", []byte("a,b\n"))
	put("tree/a/other.csv", []byte("c,d\n"))
	put("tree/a/b/data.csv", []byte("e,f\n"))
	put("tree/c/x.txt", []byte("x\n"))
	for i := 0; i < 8; i++ {
		put(fmt.Sprintf("readers/r%d.bin", i), random(2<<20+i))
	}
	if err := os.MkdirAll(filepath.Join(root, "many"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < manyDirs; i++ {
		if err := os.WriteFile(filepath.Join(root, "many", fmt.Sprintf("f%04d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := sharedBig(t)
	if err := os.Link(big, filepath.Join(root, "big.bin")); err != nil {
		t.Fatal(err)
	}
	fx.Hashes["big.bin"] = hashFile(t, big)
	fx.Sizes["big.bin"] = bigSize
	if err := os.Symlink("one", filepath.Join(root, "link-to-one")); err != nil {
		t.Fatal(err)
	}
	return fx
}

var hashCache sync.Map

func hashFile(t *testing.T, p string) string {
	if h, ok := hashCache.Load(p); ok {
		return h.(string)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	hashCache.Store(p, sum)
	return sum
}
