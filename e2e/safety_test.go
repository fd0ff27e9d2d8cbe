package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// Each test here is one promise of the README's "What close() means"
// section: nothing on the server is destroyed, overwritten, widened or
// served stale.

// embeddedWith starts the embedded server over root with fault f and
// mounts it.
func embeddedWith(t *testing.T, root string, f testserver.Fault, opts ...string) (*testserver.Embedded, *mounted) {
	t.Helper()
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	srv.SetFault(f)
	m := mountForeground(t, "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=secret"},
		append([]string{"fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)}, opts...)...)
	return srv, m
}

func noTemporaries(t *testing.T, root string) {
	t.Helper()
	if out, _ := exec.Command("find", root, "-name", ".ftpsfs-upload-*").Output(); len(out) > 0 {
		t.Errorf("temporary upload files left: %s", out)
	}
}

// pwriteClose opens p without O_TRUNC, writes data at off, and returns the
// errors of the write and of close.
func pwriteClose(p string, data []byte, off int64) (werr, cerr error) {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err, nil
	}
	_, werr = f.WriteAt(data, off)
	return werr, f.Close()
}

// TestRefusedRenameKeepsTarget: a server that refuses renames makes close()
// fail, and the file being replaced stays byte for byte.
func TestRefusedRenameKeepsTarget(t *testing.T) {
	original := []byte("quarterly figures, do not lose\n")
	check := func(t *testing.T, dir, root string) {
		werr, cerr := pwriteClose(filepath.Join(dir, "report.txt"), []byte("Q"), 0)
		if werr != nil || cerr == nil {
			t.Errorf("write %v, close %v: want close to fail", werr, cerr)
		}
		sameFile(t, filepath.Join(root, "report.txt"), original)
		noTemporaries(t, root)
	}
	t.Run("vsftpd cmds_denied", func(t *testing.T) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "report.txt"), original, 0o644); err != nil {
			t.Fatal(err)
		}
		v := runVsftpd(t, testserver.VsftpdOptions{Root: root, Extra: map[string]string{"cmds_denied": "RNFR,RNTO"}})
		m := mountForeground(t, "ftpes://"+v.User+"@"+v.Addr+"/", []string{"FTPSFS_PASSWORD=" + v.Password},
			"fingerprint="+testserver.FingerprintOption(v.Cert.Fingerprint))
		check(t, m.Dir, root)
	})
	t.Run("embedded", func(t *testing.T) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "report.txt"), original, 0o644); err != nil {
			t.Fatal(err)
		}
		_, m := embeddedWith(t, root, testserver.FaultDenyRename)
		check(t, m.Dir, root)
	})
}

