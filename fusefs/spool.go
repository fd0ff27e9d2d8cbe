package fusefs

import (
	"os"
	"time"
)

// spool is the local copy of a file being written. FTP has no random
// writes, so writes land here and the whole file is uploaded on flush,
// fsync or release. The file is unlinked at once: nothing is left behind
// if the process dies, and the data lives as long as the node holds it.
type spool struct {
	f      *os.File
	size   int64
	loaded bool       // holds the file's full content (downloaded, or truncated to nothing)
	dirty  bool       // differs from the server's copy
	failed bool       // the last upload failed and nothing changed since
	mtime  *time.Time // set by utimens while dirty; applied after the upload
	wrote  time.Time  // last local change, shown as mtime until uploaded
	fresh  bool       // started empty (create, O_TRUNC) and not uploaded since: may stream
	stream *streamUpload
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "ftpsfs-spool-")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return &spool{f: f}, nil
}

func (s *spool) close() {
	_ = s.f.Close()
}
