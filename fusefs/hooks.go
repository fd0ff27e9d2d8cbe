package fusefs

import "os"

// Test seams: production never changes them. Tests set them before they
// mount and restore them after unmounting.
var (
	// beforeSpoolRead, when set, runs in readSpool after it found the
	// spool loaded and before it reads it, with no lock held: tests widen
	// that window to let a writer close the spool in it.
	beforeSpoolRead func(*spool)
	// truncateSpool truncates a spool's file; tests make it fail.
	truncateSpool = (*os.File).Truncate
)
