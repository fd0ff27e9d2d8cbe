package pool

import (
	"bytes"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"
)

// jlaffaye/ftp's Entry carries no permissions, so the pool reads them from
// the listing's own bytes as the data connection delivers them: a
// listingSniffer sees every byte the library's parser sees (same
// connection, same order) and keeps, per name, the mode that LIST's
// permission column ("-rwxr-x---") or MLSD's UNIX.mode fact (proftpd,
// pure-ftpd) gives. It also notes MLSD's cdir and pdir entries, which name
// the directory itself and its parent under any name and are never
// children. No second round trip is needed.
type listingSniffer struct {
	mlsd bool
	cap  listingCap
	// tooLarge is set when the listing was cut at the cap.
	tooLarge error
	partial  []byte
	modes    map[string]fs.FileMode // permission and setuid/setgid/sticky bits
	notKids  map[string]bool        // cdir / pdir names
	kids     map[string]bool        // names listed as real entries
	// twice are names given more than one line of which one had no mode:
	// their mode is unknown.
	twice map[string]bool
	// early offers entries while the listing arrives (listpartial.go); nil
	// when nobody asked for them, or after a line too long for the library.
	early *earlyEntries
}

// maxSniffedLine bounds the memory of one unterminated line; a longer line
// is no listing entry the parser would accept either.
const maxSniffedLine = 64 << 10

func newListingSniffer(mlsd bool, maxEntries int) *listingSniffer {
	return &listingSniffer{mlsd: mlsd, cap: newListingCap(maxEntries), modes: map[string]fs.FileMode{}, notKids: map[string]bool{}, kids: map[string]bool{}, twice: map[string]bool{}}
}

func (s *listingSniffer) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(s.partial)+len(b) <= maxSniffedLine {
				s.partial = append(s.partial, b...)
			} else {
				s.partial = s.partial[:0]
				// The library fails the listing on such a line; what
				// follows it is no line of the listing.
				s.early = nil
			}
			break
		}
		line := b[:i]
		if len(s.partial) > 0 {
			line = append(s.partial, line...)
			s.partial = s.partial[:0]
		}
		raw := string(line)
		name, first := s.line(strings.TrimRight(raw, "\r"))
		if s.early != nil {
			// The library's scanner removes one CR.
			s.early.line(strings.TrimSuffix(raw, "\r"), s, name, first)
		}
		b = b[i+1:]
	}
	return n, nil
}

// line notes one line; it returns the name it noted, and whether the line
// was that name's first ("" and false when it noted none).
func (s *listingSniffer) line(line string) (string, bool) {
	if s.mlsd {
		name, facts, ok := parseMLSDLine(line)
		if !ok {
			return "", false
		}
		if t := facts["type"]; t == "cdir" || t == "pdir" {
			s.notKids[name] = true
			return "", false
		}
		m, ok := octalMode(facts["unix.mode"])
		return name, s.note(name, m, ok)
	}
	if name, m, ok := parseLsMode(line); ok {
		return name, s.note(name, m, true)
	}
	return "", false
}

// note records name's line and reports whether it was the name's first.
func (s *listingSniffer) note(name string, m fs.FileMode, known bool) bool {
	if s.kids[name] {
		if s.early != nil {
			s.early.again(name)
		}
		// A name given twice: one line may be forged by a name holding a
		// line break. Keep only what both allow.
		if old, ok := s.modes[name]; ok && known {
			s.modes[name] = old & m
		} else {
			s.twice[name] = true
		}
		return false
	}
	s.kids[name] = true
	if known {
		s.modes[name] = m
	}
	return true
}

// mode is name's listed mode, if the listing gave one.
func (s *listingSniffer) mode(name string) (fs.FileMode, bool) {
	if s == nil || s.twice[name] {
		return 0, false
	}
	m, ok := s.modes[name]
	return m, ok
}

// isNotKid: name was listed only as the directory itself or its parent.
func (s *listingSniffer) isNotKid(name string) bool {
	return s != nil && s.notKids[name] && !s.kids[name]
}

