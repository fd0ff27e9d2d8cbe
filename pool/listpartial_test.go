package pool

import (
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
)

// collected is an arriving.Sink that keeps what it was offered and not
// withdrawn, and counts withdrawals.
type collected struct {
	entries   map[string]fs.FileInfo
	withdrawn int
}

func newCollected() *collected { return &collected{entries: map[string]fs.FileInfo{}} }

func (c *collected) Arrived(fi fs.FileInfo) { c.entries[fi.Name()] = fi }
func (c *collected) Withdrawn(name string) {
	delete(c.entries, name)
	c.withdrawn++
}

// sameEntry compares every field a lookup answers from.
func sameEntry(a, b fs.FileInfo) bool {
	x, y := a.(*fileInfo), b.(*fileInfo)
	return x.name == y.name && x.size == y.size && x.mode == y.mode && x.mtime.Equal(y.mtime) &&
		x.mtime.Location() == y.mtime.Location() && x.target == y.target && x.precise == y.precise && x.modeKnown == y.modeKnown
}

// checkEarly lists body through the library and checks that every entry
// offered early is the finished listing's entry for its name; it returns
// the entries offered.
func checkEarly(t *testing.T, mlsd bool, body string) map[string]fs.FileInfo {
	t.Helper()
	sink := newCollected()
	final, err := listThroughScriptTo(t, mlsd, []byte(body), sink)
	if err != nil {
		t.Fatalf("listing %q: %v", body, err)
	}
	byName := map[string]fs.FileInfo{}
	for _, fi := range final {
		byName[fi.Name()] = fi
	}
	for name, early := range sink.entries {
		fi, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("%q offered early, not in the finished listing of %q", name, body)
		case !sameEntry(early, fi):
			t.Errorf("%q offered early as %+v, finished listing has %+v (listing %q)", name, early, fi, body)
		}
	}
	return sink.entries
}

// recent is a LIST date in the "Mon DD HH:MM" form for t.
func recent(t time.Time) string { return t.UTC().Format("Jan _2 15:04") }

// earlySeeds are listings beyond the fuzz seeds: the forms vsftpd,
// proftpd and pure-ftpd send, and the traps of the library's parsing.
func earlySeeds() []struct {
	mlsd bool
	body string
} {
	now := time.Now()
	edge := now.AddDate(0, 6, 0) // where the library's year inference turns
	line := func(perm string, size, date, name string) string {
		return fmt.Sprintf("%s    1 1001     1001 %12s %s %s\r\n", perm, size, date, name)
	}
	return []struct {
		mlsd bool
		body string
	}{
		{false, line("-rw-------", "5", recent(now.Add(-time.Hour)), "recent") +
			line("-rw-r--r--", "5", recent(now.AddDate(0, -7, 0)), "last year") +
			line("-rw-r--r--", "5", recent(edge.Add(-time.Hour)), "before the edge") +
			line("-rw-r--r--", "5", recent(edge.Add(time.Hour)), "after the edge") +
			line("-rw-r--r--", "0x10", "Jan 02  2020", "hex size") +
			line("-rw-r--r--", "010", "Jan 02  2020", "octal size") +
			line("-rw-r--r--", "12a", "Jan 02  2020", "bad size") +
			line("-rw-r--r--", "5", "Feb 30  2020", "bad date") +
			line("-rw-r--r--", "5", "Jan 02  20", "short year") +
			line("-rw-r--r--", "5", "Jan 02 2020", " leading space") +
			line("-rwsr-S--T", "5", "Jan 02  2020", "special") +
			line("drwx--x---", "4096", "Jan 02  2020", "dir") +
			line("lrwxrwxrwx", "6", "Jan 02  2020", "link -> target -> more") +
			line("lrwxrwxrwx", "6", "Jan 02  2020", " -> x") +
			"-rw-r--r--+ 1 1001 1001 5 Jan 02  2020 acl\r\n" +
			"-rw-r--r--. 1 1001 1001 5 Jan 02  2020 selinux\r\n" +
			"-rw-r--r-- 0 1001 1001 5 Jan 02  2020 zero links\r\n" +
			"-rw-r--r-- folder 0 1001 5 Jan 02  2020 folder\r\n" +
			"-rw-r--r-- 1 1001 1001 5 Jan 02  2020 cr\r\r\n" +
			"-rw-r--r-- 1 1001 1001 5 Jan 02  2020 unterminated"},
		// A forged line break gives "victim" twice: its first line may be
		// the forged one, so it is withdrawn.
		{false, line("-rw-r--r--", "5", "Jan 02  2020", "a") +
			line("-rwxrwxrwx", "5", "Jan 02  2020", "victim") +
			line("-rw-------", "5", "Jan 02  2020", "victim")},
		// A line only another of the library's parsers takes names "x"
		// first: the finished listing keeps that one.
		{false, "11-23-26  10:12PM                 1234 x\r\n" + line("-rw-------", "5", "Jan 02  2020", "x")},
		{false, "5 y\r\n" + line("-rw-------", "5", "Jan 02  2020", "y")},
		{false, "-rw-r--r-- 0 1001 1001 5 Jan 02 2020 z\r\n" + line("-rw-------", "5", "Jan 02  2020", "z")},
		{false, "-rwxrwxrwz 1 1001 1001 5 Jan 02  2020 w\r\n" + line("-rw-------", "5", "Jan 02  2020", "w")},
		{true, "type=file;size=6;modify=20261123221200;UNIX.mode=0600; a.txt\r\n" +
			"type=dir;modify=20261123221200.123;unix.mode=0711; d\r\n" +
			"Type=Dir;modify=20261123221200; capital\r\n" +
			"type=file;size=0x10;modify=20261123221200; hex\r\n" +
			"type=file;size=1;modify=20261123221200 nosemicolon\r\n" +
			"type=file;size=1; twice\r\ntype=file;size=2;UNIX.mode=0777; twice\r\n" +
			"type=file;size=1; here\r\ntype=cdir;modify=20261123221200; here\r\n" +
			"type=cdir;modify=20261123221200; there\r\ntype=file;size=1; there\r\n"},
	}
}

