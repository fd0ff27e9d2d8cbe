package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// The embedded server lists with MLSD without UNIX.mode, but takes SITE
// CHMOD. Its files are created 0600 here (umask 077, like vsftpd's default
// local_umask). Editing a 0600 file through the mount must not widen it:
// ftpsfs takes the unknown mode for 0644 and SITE CHMODs the replacement.
func TestUnknownModeIsNeverWidened(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := t.TempDir()
	p := filepath.Join(root, "secret")
	if err := os.WriteFile(p, []byte("password=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, m := embeddedWith(t, root, testserver.FaultNone)
	werr, cerr := pwriteClose(filepath.Join(m.Dir, "secret"), []byte("P"), 0)
	if werr != nil || cerr != nil {
		t.Fatal(werr, cerr)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "fresh"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(root, "fresh")); err == nil {
		t.Logf("control: a new file (no chmod sent) gets %04o on this server", st.Mode().Perm())
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("after an edit through the mount the server's 0600 file is %04o", st.Mode().Perm())
	}
}
