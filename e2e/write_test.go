package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writeKinds are the servers the write path is proven against.
var writeKinds = []serverKind{serverKinds[0], serverKinds[2]} // embedded-explicit, vsftpd-explicit

// serveEmpty starts a server of kind k over an empty root and mounts it.
func serveEmpty(t *testing.T, k serverKind, opts ...string) (*server, *mounted, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s := k.start(t, root)
	m := mountForeground(t, s.URL, s.Env, append(s.Opts, opts...)...)
	return s, m, root
}

// sameTree compares two directory trees byte for byte (diff -r).
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	if out, err := exec.Command("diff", "-r", a, b).CombinedOutput(); err != nil {
		t.Errorf("diff -r %s %s: %v\n%s", a, b, err, out)
	}
}

func sameFile(t *testing.T, got string, want []byte) {
	t.Helper()
	b, err := os.ReadFile(got)
	if err != nil {
		t.Errorf("reading %s: %v", got, err)
		return
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s: %d bytes, want %d (content differs)", got, len(b), len(want))
	}
}

func sh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// makeTree writes n files of varied sizes under dir, in a few subdirectories.
func makeTree(t *testing.T, dir string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%d/sub%d/file %03d.bin", i%5, i%3, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, (i*7919)%70000)
		_, _ = rand.Read(data)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteWithOrdinaryPrograms(t *testing.T) {
	for _, k := range writeKinds {
		t.Run(k.name, func(t *testing.T) {
			_, m, root := serveEmpty(t, k)
			local := t.TempDir()

			t.Run("cp -r there and back", func(t *testing.T) {
				makeTree(t, filepath.Join(local, "tree"), 200)
				run(t, "cp", "-r", filepath.Join(local, "tree"), m.Dir+"/")
				sameTree(t, filepath.Join(local, "tree"), filepath.Join(root, "tree"))
				back := filepath.Join(t.TempDir(), "back")
				run(t, "cp", "-r", filepath.Join(m.Dir, "tree"), back)
				sameTree(t, filepath.Join(local, "tree"), back)
			})
			t.Run("tar -x", func(t *testing.T) {
				src := filepath.Join(t.TempDir(), "src")
				makeTree(t, src, 30)
				archive := filepath.Join(t.TempDir(), "a.tar")
				run(t, "tar", "-cf", archive, "-C", src, ".")
				if err := os.Mkdir(filepath.Join(m.Dir, "untar"), 0o755); err != nil {
					t.Fatal(err)
				}
				run(t, "tar", "-xf", archive, "-C", filepath.Join(m.Dir, "untar"))
				sameTree(t, src, filepath.Join(root, "untar"))
			})
			t.Run("rsync -a twice", func(t *testing.T) {
				src := filepath.Join(t.TempDir(), "src")
				makeTree(t, src, 40)
				run(t, "rsync", "-a", src+"/", filepath.Join(m.Dir, "synced")+"/")
				sameTree(t, src, filepath.Join(root, "synced"))
				out := run(t, "rsync", "-a", "--stats", src+"/", filepath.Join(m.Dir, "synced")+"/")
				if !strings.Contains(out, "Number of regular files transferred: 0") {
					t.Errorf("second rsync -a transferred files:\n%s", out)
				}
			})
			t.Run("sed -i", func(t *testing.T) {
				p := filepath.Join(m.Dir, "sed.txt")
				if err := os.WriteFile(p, []byte("alpha\nbeta\ngamma\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				run(t, "sed", "-i", "s/beta/BETA/", p)
				sameFile(t, filepath.Join(root, "sed.txt"), []byte("alpha\nBETA\ngamma\n"))
				sameFile(t, p, []byte("alpha\nBETA\ngamma\n"))
			})
			t.Run("echo >>", func(t *testing.T) {
				p := filepath.Join(m.Dir, "log.txt")
				sh(t, fmt.Sprintf("echo one > '%s' && echo two >> '%s' && echo three >> '%s'", p, p, p))
				sameFile(t, filepath.Join(root, "log.txt"), []byte("one\ntwo\nthree\n"))
				sameFile(t, p, []byte("one\ntwo\nthree\n"))
			})
			t.Run("dd conv=notrunc", func(t *testing.T) {
				base := make([]byte, 300_000)
				_, _ = rand.Read(base)
				p := filepath.Join(m.Dir, "dd.bin")
				if err := os.WriteFile(p, base, 0o644); err != nil {
					t.Fatal(err)
				}
				patch := bytes.Repeat([]byte{'Z'}, 4096)
				if err := os.WriteFile(filepath.Join(t.TempDir(), "patch"), patch, 0o644); err != nil {
					t.Fatal(err)
				}
				sh(t, fmt.Sprintf("head -c 4096 /dev/zero | tr '\\0' Z | dd of='%s' bs=4096 seek=10 conv=notrunc status=none", p))
				want := append([]byte(nil), base...)
				copy(want[40960:], patch)
				sameFile(t, filepath.Join(root, "dd.bin"), want)
				sameFile(t, p, want)
			})
			t.Run("truncate -s", func(t *testing.T) {
				p := filepath.Join(m.Dir, "tr.bin")
				data := []byte(strings.Repeat("0123456789", 1000))
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				run(t, "truncate", "-s", "1234", p)
				sameFile(t, filepath.Join(root, "tr.bin"), data[:1234])
				run(t, "truncate", "-s", "5000", p)
				sameFile(t, filepath.Join(root, "tr.bin"), append(append([]byte(nil), data[:1234]...), make([]byte, 5000-1234)...))
				if out := strings.TrimSpace(run(t, "stat", "-c", "%s", p)); out != "5000" {
					t.Errorf("stat after truncate: %s", out)
				}
			})
			t.Run("mv directory", func(t *testing.T) {
				makeTree(t, filepath.Join(m.Dir, "mvsrc"), 6)
				want := filepath.Join(t.TempDir(), "want")
				run(t, "cp", "-r", filepath.Join(root, "mvsrc"), want)
				run(t, "mv", filepath.Join(m.Dir, "mvsrc"), filepath.Join(m.Dir, "mvdst"))
				sameTree(t, want, filepath.Join(root, "mvdst"))
				sameTree(t, want, filepath.Join(m.Dir, "mvdst"))
				if _, err := os.Stat(filepath.Join(m.Dir, "mvsrc")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("old name still there: %v", err)
				}
			})
			t.Run("mv over existing file", func(t *testing.T) {
				a, b := filepath.Join(m.Dir, "a.txt"), filepath.Join(m.Dir, "b.txt")
				_ = os.WriteFile(a, []byte("new"), 0o644)
				_ = os.WriteFile(b, []byte("old"), 0o644)
				run(t, "mv", a, b)
				sameFile(t, filepath.Join(root, "b.txt"), []byte("new"))
				sameFile(t, b, []byte("new"))
			})
			t.Run("rm -r", func(t *testing.T) {
				makeTree(t, filepath.Join(m.Dir, "gone"), 10)
				if err := os.Remove(filepath.Join(m.Dir, "gone")); !errors.Is(err, syscall.ENOTEMPTY) {
					t.Errorf("rmdir of a non-empty directory: %v, want ENOTEMPTY", err)
				}
				run(t, "rm", "-r", filepath.Join(m.Dir, "gone"))
				if _, err := os.Stat(filepath.Join(root, "gone")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("server still has it: %v", err)
				}
			})
			t.Run("cp -p keeps times", func(t *testing.T) {
				src := filepath.Join(t.TempDir(), "old.txt")
				_ = os.WriteFile(src, []byte("x"), 0o644)
				run(t, "touch", "-d", "2021-03-04 05:06:07", src)
				run(t, "cp", "-p", src, m.Dir+"/")
				if out := strings.TrimSpace(run(t, "stat", "-c", "%Y", filepath.Join(m.Dir, "old.txt"))); out != strings.TrimSpace(run(t, "stat", "-c", "%Y", src)) {
					t.Errorf("mtime through the mount %s", out)
				}
				if out := strings.TrimSpace(run(t, "date", "-u", "-r", filepath.Join(root, "old.txt"), "+%F %T")); out != strings.TrimSpace(run(t, "date", "-u", "-r", src, "+%F %T")) {
					t.Errorf("server's mtime %s", out)
				}
			})
			t.Run("no upload files left", func(t *testing.T) {
				if out := sh(t, "find '"+root+"' -name '.ftpsfs-upload-*'"); out != "" {
					t.Errorf("temporary upload files left on the server:\n%s", out)
				}
			})
		})
	}
}
