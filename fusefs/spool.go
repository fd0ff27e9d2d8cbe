package fusefs

import (
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
)

// spool is the local copy of a file being written. FTP has no random
// writes, so writes land here and the whole file is uploaded on flush,
// fsync or release. The file is unlinked at once: nothing is left behind
// if the process dies, and the data lives as long as the node holds it.
//
// The fields below life are guarded by fileNode.mu.
type spool struct {
	f *os.File
	// life guards f's lifetime: reads of f hold it shared, close holds it
	// exclusively, so a reader never reads a closed file.
	life   sync.RWMutex
	closed bool // under life

	size   int64
	loaded bool       // holds the file's full content (downloaded, or truncated to nothing)
	dirty  bool       // differs from the server's copy
	failed bool       // the last upload failed and nothing changed since
	mtime  *time.Time // set by utimens while dirty; applied after the upload
	wrote  time.Time  // last local change, shown as mtime until uploaded
	fresh  bool       // started empty (create, O_TRUNC) and not uploaded since: may stream
	seq    bool       // fresh, and every write since went to its end (see streamAfter)
	// sentToName: an upload of a file the server never held went straight
	// to its name (see upload), so the server may hold (part of) it even
	// though it is still pending.
	sentToName bool
	stream     *streamUpload

	// writeErr is set when a write into the spool failed (a full disk):
	// its content is then not what the program wrote, and it never
	// replaces the server's copy; every flush reports the error.
	writeErr syscall.Errno

	// existed: the server holds a copy this spool replaces, whose mode
	// (oldMode) the replacement keeps.
	existed      bool
	oldMode      fs.FileMode // only when the listing gave it (oldModeKnown)
	oldModeKnown bool
	// mode, when set, is the mode asked for here (chmod, or the mode a
	// new file was created with), applied with the upload.
	mode *fs.FileMode
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "ftpsfs-spool-")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return &spool{f: f}, nil
}

// readAt reads the spool unless it was closed meanwhile (ok false).
func (s *spool) readAt(b []byte, off int64) (n int, err error, ok bool) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return 0, nil, false
	}
	n, err = s.f.ReadAt(b, off)
	return n, err, true
}

func (s *spool) close() {
	s.life.Lock()
	defer s.life.Unlock()
	s.closed = true
	_ = s.f.Close()
}

// targetMode is the mode the server's copy must have after the upload,
// or false when nothing asks for one (a new file created with the
// server's usual 0644).
func (s *spool) targetMode() (fs.FileMode, bool) {
	if s.mode != nil {
		return *s.mode, true
	}
	if s.existed && s.oldModeKnown {
		return s.oldMode, true
	}
	return 0, false
}
