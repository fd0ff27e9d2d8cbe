package fusefs

import (
	"io/fs"
	"testing"
	"time"
)

type knownInfo struct{ mode fs.FileMode }

func (k knownInfo) Name() string       { return "f" }
func (k knownInfo) Size() int64        { return 1 }
func (k knownInfo) Mode() fs.FileMode  { return k.mode }
func (k knownInfo) ModTime() time.Time { return time.Time{} }
func (k knownInfo) IsDir() bool        { return k.mode.IsDir() }
func (k knownInfo) Sys() any           { return nil }
func (k knownInfo) ModeKnown() bool    { return true }
func (k knownInfo) PreciseTime() bool  { return true }

// TestEarlyEntryNeverWidensForOthers: on an allow_other mount an entry
// from a listing still arriving (whose line a forged one may precede)
// shows its owner's bits only, keeping what fusefs asks entries about; on
// a private mount it is shown as given.
func TestEarlyEntryNeverWidensForOthers(t *testing.T) {
	wide := knownInfo{mode: fs.ModeDir | 0o777}
	shared := &FS{cfg: Config{SharedWithOthers: true}}
	got := shared.earlyEntry(wide)
	if got.Mode() != fs.ModeDir|0o700 {
		t.Errorf("shared mount shows an early entry as %v, want drwx------", got.Mode())
	}
	if !modeKnown(got) || !preciseTime(got) {
		t.Error("the early entry lost its ModeKnown or PreciseTime")
	}
	private := &FS{cfg: Config{}}
	if got := private.earlyEntry(wide); got.Mode() != wide.mode {
		t.Errorf("private mount shows %v, want %v", got.Mode(), wide.mode)
	}
}