// TestReplaceOnServerThatRefusesRenamingOverFiles: where RNTO onto an
// existing file is refused, the old copy is moved aside first, never
// deleted before the new one is in place.
func TestReplaceOnServerThatRefusesRenamingOverFiles(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "doc.txt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "b.txt"), []byte("bbb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("aaa"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, m := embeddedWith(t, root, testserver.FaultNoReplaceRename)
	if werr, cerr := writeAndClose(filepath.Join(m.Dir, "doc.txt"), []byte("new content"), os.O_WRONLY|os.O_TRUNC); werr != nil || cerr != nil {
		t.Fatalf("write %v, close %v", werr, cerr)
	}
	sameFile(t, filepath.Join(root, "doc.txt"), []byte("new content"))
	if err := os.Rename(filepath.Join(m.Dir, "a.txt"), filepath.Join(m.Dir, "b.txt")); err != nil {
		t.Fatalf("mv a.txt b.txt: %v", err)
	}
	sameFile(t, filepath.Join(root, "b.txt"), []byte("aaa"))
	if _, err := os.Stat(filepath.Join(root, "a.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a.txt still on the server after mv: %v", err)
	}
	noTemporaries(t, root)
}

// TestRenameOfVanishedSourceKeepsTarget: on stock vsftpd, another client
// deletes a.txt after our listing; mv a.txt b.txt fails with ENOENT and
// b.txt is untouched.
func TestRenameOfVanishedSourceKeepsTarget(t *testing.T) {
	for _, k := range writeKinds {
		t.Run(k.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"a.txt", "b.txt"} {
				if err := os.WriteFile(filepath.Join(root, n), []byte("content of "+n), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := k.start(t, root)
			m := mountForeground(t, s.URL, s.Env, s.Opts...)
			if _, err := os.ReadDir(m.Dir); err != nil { // the listing now says a.txt exists
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(root, "a.txt")); err != nil { // another client
				t.Fatal(err)
			}
			err := os.Rename(filepath.Join(m.Dir, "a.txt"), filepath.Join(m.Dir, "b.txt"))
			if !errors.Is(err, syscall.ENOENT) {
				t.Errorf("mv of a vanished file: %v, want ENOENT", err)
			}
			sameFile(t, filepath.Join(root, "b.txt"), []byte("content of b.txt"))
		})
	}
}

// TestCreateKeepsAnotherClientsFile: a file another client made after our
// listing survives touch, is appended to by >>, and makes O_EXCL fail.
func TestCreateKeepsAnotherClientsFile(t *testing.T) {
	for _, k := range writeKinds {
		t.Run(k.name, func(t *testing.T) {
			s, m, root := serveEmpty(t, k)
			for _, n := range []string{"touched", "appended", "lock"} {
				if _, err := os.Stat(filepath.Join(m.Dir, n)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s before the other client: %v", n, err) // the mount now believes it absent
				}
				s.other(t, root, n, []byte("theirs\n"), 0o644)
			}
			run(t, "touch", filepath.Join(m.Dir, "touched"))
			sameFile(t, filepath.Join(root, "touched"), []byte("theirs\n"))
			sh(t, "echo ours >> '"+filepath.Join(m.Dir, "appended")+"'")
			sameFile(t, filepath.Join(root, "appended"), []byte("theirs\nours\n"))
			f, err := os.OpenFile(filepath.Join(m.Dir, "lock"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, syscall.EEXIST) {
				t.Errorf("O_CREAT|O_EXCL over another client's file: %v, want EEXIST", err)
			}
			sameFile(t, filepath.Join(root, "lock"), []byte("theirs\n"))
		})
	}
}

// TestAppendKeepsAnotherClientsAppend: A writes, B appends with another
// client, A appends: the server holds all three lines in order.
func TestAppendKeepsAnotherClientsAppend(t *testing.T) {
	for _, k := range writeKinds {
		t.Run(k.name, func(t *testing.T) {
			s, m, root := serveEmpty(t, k)
			log := filepath.Join(m.Dir, "log.txt")
			sh(t, "echo line1 > '"+log+"'")
			if got := readFile(t, log); got != "line1\n" { // listed and cached by the mount
				t.Fatalf("read back %q", got)
			}
			s.other(t, root, "log.txt", []byte("line1\nline2\n"), 0o644)
			sh(t, "echo line3 >> '"+log+"'")
			sameFile(t, filepath.Join(root, "log.txt"), []byte("line1\nline2\nline3\n"))

			// pwrite at an offset (no O_APPEND) also starts from what the
			// server has now, not from the listed size.
			s.other(t, root, "log.txt", []byte("line1\nline2\nline3\nline4\n"), 0o644)
			if werr, cerr := pwriteClose(log, []byte("LINE1"), 0); werr != nil || cerr != nil {
				t.Fatalf("write %v, close %v", werr, cerr)
			}
			sameFile(t, filepath.Join(root, "log.txt"), []byte("LINE1\nline2\nline3\nline4\n"))
		})
	}
}

// TestSameSizeSameMinuteChangeSeenAfterTTL: vsftpd's LIST gives minutes, so
// a change that keeps the size within the minute looks the same in the
// listing; after dir_cache_ttl the mount must still serve the new content.
func TestSameSizeSameMinuteChangeSeenAfterTTL(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startVsftpd(t, root, false)
	m := mountForeground(t, s.URL, s.Env, append(s.Opts, "dir_cache_ttl=1s")...)
	for round, content := range []string{"version A\n", "version B\n", "version C\n"} {
		mtime := time.Now().Truncate(time.Minute).Add(time.Duration(round) * time.Second) // same minute, other second
		s.other(t, root, "same.txt", []byte(content), 0o644)
		if err := os.Chtimes(filepath.Join(root, "same.txt"), mtime, mtime); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // the listing expires
		if got := readFile(t, filepath.Join(m.Dir, "same.txt")); got != content {
			t.Errorf("round %d: read %q, want %q", round, got, content)
		}
	}
}

// TestFullSpoolKeepsServerCopy: when the spool runs out of room, cp fails
// and close() reports it; the server's previous copy is untouched.
func TestFullSpoolKeepsServerCopy(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test mounts a small tmpfs for the spool: run it as root")
	}
	spool := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", spool).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", spool).Run() })
	for _, k := range writeKinds {
		t.Run(k.name, func(t *testing.T) {
			s, m, root := serveEmpty(t, k, "spool_dir="+spool)
			old := bytes.Repeat([]byte("previous "), 1000)
			s.other(t, root, "big.txt", old, 0o644)
			src := filepath.Join(t.TempDir(), "src")
			data := make([]byte, 4<<20)
			_, _ = rand.Read(data)
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("cp", src, filepath.Join(m.Dir, "big.txt")).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "No space left") {
				t.Errorf("cp into a full spool: %v %s, want No space left on device", err, out)
			}
			sameFile(t, filepath.Join(root, "big.txt"), old)
			// A second try through the same path reports the same, and never
			// uploads the prefix either.
			werr, cerr := writeAndClose(filepath.Join(m.Dir, "big.txt"), data, os.O_WRONLY|os.O_TRUNC)
			if werr == nil && cerr == nil {
				t.Error("a write that did not fit in the spool was reported saved")
			}
			sameFile(t, filepath.Join(root, "big.txt"), old)
			noTemporaries(t, root)
		})
	}
}