// parseMLSDLine splits "fact=value;fact=value; name" into the name and the
// facts, keyed in lower case.
func parseMLSDLine(line string) (name string, facts map[string]string, ok bool) {
	sp := strings.IndexByte(line, ' ')
	if sp < 0 || !strings.Contains(line[:sp], "=") {
		return "", nil, false
	}
	facts = map[string]string{}
	for _, f := range strings.Split(strings.TrimSuffix(line[:sp], ";"), ";") {
		k, v, found := strings.Cut(f, "=")
		if !found || k == "" {
			return "", nil, false
		}
		facts[strings.ToLower(k)] = strings.ToLower(v)
	}
	return line[sp+1:], facts, true
}

// octalMode parses UNIX.mode ("0644", "755", "0100644": type bits ignored).
func octalMode(v string) (fs.FileMode, bool) {
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return 0, false
	}
	return unixMode(uint32(n) & 0o7777), true
}

// unixMode converts Unix permission bits (with setuid 04000, setgid 02000,
// sticky 01000) to an fs.FileMode.
func unixMode(bits uint32) fs.FileMode {
	m := fs.FileMode(bits & 0o777)
	if bits&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if bits&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if bits&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// UnixBits is the inverse of unixMode: the bits SITE CHMOD takes.
func UnixBits(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}

// parseLsMode reads an "ls -l" line as vsftpd and most Unix servers send
// it: the permission column and the name, found the way jlaffaye/ftp finds
// it (eight fields, then the rest; a symlink's " -> target" removed).
func parseLsMode(line string) (name string, mode fs.FileMode, ok bool) {
	if len(line) < 11 || line[10] != ' ' && line[10] != '+' && line[10] != '.' && line[10] != '@' {
		return "", 0, false
	}
	m, ok := permString(line[1:10])
	if !ok {
		return "", 0, false
	}
	rest := line
	for range 8 {
		rest = strings.TrimLeft(rest, " ")
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			return "", 0, false
		}
		rest = rest[i:]
	}
	name = strings.TrimLeft(rest, " ")
	if line[0] == 'l' {
		if i := strings.Index(name, " -> "); i > 0 {
			name = name[:i]
		}
	}
	if name == "" {
		return "", 0, false
	}
	return name, m, true
}

// permString parses "rwxr-sr-T": s/t are the special bit with execute, S/T
// without.
func permString(p string) (fs.FileMode, bool) {
	if len(p) != 9 {
		return 0, false
	}
	var bits uint32
	for i := 0; i < 9; i++ {
		c := p[i]
		bit := uint32(1) << (8 - i)
		switch i % 3 {
		case 0:
			if c == 'r' {
				bits |= bit
			} else if c != '-' {
				return 0, false
			}
		case 1:
			if c == 'w' {
				bits |= bit
			} else if c != '-' {
				return 0, false
			}
		case 2:
			special := [3]uint32{0o4000, 0o2000, 0o1000}[i/3]
			lower, upper := byte('s'), byte('S')
			if i == 8 {
				lower, upper = 't', 'T'
			}
			switch c {
			case 'x':
				bits |= bit
			case '-':
			case lower:
				bits |= bit | special
			case upper:
				bits |= special
			default:
				return 0, false
			}
		}
	}
	return unixMode(bits), true
}

// sniffConn feeds what a listing's data connection delivers to a sniffer,
// and cuts the connection once the listing is past max_listing: the read
// fails, so the library stops parsing and reads the server's final reply.
type sniffConn struct {
	net.Conn
	sniff *listingSniffer
}

func (c *sniffConn) Read(b []byte) (int, error) {
	if err := c.sniff.tooLarge; err != nil {
		return 0, err
	}
	if e := c.sniff.early; e != nil && e.now.IsZero() {
		// The library read the clock just before its first read.
		e.now = time.Now()
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		if c.sniff.tooLarge = c.sniff.cap.add(b[:n]); c.sniff.tooLarge != nil {
			_ = c.Conn.Close()
			return 0, c.sniff.tooLarge
		}
		_, _ = c.sniff.Write(b[:n])
	}
	return n, err
}
