package main

// The programs and system calls the scenarios run on a mount, each checking
// that it really got the data: a short read must fail, not look fast.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// readAll runs a program that writes a file to stdout and checks it wrote
// want bytes: a short read is an error, not a fast figure.
func readAll(ctx context.Context, want int64, name string, args ...string) error {
	var n countWriter
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &n, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, lastLines(stderr.String(), 3))
	}
	if int64(n) != want {
		return fmt.Errorf("%s read %d bytes, want %d", name, n, want)
	}
	return nil
}

// countLines runs a program and returns how many lines it printed.
func countLines(ctx context.Context, name string, args ...string) (int, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %v: %s", name, err, lastLines(stderr.String(), 3))
	}
	return bytes.Count(stdout.Bytes(), []byte("\n")), nil
}

// catFiles reads every small file with cat: one process reading them in
// turn, or `parallel` processes each reading its share.
func catFiles(ctx context.Context, fx *fixture, dir string, parallel int) error {
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	for p := range parallel {
		var paths []string
		for i := p; i < len(fx.Small); i += parallel {
			paths = append(paths, filepath.Join(dir, fx.Small[i]))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = readAll(ctx, int64(len(paths)*fx.Sizes.SmallSize), "cat", paths...)
		}()
	}
	wg.Wait()
	return firstError(errs)
}

func lftpMget(ctx context.Context, l *lftpClient, parallel int) error {
	out, err := os.MkdirTemp(l.work, "lftp-mget-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	return l.script(ctx, "mget -P "+strconv.Itoa(parallel)+" -O "+out+" small/*")
}

// preads reads n bytes at each offset of path with pread, one after another.
func preads(path string, offsets []int64, n int) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	got := make([][]byte, len(offsets))
	for i, off := range offsets {
		got[i] = make([]byte, n)
		if _, err := f.ReadAt(got[i], off); err != nil {
			return nil, fmt.Errorf("pread at %d: %w", off, err)
		}
	}
	return got, nil
}

// checkPieces compares what (e) read with the server's copy of big.bin.
func (fx *fixture) checkPieces(got [][]byte) error {
	ref, err := os.Open(fx.path("big.bin"))
	if err != nil {
		return err
	}
	defer ref.Close()
	want := make([]byte, fx.Sizes.RandomLen)
	for i, off := range fx.Offsets {
		if _, err := ref.ReadAt(want, off); err != nil && err != io.EOF {
			return err
		}
		if !bytes.Equal(got[i], want) {
			return fmt.Errorf("pread at %d returned wrong data", off)
		}
	}
	return nil
}

// ddRead reads path with dd in 1 MiB blocks into /dev/null and checks, from
// dd's own count, that it read want bytes: a short read is an error, not a
// fast figure.
func ddRead(ctx context.Context, path string, want int64) error {
	cmd := exec.CommandContext(ctx, "dd", "if="+path, "of=/dev/null", "bs=1M")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("dd: %v: %s", err, lastLines(string(out), 3))
	}
	// "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 5.2 s, 206 MB/s"
	last := lastLines(string(out), 1)
	got, _, _ := strings.Cut(last, " ")
	if got != strconv.FormatInt(want, 10) {
		return fmt.Errorf("dd read %q, want %d bytes", last, want)
	}
	return nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

func suffixAll(ss []string, suffix string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s + suffix
	}
	return out
}
