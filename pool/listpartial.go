package pool

import (
	"strconv"
	"strings"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
	"github.com/jlaffaye/ftp"
)

// earlyEntries offers a listing's entries to an arriving.Sink while the
// listing still arrives, so that a lookup of one name in a directory that
// lists in 15 s need not wait 15 s (LIST servers cannot be asked about one
// name with its mode). An entry is offered only when it is certain to be
// the finished listing's entry for that name, all fields equal: its line
// was parsed here exactly as jlaffaye/ftp parses it (the Unix "ls -l"
// format vsftpd, proftpd and pure-ftpd send, and MLSD; parse.go of the
// library, mirrored rule for rule), it passed the same name rules as
// convertEntries, no earlier line could have given the library the same
// name (the finished listing keeps the first), and the sniffer saw it as
// the name's first line. A later line naming it again withdraws it (the
// finished listing then has no mode for it, or a narrower one). Any line
// not parsed exactly is simply not offered: the lookup waits as before.
//
// It runs in the goroutine reading the listing (sniffConn.Read), like the
// sniffer it belongs to, and needs no lock.
type earlyEntries struct {
	sink arriving.Sink
	mlsd bool
	// now stands for the time the library read at the listing's start to
	// infer the year of "Mon DD HH:MM" dates; see yearSafe.
	now time.Time
	// libNames are the names lines so far could have given the library's
	// parsers (a superset: a line is counted under every parser that might
	// take it), but for the name the sniffer noted for the line: the
	// sniffer's own record of it tells a later line it is not the first.
	libNames map[string]bool
}

// listLocation is the time zone jlaffaye/ftp reads listing times in: UTC,
// since the pool never sets ftp.DialWithLocation.
var listLocation = time.UTC

// maxListStartLag bounds how much earlier than the first read of the data
// connection the library read the clock (the same goroutine, a few
// statements before).
const maxListStartLag = time.Minute

func newEarlyEntries(sink arriving.Sink, mlsd bool) *earlyEntries {
	return &earlyEntries{sink: sink, mlsd: mlsd, libNames: map[string]bool{}}
}

// line considers one line as the library's scanner gives it (its CR
// removed); sniffed is the name the sniffer noted for it, first whether
// that was the name's first line.
func (p *earlyEntries) line(line string, s *listingSniffer, sniffed string, first bool) {
	var e *ftp.Entry
	var names []string
	if p.mlsd {
		e, names = p.parseMLSD(line)
	} else {
		e, names = p.parseList(line)
	}
	before := e != nil && p.libNames[e.Name]
	for _, n := range names {
		// The sniffer tracks the name it noted (a later line of it is not
		// its first); only other names need remembering here, copied so
		// as not to keep the line.
		if n != sniffed || sniffed == "" {
			p.libNames[strings.Clone(n)] = true
		}
	}
	if e == nil || before || !first || e.Name != sniffed || !keepName(e.Name) || s.notKids[e.Name] {
		return
	}
	perm, known := s.mode(e.Name)
	p.sink.Arrived(convertEntry(e, perm, known, p.mlsd))
}

// again: the sniffer saw name a second time. It is withdrawn even if this
// attempt did not offer it: an earlier attempt of a listing started again
// (slowlist.go) may have.
func (p *earlyEntries) again(name string) { p.sink.Withdrawn(name) }

