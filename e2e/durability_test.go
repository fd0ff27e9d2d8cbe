package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// writeAndClose writes data to p (which must exist or be creatable) and
// returns the errors of write, fsync and close.
func writeAndClose(p string, data []byte, flags int) (werr, cerr error) {
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		return err, nil
	}
	_, werr = f.Write(data)
	return werr, f.Close()
}

// TestCloseFailsWithoutWritePermission: vsftpd refuses uploads into a
// directory the FTP user cannot write; close() reports EACCES (a new file
// reaches the server only with its content, so creating it cannot fail
// earlier), the server's copy is untouched and no temporary file is left.
func TestCloseFailsWithoutWritePermission(t *testing.T) {
	s, m, root := serveEmpty(t, serverKinds[2]) // vsftpd-explicit
	_ = s
	locked := filepath.Join(root, "locked")
	if err := os.Mkdir(locked, 0o755); err != nil { // owned by root: the FTP user cannot write here
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(locked, "keep.txt"), []byte("original"), 0o666); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(filepath.Join(locked, "keep.txt"), 0o666)

	if werr, cerr := writeAndClose(filepath.Join(m.Dir, "locked", "new.txt"), []byte("new"), os.O_WRONLY|os.O_CREATE); werr != nil || !errors.Is(cerr, syscall.EACCES) {
		t.Errorf("creating a file in a read-only server directory: write %v, close %v; want close to fail with EACCES", werr, cerr)
	}
	werr, cerr := writeAndClose(filepath.Join(m.Dir, "locked", "keep.txt"), []byte("changed"), os.O_WRONLY|os.O_TRUNC)
	if werr != nil || !errors.Is(cerr, syscall.EACCES) {
		t.Errorf("write %v, close %v; want close to fail with EACCES", werr, cerr)
	}
	sameFile(t, filepath.Join(locked, "keep.txt"), []byte("original"))
	if entries, _ := os.ReadDir(locked); len(entries) != 1 {
		t.Errorf("the server directory holds %d entries, want only keep.txt", len(entries))
	}
}

// TestNoSpaceKeepsPreviousCopyAndRetries: a server that answers 552 makes
// fsync and close fail with ENOSPC; the previous content survives, and once
// the server has room again a later fsync saves the same data.
func TestNoSpaceKeepsPreviousCopyAndRetries(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "doc.txt"), []byte("previous content"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{Root: root, RequireReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	m := mountForeground(t, "ftpes://test@"+srv.Addr+"/", []string{"FTPSFS_PASSWORD=secret"},
		"fingerprint="+testserver.FingerprintOption(srv.Opts.Cert.Fingerprint))

	srv.SetFault(testserver.FaultNoSpace)
	f, err := os.OpenFile(filepath.Join(m.Dir, "doc.txt"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new content that does not fit")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("fsync with the server out of space: %v, want ENOSPC", err)
	}
	sameFile(t, filepath.Join(root, "doc.txt"), []byte("previous content"))
	srv.SetFault(testserver.FaultNone)
	if err := f.Sync(); err != nil {
		t.Errorf("fsync once the server has room: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	sameFile(t, filepath.Join(root, "doc.txt"), []byte("new content that does not fit"))

	srv.SetFault(testserver.FaultNoSpace)
	_, cerr := writeAndClose(filepath.Join(m.Dir, "doc.txt"), []byte("again"), os.O_WRONLY|os.O_TRUNC)
	if !errors.Is(cerr, syscall.ENOSPC) {
		t.Errorf("close with the server out of space: %v, want ENOSPC", cerr)
	}
	sameFile(t, filepath.Join(root, "doc.txt"), []byte("new content that does not fit"))
	srv.SetFault(testserver.FaultNone)
	if out, _ := exec.Command("find", root, "-name", ".ftpsfs-upload-*").Output(); len(out) > 0 {
		t.Errorf("temporary upload files left: %s", out)
	}
}

// TestLargeUploadTLS13 sends 100 MiB to vsftpd over TLS 1.3, where a careless
// close of the data connection truncates uploads: the server sends session
// tickets on the data connection, and closing it with them unread makes Linux
// send RST, so vsftpd loses the tail of the upload.
func TestLargeUploadTLS13(t *testing.T) {
	s, m, root := serveEmpty(t, serverKinds[2], "debug") // vsftpd-explicit, TLS 1.3
	src := filepath.Join(t.TempDir(), "big")
	data := make([]byte, 100<<20)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", src, filepath.Join(m.Dir, "big"))
	got, err := os.ReadFile(filepath.Join(root, "big"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("server copy: %d bytes, err %v, equal %v", len(got), err, bytes.Equal(got, data))
	}
	if !strings.Contains(s.Log(), "TLSv1.3") {
		t.Error("vsftpd did not log TLS 1.3")
	}
	// cp writes sequentially from 0: the upload streams while cp writes.
	if !strings.Contains(m.logs.String(), "streamed=true") {
		t.Error("the sequential copy was not uploaded as a stream")
	}
}
