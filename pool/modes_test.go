package pool

import (
	"io/fs"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"github.com/jlaffaye/ftp"
)

func TestPermString(t *testing.T) {
	for _, c := range []struct {
		in   string
		want fs.FileMode
		ok   bool
	}{
		{"rw-r--r--", 0o644, true},
		{"rwxr-x---", 0o750, true},
		{"---------", 0, true},
		{"rwsr-xr-x", 0o755 | fs.ModeSetuid, true},
		{"rwSr--r--", 0o644 | fs.ModeSetuid, true},
		{"rwxr-sr-x", 0o755 | fs.ModeSetgid, true},
		{"rwxr-Sr-x", 0o745 | fs.ModeSetgid, true},
		{"rwxrwxrwt", 0o777 | fs.ModeSticky, true},
		{"rwxrwxrwT", 0o776 | fs.ModeSticky, true},
		{"rwxrwxrws", 0, false}, // s is no sticky bit
		{"rwxrwxrw", 0, false},
		{"xwxrwxrwx", 0, false},
	} {
		got, ok := permString(c.in)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("permString(%q) = %v %v, want %v %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSnifferModesFromLIST(t *testing.T) {
	s := newListingSniffer(false, DefaultMaxListing)
	listing := "drwxr-x---    2 1000 1000  4096 Dec 01 10:00 private dir\r\n" +
		"-rwxr-xr-x    1 1000 1000    20 Dec 01 10:00 run.sh\r\n" +
		"-rw-------+   1 1000 1000    20 Jan 02  2020 acl\r\n" +
		"lrwxrwxrwx    1 1000 1000     3 Dec 01 10:00 link -> run.sh\r\n" +
		"total 12\r\n" +
		"-rw-r----- 1 1000 1000 5 Dec 01 10:00 split"
	// Delivered in pieces that cut lines, as a data connection does.
	for i := 0; i < len(listing); i += 7 {
		_, _ = s.Write([]byte(listing[i:min(i+7, len(listing))]))
	}
	_, _ = s.Write([]byte("\n"))
	want := map[string]fs.FileMode{"private dir": 0o750, "run.sh": 0o755, "acl": 0o600, "link": 0o777, "split": 0o640}
	if !reflect.DeepEqual(s.modes, want) {
		t.Errorf("modes %v, want %v", s.modes, want)
	}
}

func TestSnifferMLSD(t *testing.T) {
	s := newListingSniffer(true, DefaultMaxListing)
	_, _ = s.Write([]byte("type=cdir;modify=20200101000000;UNIX.mode=0755; .\r\n" +
		"Type=cdir;Modify=20200101000000; somedir\r\n" +
		"type=pdir;UNIX.mode=0755; anything\r\n" +
		"type=file;size=3;UNIX.mode=0640; notes.txt\r\n" +
		"type=file;size=3;UNIX.mode=4755; suid\r\n" +
		"type=dir;UNIX.mode=0700; secret\r\n" +
		"type=file;size=3; nomode\r\n"))
	wantModes := map[string]fs.FileMode{"notes.txt": 0o640, "suid": 0o755 | fs.ModeSetuid, "secret": 0o700}
	if !reflect.DeepEqual(s.modes, wantModes) {
		t.Errorf("modes %v, want %v", s.modes, wantModes)
	}
	for _, n := range []string{".", "somedir", "anything"} {
		if !s.notKids[n] {
			t.Errorf("%q (cdir/pdir) would be listed as a child", n)
		}
	}
	entries := []*ftp.Entry{{Name: "somedir", Type: ftp.EntryTypeFolder}, {Name: "anything", Type: ftp.EntryTypeFolder},
		{Name: "secret", Type: ftp.EntryTypeFolder}, {Name: "nomode", Type: ftp.EntryTypeFile}}
	got := convertEntries(entries, s, true)
	if len(got) != 2 || got[0].Name() != "secret" || got[0].Mode() != fs.ModeDir|0o700 || got[1].Mode() != 0o644 {
		t.Errorf("converted %v", got)
	}
}

func FuzzListingSniffer(f *testing.F) {
	f.Add(false, "-rwsr-Sr-T 1 a b 0 Jan 1 2020 x\r\n")
	f.Add(true, "type=file;UNIX.mode=07777; y\r\n")
	f.Add(true, "type=cdir; \r\n")
	f.Fuzz(func(t *testing.T, mlsd bool, in string) {
		s := newListingSniffer(mlsd, DefaultMaxListing)
		_, _ = s.Write([]byte(in))
		for name, m := range s.modes {
			if name == "" || strings.ContainsAny(name, "\r\n") || m&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
				t.Errorf("sniffed %q as %v", name, m)
			}
			if UnixBits(m) > 0o7777 {
				t.Errorf("%v gives bits %o", m, UnixBits(m))
			}
		}
	})
}

// TestRawCommandField fails when a jlaffaye/ftp upgrade moves the control
// connection raw commands go through (see raw.go).
func TestRawCommandField(t *testing.T) {
	if connField == nil {
		t.Fatal("jlaffaye/ftp's ServerConn has no conn *textproto.Conn field: raw commands (SITE CHMOD) cannot work with this version")
	}
	var tp textproto.Conn
	sc := &ftp.ServerConn{}
	*(**textproto.Conn)(unsafePointerToConn(sc)) = &tp
	got, err := libraryConn(sc)
	if err != nil || got != &tp {
		t.Errorf("libraryConn = %p, %v; want the field's value %p", got, err, &tp)
	}
}