// parseMLSD is the library's parseRFC3659ListLine: the exact entry if it
// accepts the line, and the name it may give the line.
func (p *earlyEntries) parseMLSD(line string) (*ftp.Entry, []string) {
	semi, sp := strings.IndexByte(line, ';'), strings.IndexByte(line, ' ')
	if semi < 0 || semi > sp {
		return nil, nil
	}
	e := &ftp.Entry{Name: line[sp+1:]}
	names := []string{e.Name}
	// The library drops the byte before the space, taking it for the
	// facts' closing ";".
	for _, field := range strings.Split(line[:sp-1], ";") {
		i := strings.IndexByte(field, '=')
		if i < 1 {
			return nil, names
		}
		value := field[i+1:]
		switch strings.ToLower(field[:i]) {
		case "modify":
			t, err := time.ParseInLocation("20060102150405", value, listLocation)
			if err != nil {
				return nil, names
			}
			e.Time = t
		case "type":
			switch value {
			case "dir", "cdir", "pdir":
				e.Type = ftp.EntryTypeFolder
			case "file":
				e.Type = ftp.EntryTypeFile
			}
		case "size":
			n, err := strconv.ParseUint(value, 0, 64)
			if err != nil {
				return nil, names
			}
			e.Size = n
		}
	}
	return e, names
}

// parseList is the library's parseListLine restricted to the Unix format:
// the exact entry for a plain "ls -l" line, and every name any of the
// library's LIST parsers may give the line.
func (p *earlyEntries) parseList(line string) (*ftp.Entry, []string) {
	names := listCandidates(line)
	// Only a line the RFC 3659 parser (tried first) refuses, with a valid
	// permission column (so no ";" before the first space) and none of the
	// link-count-0 variants.
	if len(line) < 11 || !(line[10] == ' ' || line[10] == '+' && len(line) > 11 && line[11] == ' ') {
		return nil, names
	}
	if line[0] != '-' && line[0] != 'd' && line[0] != 'l' {
		return nil, names
	}
	if _, ok := permString(line[1:10]); !ok {
		return nil, names
	}
	sc := &fieldScanner{s: line}
	f := sc.fields(8)
	if len(f) < 8 || f[1] == "0" || f[1] == "folder" && f[2] == "0" {
		return nil, names
	}
	e := &ftp.Entry{Name: sc.rest()}
	switch line[0] {
	case '-':
		e.Type = ftp.EntryTypeFile
		n, err := strconv.ParseUint(f[4], 0, 64)
		if err != nil {
			return nil, names
		}
		e.Size = n
	case 'd':
		e.Type = ftp.EntryTypeFolder
	case 'l':
		e.Type = ftp.EntryTypeLink
		if i := strings.Index(e.Name, " -> "); i > 0 {
			e.Target = e.Name[i+4:]
			e.Name = e.Name[:i]
		}
	}
	t, ok := p.listTime(f[5:8])
	if !ok {
		return nil, names
	}
	e.Time = t
	return e, names
}

// listTime is the library's setTime; ok is false where it fails, or where
// the year it infers could depend on the moment it read the clock.
func (p *earlyEntries) listTime(f []string) (time.Time, bool) {
	if !strings.Contains(f[2], ":") {
		if len(f[2]) != 4 {
			return time.Time{}, false
		}
		t, err := time.ParseInLocation("_2 Jan 2006 15:04", f[1]+" "+f[0]+" "+f[2]+" 00:00", listLocation)
		return t, err == nil
	}
	t, this, err := recentTime(f, p.now)
	if err != nil {
		return time.Time{}, false
	}
	// The library's clock read some moment in [now-lag, now]: offer the
	// entry only if both ends give the same time, far from the six-month
	// edge (the result changes at most at those edges).
	if t2, _, _ := recentTime(f, p.now.Add(-maxListStartLag)); !t2.Equal(t) {
		return time.Time{}, false
	}
	for _, now := range []time.Time{p.now, p.now.Add(-maxListStartLag)} {
		if d := this.Sub(now.AddDate(0, 6, 0)); d > -2*maxListStartLag && d < 2*maxListStartLag {
			return time.Time{}, false
		}
	}
	return t, true
}