// TestEarlyEntriesEqualTheListing: an entry offered while the listing
// arrives equals the finished listing's entry for its name, over the fuzz
// seeds and the forms servers send; and plain entries are offered.
func TestEarlyEntriesEqualTheListing(t *testing.T) {
	for _, s := range listSeeds {
		checkEarly(t, s.mlsd, s.body)
	}
	seeds := earlySeeds()
	for _, s := range seeds {
		checkEarly(t, s.mlsd, s.body)
	}
	got := checkEarly(t, false, seeds[0].body)
	for _, name := range []string{"recent", "last year", "hex size", "octal size", "special", "dir", "link", "acl", "after the edge", "before the edge"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%q not offered early", name)
		}
	}
	for _, name := range []string{"bad size", "bad date", "zero links", "folder", "selinux", "unterminated", "cr", "cr\r"} {
		if _, ok := got[name]; ok {
			t.Errorf("%q offered early", name)
		}
	}
	if fi := got["recent"]; fi == nil || fi.Mode() != 0o600 || fi.Size() != 5 {
		t.Errorf("recent offered as %+v, want mode 0600 size 5", fi)
	}
	for i, name := range []string{"victim", "x", "y", "z", "w"} {
		if _, ok := checkEarly(t, false, seeds[1+i].body)[name]; ok {
			t.Errorf("%q offered early although an earlier line gave the name", name)
		}
	}
	mlsd := checkEarly(t, true, seeds[len(seeds)-1].body)
	for _, name := range []string{"a.txt", "d", "capital", "hex", "here"} {
		if _, ok := mlsd[name]; !ok {
			t.Errorf("MLSD %q not offered early", name)
		}
	}
	// "there": the finished listing keeps its cdir line's entry.
	for _, name := range []string{"twice", "nosemicolon", "there"} {
		if _, ok := mlsd[name]; ok {
			t.Errorf("MLSD %q offered early", name)
		}
	}
}

// TestEarlyYearInference: a "Mon DD HH:MM" date gets the library's year,
// and is not offered where the year depends on the exact moment the
// library read the clock (at the six-month edge, across a new year).
func TestEarlyYearInference(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		now, date string
		want      string // "" where it must not be offered
	}{
		{"2026-03-15T10:00:00Z", "Mar 14 09:00", "2026-03-14T09:00:00Z"},
		{"2026-03-15T10:00:00Z", "Sep 15 09:50", "2026-09-15T09:50:00Z"},
		{"2026-03-15T10:00:00Z", "Sep 15 10:10", "2025-09-15T10:10:00Z"},
		{"2026-03-15T10:00:00Z", "Sep 15 10:00", ""},
		{"2026-03-15T10:00:00Z", "Sep 15 09:59", ""},
		{"2027-01-01T00:00:30Z", "Jan 01 00:00", ""},
		{"2027-01-01T00:05:00Z", "Jan 01 00:00", "2027-01-01T00:00:00Z"},
		{"2026-03-15T10:00:00Z", "Feb 30 10:00", ""},
	} {
		p := newEarlyEntries(newCollected(), false)
		p.now = at(c.now)
		got, ok := p.listTime(strings.Fields(c.date))
		switch {
		case c.want == "" && ok:
			t.Errorf("now %s, %q: offered as %v", c.now, c.date, got)
		case c.want != "" && (!ok || !got.Equal(at(c.want))):
			t.Errorf("now %s, %q: %v %v, want %s", c.now, c.date, got, ok, c.want)
		}
	}
}

