package mountopts

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// netrcEntry is one "machine" (or the "default") block of a netrc file.
type netrcEntry struct {
	machine   string // "" for default
	isDefault bool
	login     string
	password  string
}

// lookupNetrc finds the password for user@host in $NETRC or ~/.netrc.
// A missing file is not an error; an unreadable or malformed one is, so a
// typo there does not silently turn into a failed login.
func lookupNetrc(env Env, host, user string, hasUser bool) (login, password string, found bool, err error) {
	name := env.getenv("NETRC")
	if name == "" {
		if env.HomeDir == "" {
			return "", "", false, nil
		}
		name = filepath.Join(env.HomeDir, ".netrc")
	}
	data, err := env.readFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("cannot read netrc file %s: %s", quotePath(name), pathErrText(err))
	}
	entries, err := parseNetrc(data)
	if err != nil {
		return "", "", false, fmt.Errorf("netrc file %s: %v", quotePath(name), err)
	}
	e, ok := matchNetrc(entries, host, user, hasUser)
	if !ok {
		return "", "", false, nil
	}
	if e.password != "" && e.login != anonymousUser {
		if err := checkNetrcMode(env, name); err != nil {
			return "", "", false, err
		}
	}
	return e.login, e.password, true, nil
}

// checkNetrcMode refuses a netrc that group or others may read when the
// entry used holds a password, as ftp(1) does (and as password_file= is
// refused): the password in it is no secret.
func checkNetrcMode(env Env, name string) error {
	fi, err := env.stat(name)
	if err != nil {
		return fmt.Errorf("cannot read netrc file %s: %s", quotePath(name), pathErrText(err))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("netrc file %s holds a password and is readable by others (mode %04o): run chmod 600 %s",
			quotePath(name), perm, quotePath(name))
	}
	return nil
}

// matchNetrc picks the first machine entry for host (case-insensitive) whose
// login is the user's, or any entry when the URL names no user (the entry
// then supplies the user too); "default" is tried only after every machine.
// An entry without a login matches any user.
func matchNetrc(entries []netrcEntry, host, user string, hasUser bool) (netrcEntry, bool) {
	matches := func(e netrcEntry) bool {
		return !hasUser || e.login == "" || e.login == user
	}
	for _, e := range entries {
		if !e.isDefault && strings.EqualFold(e.machine, host) && matches(e) {
			return e, true
		}
	}
	for _, e := range entries {
		if e.isDefault && matches(e) {
			return e, true
		}
	}
	return netrcEntry{}, false
}

// parseNetrc reads the tokens machine, default, login, password, account and
// macdef. Tokens are separated by any white space, may be double-quoted with
// backslash escapes (as curl allows), and a '#' starting a line begins a
// comment. Unknown tokens are skipped, as ftp(1) does. Errors give a line
// number only: the file holds passwords.
func parseNetrc(data []byte) ([]netrcEntry, error) {
	lx := &netrcLexer{data: data, line: 1, lineStart: true}
	var entries []netrcEntry
	var cur *netrcEntry
	for {
		tok, line, ok, err := lx.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return entries, nil
		}
		switch tok {
		case "machine":
			name, err := lx.value(tok, line)
			if err != nil {
				return nil, err
			}
			entries = append(entries, netrcEntry{machine: name})
			cur = &entries[len(entries)-1] // re-taken after every append
		case "default":
			entries = append(entries, netrcEntry{isDefault: true})
			cur = &entries[len(entries)-1]
		case "login", "password", "account":
			v, err := lx.value(tok, line)
			if err != nil {
				return nil, err
			}
			if cur == nil {
				continue // outside any entry: nothing to attach it to
			}
			switch tok {
			case "login":
				cur.login = v
			case "password":
				cur.password = v
			}
		case "macdef":
			if _, err := lx.value(tok, line); err != nil {
				return nil, err
			}
			lx.skipMacro()
		}
	}
}

type netrcLexer struct {
	data      []byte
	pos       int
	line      int
	lineStart bool // only white space since the last newline
}

func isNetrcSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next returns the next token and the line it is on.
func (lx *netrcLexer) next() (tok string, line int, ok bool, err error) {
	for lx.pos < len(lx.data) {
		c := lx.data[lx.pos]
		switch {
		case c == '\n':
			lx.line++
			lx.lineStart = true
			lx.pos++
		case isNetrcSpace(c):
			lx.pos++
		case c == '#' && lx.lineStart:
			for lx.pos < len(lx.data) && lx.data[lx.pos] != '\n' {
				lx.pos++
			}
		case c == '"':
			lx.lineStart = false
			return lx.quoted()
		default:
			lx.lineStart = false
			start := lx.pos
			for lx.pos < len(lx.data) && !isNetrcSpace(lx.data[lx.pos]) {
				lx.pos++
			}
			return string(lx.data[start:lx.pos]), lx.line, true, nil
		}
	}
	return "", lx.line, false, nil
}

func (lx *netrcLexer) quoted() (string, int, bool, error) {
	line := lx.line
	var b strings.Builder
	lx.pos++ // opening quote
	for lx.pos < len(lx.data) {
		c := lx.data[lx.pos]
		lx.pos++
		switch c {
		case '"':
			return b.String(), line, true, nil
		case '\\':
			if lx.pos < len(lx.data) {
				c = lx.data[lx.pos]
				lx.pos++
			}
		case '\n':
			lx.line++
		}
		b.WriteByte(c)
	}
	return "", line, false, fmt.Errorf("line %d: unterminated quoted string", line)
}

// value reads the argument of keyword kw.
func (lx *netrcLexer) value(kw string, line int) (string, error) {
	v, _, ok, err := lx.next()
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("line %d: %s needs a value", line, kw)
	}
	return v, nil
}

// skipMacro skips the rest of the macdef line and the macro body, which ends
// at the first empty line.
func (lx *netrcLexer) skipMacro() {
	lineEnd := func() int {
		i := bytes.IndexByte(lx.data[lx.pos:], '\n')
		if i < 0 {
			return len(lx.data)
		}
		return lx.pos + i
	}
	lx.pos = lineEnd() // rest of the "macdef name" line
	for lx.pos < len(lx.data) {
		lx.pos++ // the newline
		lx.line++
		end := lineEnd()
		body := bytes.TrimRight(lx.data[lx.pos:end], "\r")
		lx.pos = end
		if len(body) == 0 {
			break
		}
	}
	lx.lineStart = false
}
