package fusefs

import "io/fs"

// earlyEntry is how an entry from a listing still arriving is shown. Its
// mode is the one its first line gave; a later line for the same name (a
// name holding a line break can forge one, and may come first) makes the
// finished listing keep only what both lines allow. On a mount other local
// users see (allow_other), the kernel grants them access by the mode shown,
// so until the listing has ended such an entry shows its owner's bits only:
// narrower for a moment, never wider than the server's.
func (f *FS) earlyEntry(fi fs.FileInfo) fs.FileInfo {
	if !f.cfg.SharedWithOthers || fi.Mode().Perm()&0o077 == 0 {
		return fi
	}
	return ownerOnly{fi}
}

// ownerOnly is an entry without group and other permission bits; the
// optional facts fusefs asks entries about pass through.
type ownerOnly struct{ fs.FileInfo }

func (o ownerOnly) Mode() fs.FileMode { return o.FileInfo.Mode() &^ 0o077 }

func (o ownerOnly) ModeKnown() bool { return modeKnown(o.FileInfo) }

func (o ownerOnly) PreciseTime() bool { return preciseTime(o.FileInfo) }

func (o ownerOnly) LinkTarget() string {
	if lt, ok := o.FileInfo.(linkTargeter); ok {
		return lt.LinkTarget()
	}
	return ""
}