// recentTime reads "Mon DD HH:MM" in now's year (this), a year earlier if
// that is six months or more ahead of now, as jlaffaye/ftp does.
func recentTime(f []string, now time.Time) (t, this time.Time, err error) {
	year, _, _ := now.Date()
	this, err = time.ParseInLocation("_2 Jan 2006 15:04", f[1]+" "+f[0]+" "+strconv.Itoa(year)+" "+f[2], listLocation)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	t = this
	if !t.Before(now.AddDate(0, 6, 0)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t, this, nil
}

// listCandidates are the names jlaffaye/ftp's LIST parsers (RFC 3659, ls,
// DOS DIR, hostedftp) may give line: each parser that might take it
// contributes the name it would give.
func listCandidates(line string) []string {
	var names []string
	if semi, sp := strings.IndexByte(line, ';'), strings.IndexByte(line, ' '); semi >= 0 && semi < sp {
		names = append(names, line[sp+1:])
	}
	names = append(names, lsCandidates(line)...)
	if n, ok := dosName(line); ok {
		names = append(names, n)
	}
	if strings.IndexByte(line, ' ') == 10 {
		sc := &fieldScanner{s: line}
		if f := sc.fields(2); len(f) == 2 && f[1] == "0" {
			names = append(names, lsCandidates(f[0]+" 1 "+sc.rest())...)
		}
	}
	return names
}

// lsCandidates are the names the library's parseLsListLine may give.
func lsCandidates(line string) []string {
	if i := strings.IndexByte(line, ' '); i != 10 && (i != 11 || line[10] != '+') {
		return nil
	}
	var names []string
	sc := &fieldScanner{s: line}
	f := sc.fields(6)
	if len(f) < 6 {
		return nil
	}
	if f[1] == "folder" && f[2] == "0" {
		names = append(names, sc.rest())
	}
	if f[1] == "0" {
		sc7 := *sc
		sc7.next()
		names = append(names, sc7.rest())
	}
	if len(sc.fields(2)) == 2 {
		n := sc.rest()
		names = append(names, n)
		if i := strings.Index(n, " -> "); i > 0 {
			names = append(names, n[:i])
		}
	}
	return names
}

// dosName is the name the library's parseDirListLine gives line, if it
// takes it. Its quirk is kept: a line shorter than every date format is
// read without a date.
func dosName(line string) (string, bool) {
	if len(line) > 17 && (line[0] < '0' || line[0] > '9') {
		return "", false // every date format starts with a digit
	}
	var err error
	for _, format := range []string{"01-02-06  03:04PM", "2006-01-02  15:04", "01-02-2006  03:04PM", "01-02-2006  15:04"} {
		if len(line) > len(format) {
			_, err = time.ParseInLocation(format, line[:len(format)], listLocation)
			if err == nil {
				line = line[len(format):]
				break
			}
		}
	}
	if err != nil {
		return "", false
	}
	line = strings.TrimLeft(line, " ")
	if rest, ok := strings.CutPrefix(line, "<DIR>"); ok {
		return strings.TrimLeft(rest, " "), true
	}
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		return "", false
	}
	if _, err := strconv.ParseUint(line[:sp], 10, 64); err != nil {
		return "", false
	}
	return strings.TrimLeft(line[sp:], " "), true
}

// fieldScanner splits fields as jlaffaye/ftp's scanner does: a field ends
// at one space, which it consumes; runs of spaces before a field are
// skipped; the rest starts right after the last field's space.
type fieldScanner struct {
	s   string
	pos int
}

func (sc *fieldScanner) next() string {
	for sc.pos < len(sc.s) && sc.s[sc.pos] == ' ' {
		sc.pos++
	}
	start := sc.pos
	for sc.pos < len(sc.s) {
		if sc.s[sc.pos] == ' ' {
			sc.pos++
			return sc.s[start : sc.pos-1]
		}
		sc.pos++
	}
	return sc.s[start:]
}

// fields returns up to n fields, stopping at the first empty one.
func (sc *fieldScanner) fields(n int) []string {
	var out []string
	for range n {
		f := sc.next()
		if f == "" {
			break
		}
		out = append(out, f)
	}
	return out
}

func (sc *fieldScanner) rest() string { return sc.s[sc.pos:] }