// pidSpace is what ftpsfs names this machine's PID space with in its
// temporaries (see fusefs/leftovers.go): the same boot and PID namespace.
func pidSpace(t *testing.T) string {
	t.Helper()
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(string(boot)) + "\x00" + ns))
	return hex.EncodeToString(sum[:4])
}

// TestKilledUploadTemporaryIsCleaned: kill -9 during an upload leaves its
// temporary on the server; the next mount that lists the directory deletes
// it, while a live uploader's temporary (another mount's, or another
// machine's) survives.
func TestKilledUploadTemporaryIsCleaned(t *testing.T) {
	root := t.TempDir()
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url, env := "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=secret"}
	fp := "fingerprint=" + testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)

	killed := mountAt(t, binary, t.TempDir(), url, env, fp)
	f, err := os.Create(filepath.Join(killed.Dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	var tmp string
	for i := 0; i < 200 && tmp == ""; i++ { // streams to a temporary while written
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if m, _ := filepath.Glob(filepath.Join(root, ".ftpsfs-upload-*")); len(m) > 0 {
			tmp = m[0]
		}
	}
	if tmp == "" {
		t.Fatal("no temporary appeared on the server during a 200 MiB write")
	}
	if err := killed.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, ok := killed.exited(5 * time.Second); !ok {
		t.Fatal("ftpsfs survived kill -9")
	}
	<-killed.done
	killed.done <- nil // killed on purpose
	_ = f.Close()
	_ = exec.Command("fusermount3", "-u", "-z", killed.Dir).Run()

	live := mountAt(t, binary, t.TempDir(), url, env, fp) // another mount, uploading now
	liveTmp := filepath.Join(root, fmt.Sprintf(".ftpsfs-upload-%s-%d-0123456789abcdef", pidSpace(t), live.cmd.Process.Pid))
	foreign := filepath.Join(root, ".ftpsfs-upload-0badf00d-4242-0123456789abcdef")    // another machine's, recent
	oldForeign := filepath.Join(root, ".ftpsfs-upload-0badf00d-4343-fedcba9876543210") // another machine's, two days still
	for _, p := range []string{liveTmp, foreign, oldForeign} {
		if err := os.WriteFile(p, []byte("in progress"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	twoDays := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(oldForeign, twoDays, twoDays); err != nil {
		t.Fatal(err)
	}

	next := mountForeground(t, url, env, fp)
	if _, err := os.ReadDir(next.Dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errKilled := os.Stat(tmp)
		_, errOld := os.Stat(oldForeign)
		if errors.Is(errKilled, os.ErrNotExist) && errors.Is(errOld, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("abandoned temporaries still on the server 10 s after a listing: killed upload %v, old foreign %v", errKilled, errOld)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range []string{liveTmp, foreign} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a live uploader's temporary was deleted: %v", err)
		}
	}
	if entries, _ := os.ReadDir(next.Dir); len(entries) != 0 {
		t.Errorf("the mount shows %d entries, want none (temporaries are hidden)", len(entries))
	}
}

// TestAllowOtherChecksModes: with allow_other, another local user can only
// do what the modes shown allow (default_permissions is implied).
func TestAllowOtherChecksModes(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test mounts with allow_other and acts as another user: run it as root")
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "owned.txt"), []byte("root's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true, ListOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m := mountForeground(t, "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=secret"},
		"fingerprint="+testserver.FingerprintOption(srv.Opts.Cert.Fingerprint), "allow_other", "uid=0", "gid=0")
	_ = os.Chmod(filepath.Dir(m.Dir), 0o755)
	nobody := func(script string) error {
		cmd := exec.Command("sh", "-c", script)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return cmd.Run()
	}
	if err := nobody("cat '" + filepath.Join(m.Dir, "owned.txt") + "' >/dev/null"); err != nil {
		t.Errorf("another user cannot read a 644 file: %v", err)
	}
	if err := nobody("echo theirs > '" + filepath.Join(m.Dir, "owned.txt") + "'"); err == nil {
		t.Error("another user overwrote a -rw-r--r-- root file")
	}
	if err := nobody("rm -f '" + filepath.Join(m.Dir, "owned.txt") + "'"); err == nil {
		if _, serr := os.Stat(filepath.Join(root, "owned.txt")); serr != nil {
			t.Error("another user deleted a file in a root-owned 755 directory")
		}
	}
	sameFile(t, filepath.Join(root, "owned.txt"), []byte("root's\n"))
}
