package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// sizes are the scenario sizes: the figures, or small ones (-quick).
type sizes struct {
	Big       int64 // (a), (e): the large file
	ListN     int   // (b): entries in one directory
	TreeDirs  int   // (c)
	TreeFiles int   // (c): files per directory
	SmallN    int   // (d)
	SmallSize int
	RandomN   int // (e)
	RandomLen int
	Write     int64 // (f)
	CopyN     int   // (h): files cp -r copies into the mount
	CopySize  int
}

var (
	fullSizes = sizes{Big: 1 << 30, ListN: 10000, TreeDirs: 200, TreeFiles: 20, SmallN: 1000, SmallSize: 4 << 10,
		RandomN: 200, RandomLen: 64 << 10, Write: 256 << 20, CopyN: 200, CopySize: 4 << 10}
	quickSizes = sizes{Big: 64 << 20, ListN: 2000, TreeDirs: 10, TreeFiles: 10, SmallN: 100, SmallSize: 4 << 10,
		RandomN: 50, RandomLen: 64 << 10, Write: 32 << 20, CopyN: 50, CopySize: 4 << 10}
)

// fixture is the tree every server serves, laid out as the scenarios expect:
//
//	big.bin            Big random bytes          (a, e)
//	list/e00000…       ListN empty files         (b)
//	tree/d000/f00…     TreeDirs × TreeFiles      (c)
//	small/s0000.bin…   SmallN × SmallSize        (d)
//	upload/            where (f) and (h) write
//
// and, outside the served tree, what (f) and (h) upload:
//
//	upload-src.bin     Write random bytes        (f)
//	copy-src/c000.bin… CopyN × CopySize          (h)
type fixture struct {
	Root      string
	Sizes     sizes
	TreeDirs  []string // relative to Root
	Small     []string // relative to Root
	UploadSrc string   // the local file (f) uploads, outside Root
	CopySrc   string   // the local directory (h) copies, outside Root
	Copy      []string // (h): the file names in CopySrc, sorted
	Offsets   []int64  // (e): the same random offsets for every client
}

// makeFixture writes the tree under work/root. Contents come from a seeded
// generator: random enough that nothing compresses, and cheap to make.
func makeFixture(work string, sz sizes) (*fixture, error) {
	fx := &fixture{Root: filepath.Join(work, "root"), Sizes: sz, UploadSrc: filepath.Join(work, "upload-src.bin"),
		CopySrc: filepath.Join(work, "copy-src")}
	rng := rand.New(rand.NewChaCha8([32]byte{'f', 't', 'p', 's', 'f', 's'}))
	if err := writeRandom(filepath.Join(fx.Root, "big.bin"), sz.Big, rng); err != nil {
		return nil, err
	}
	if err := writeRandom(fx.UploadSrc, sz.Write, rng); err != nil {
		return nil, err
	}
	for i := range sz.ListN {
		if err := writeFile(filepath.Join(fx.Root, "list", fmt.Sprintf("e%05d", i)), nil); err != nil {
			return nil, err
		}
	}
	for d := range sz.TreeDirs {
		dir := fmt.Sprintf("tree/d%03d", d)
		fx.TreeDirs = append(fx.TreeDirs, dir)
		for f := range sz.TreeFiles {
			if err := writeFile(filepath.Join(fx.Root, dir, fmt.Sprintf("f%02d", f)), []byte("x\n")); err != nil {
				return nil, err
			}
		}
	}
	buf := make([]byte, sz.SmallSize)
	for i := range sz.SmallN {
		name := fmt.Sprintf("small/s%04d.bin", i)
		fx.Small = append(fx.Small, name)
		fillRandom(buf, rng)
		if err := writeFile(filepath.Join(fx.Root, name), buf); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(fx.Root, "upload"), 0o755); err != nil {
		return nil, err
	}
	for range sz.RandomN {
		fx.Offsets = append(fx.Offsets, rng.Int64N(sz.Big-int64(sz.RandomLen)))
	}
	// Last, so the earlier contents and offsets are those of older runs.
	buf = make([]byte, sz.CopySize)
	for i := range sz.CopyN {
		name := fmt.Sprintf("c%03d.bin", i)
		fx.Copy = append(fx.Copy, name)
		fillRandom(buf, rng)
		if err := writeFile(filepath.Join(fx.CopySrc, name), buf); err != nil {
			return nil, err
		}
	}
	return fx, nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func writeRandom(path string, size int64, rng *rand.Rand) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		fillRandom(buf, rng)
		if _, err := w.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fillRandom(b []byte, rng *rand.Rand) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// clearUploads removes what (f) and (h) wrote, so uploads never accumulate.
func (fx *fixture) clearUploads() error {
	dir := filepath.Join(fx.Root, "upload")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// warmServer reads the given server-side paths (files and trees) on this
// machine after the page cache was dropped, so that every client is measured
// against a server serving from memory: the figures are about the protocol
// and the client, not about this machine's disk.
func warmServer(paths ...string) error {
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := d.Info(); err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(io.Discard, f)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// dropCaches empties the kernel's page, dentry and inode caches, so a
// remounted client starts cold (root only).
func dropCaches() error {
	if err := runCmd("sync"); err != nil {
		return err
	}
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}
