package pool

import (
	"testing"

	"github.com/jlaffaye/ftp"
)

// Another user of the server names a file with a newline so that its LIST
// line carries a second, forged line for the victim's file. jlaffaye's
// parser yields both lines as entries; the pool keeps the first entry
// (the real one) but the sniffer keeps the last mode (the forged one).
func TestForgedListingLineCannotWidenAMode(t *testing.T) {
	listing := "-rw-------    1 1000     1000           16 Jan 01 00:00 secret\r\n" +
		"-rw-r--r--    1 1001     1001            0 Jan 01 00:00 zz\n" +
		"-rwsrwxrwx    1 1000     1000           16 Jan 01 00:00 secret\r\n"
	s := newListingSniffer(false, DefaultMaxListing)
	_, _ = s.Write([]byte(listing))
	entries := []*ftp.Entry{
		{Name: "secret", Type: ftp.EntryTypeFile, Size: 16},
		{Name: "zz", Type: ftp.EntryTypeFile},
		{Name: "secret", Type: ftp.EntryTypeFile, Size: 16},
	}
	for _, fi := range convertEntries(entries, s, false) {
		if fi.Name() == "secret" && fi.Mode().Perm() != 0o600 {
			t.Errorf("the real 0600 file shows %v", fi.Mode())
		}
	}
}