// TestEarlyEntriesWithdrawn: a name listed a second time is withdrawn.
func TestEarlyEntriesWithdrawn(t *testing.T) {
	sink := newCollected()
	s := newListingSniffer(false, DefaultMaxListing)
	s.early = newEarlyEntries(sink, false)
	s.early.now = time.Now()
	_, _ = s.Write([]byte("-rwxrwxrwx 1 u g 5 Jan 02  2020 victim\r\n"))
	if _, ok := sink.entries["victim"]; !ok {
		t.Fatal("victim not offered after its first line")
	}
	_, _ = s.Write([]byte("-rw------- 1 u g 5 Jan 02  2020 victim\r\n"))
	if _, ok := sink.entries["victim"]; ok || sink.withdrawn == 0 {
		t.Errorf("victim still offered after its second line (%d withdrawals)", sink.withdrawn)
	}
}

func FuzzEarlyEntries(f *testing.F) {
	for _, s := range listSeeds {
		f.Add(s.mlsd, []byte(s.body))
	}
	for _, s := range earlySeeds() {
		f.Add(s.mlsd, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, mlsd bool, body []byte) {
		if strings.Count(string(body), "\n") > 1000 {
			t.Skip("long listings add nothing")
		}
		checkEarly(t, mlsd, string(body))
	})
}

// syncSink is collected for a listing read in another goroutine.
type syncSink struct {
	mu sync.Mutex
	c  *collected
}

func (s *syncSink) Arrived(fi fs.FileInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.Arrived(fi)
}

func (s *syncSink) Withdrawn(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.Withdrawn(name)
}

func (s *syncSink) get(name string) (fs.FileInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, ok := s.c.entries[name]
	return fi, ok
}

// TestListOffersEntriesWhileDripping: Pool.List of a server that drips its
// LIST gives the context's sink each entry as its line arrives, long
// before the listing ends, and the finished listing agrees with every one.
func TestListOffersEntriesWhileDripping(t *testing.T) {
	const n, every = 40, 50 * time.Millisecond
	release := make(chan struct{})
	h := startHostile(t, func(h *hostile) {
		h.list = func(_ string, w net.Conn) error {
			for i := range n {
				if _, err := fmt.Fprintf(w, "-rw-r-----    1 1000     1000 %12d Jan 01  2020 f%d\r\n", 100+i, i); err != nil {
					return err
				}
				if i == 0 {
					<-release // the rest only once the first was seen
				}
				time.Sleep(every)
			}
			return nil
		}
	})
	p := h.pool(func(c *Config) { c.Timeout = 5 * time.Second })
	sink := &syncSink{c: newCollected()}
	type res struct {
		entries []fs.FileInfo
		err     error
	}
	done := make(chan res, 1)
	go func() {
		entries, err := p.List(arriving.WithSink(ctxT(t), sink), "/d")
		done <- res{entries, err}
	}()
	if !waitFor(5*time.Second, func() bool { _, ok := sink.get("f0"); return ok }) {
		close(release)
		t.Fatal("f0 not offered while the listing was held after its line")
	}
	close(release)
	fi, _ := sink.get("f0")
	if fi.Size() != 100 || fi.Mode() != 0o640 {
		t.Errorf("f0 offered as size %d mode %v, want 100 and 0640", fi.Size(), fi.Mode())
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.entries) != n {
		t.Fatalf("%d entries listed, want %d", len(r.entries), n)
	}
	for _, want := range r.entries {
		got, ok := sink.get(want.Name())
		if !ok {
			t.Errorf("%s never offered", want.Name())
		} else if !sameEntry(got, want) {
			t.Errorf("%s offered as %+v, listed as %+v", want.Name(), got, want)
		}
	}
}
