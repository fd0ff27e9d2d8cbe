package mountopts

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// parsedURL is the URL split into decoded parts. port is 0 when the URL names
// none, because the default depends on the final TLS mode, known only after
// the options are read.
type parsedURL struct {
	scheme      string // lower case: "ftps", "ftpes" or "ftp"
	mode        TLSMode
	host        string // without brackets
	port        int
	user        string
	hasUser     bool
	password    string
	hasPassword bool
	root        string
}

const urlForm = "ftps://[user@]host[:port][/path]"

// urlError formats a URL problem; the URL is always redacted.
func urlError(raw, problem string) error {
	return fmt.Errorf("bad URL %q: %s", RedactURL(raw), problem)
}

// parseURL is hand-written rather than net/url because net/url's errors quote
// the whole URL, password included, and it accepts queries, fragments and
// schemes we must refuse.
func parseURL(raw string) (*parsedURL, error) {
	if raw == "" {
		return nil, fmt.Errorf("empty URL: want %s", urlForm)
	}
	u := &parsedURL{}
	scheme, rest, ok := strings.Cut(raw, "://")
	switch strings.ToLower(scheme) {
	case "ftps":
		u.mode = TLSImplicit
	case "ftpes", "ftp":
		u.mode = TLSExplicit
	default:
		ok = false
	}
	if !ok {
		return nil, urlError(raw, "scheme must be ftps:// (implicit TLS), ftpes:// or ftp:// (explicit TLS)")
	}
	u.scheme = strings.ToLower(scheme)

	// Refuse rather than silently drop a query or fragment: an unencoded '#'
	// or '?' in a path or password would otherwise truncate it.
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		if rest[i] == '?' {
			return nil, urlError(raw, "a query string (?...) is not supported; write ? in a path as %3F")
		}
		return nil, urlError(raw, "a fragment (#...) is not supported; write # as %23")
	}

	authority, rawPath := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, rawPath = rest[:i], rest[i:]
	}

	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		if err := u.setUserinfo(raw, authority[:i]); err != nil {
			return nil, err
		}
		authority = authority[i+1:]
	}
	if err := u.setHostPort(raw, authority); err != nil {
		return nil, err
	}

	p, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, urlError(raw, "bad percent-encoding in the path")
	}
	if strings.ContainsAny(p, "\r\n\x00") {
		return nil, urlError(raw, "the path contains a line break or NUL")
	}
	u.root = path.Clean("/" + p)
	return u, nil
}

func (u *parsedURL) setUserinfo(raw, userinfo string) error {
	rawUser, rawPass, hasPass := strings.Cut(userinfo, ":")
	user, err := url.PathUnescape(rawUser)
	if err != nil {
		return urlError(raw, "bad percent-encoding in the user name")
	}
	pass, err := url.PathUnescape(rawPass)
	if err != nil {
		return urlError(raw, "bad percent-encoding in the password")
	}
	if strings.ContainsAny(user, "\r\n\x00") {
		return urlError(raw, "the user name contains a line break or NUL")
	}
	if strings.ContainsAny(pass, "\r\n\x00") {
		return urlError(raw, "the password contains a line break or NUL")
	}
	if user == "" {
		if hasPass {
			return urlError(raw, "a password is given without a user name")
		}
		return nil // "ftps://@host" is just an anonymous URL
	}
	u.user, u.hasUser = user, true
	u.password, u.hasPassword = pass, hasPass
	return nil
}

func (u *parsedURL) setHostPort(raw, hostport string) error {
	host, port := hostport, ""
	bracketed := strings.HasPrefix(hostport, "[")
	if bracketed {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return urlError(raw, "missing ] after the IPv6 address")
		}
		host, port = hostport[1:end], hostport[end+1:]
		if port != "" && port[0] != ':' {
			return urlError(raw, "unexpected text after the IPv6 address")
		}
		ip, err := url.PathUnescape(host) // the zone's '%' is written %25
		if err != nil || !validIPv6(ip) {
			return urlError(raw, "bad IPv6 address in brackets")
		}
		host = ip
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i:]
		if strings.Contains(host, ":") {
			return urlError(raw, "an IPv6 address must be in brackets, e.g. ftps://[::1]:990/")
		}
	}
	if host == "" {
		return urlError(raw, "missing host")
	}
	if !bracketed && !validHostname(host) {
		return urlError(raw, "the host name may contain only letters, digits, '.', '-' and '_'")
	}
	u.host = host

	port = strings.TrimPrefix(port, ":")
	if port == "" {
		return nil // "host:" means the default port, as in RFC 3986
	}
	n, err := strconv.Atoi(port)
	if err != nil || len(port) > 5 || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
		return urlError(raw, "the port must be a number from 1 to 65535")
	}
	u.port = n
	return nil
}

func validHostname(h string) bool {
	for _, r := range h {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

func validIPv6(s string) bool {
	addr, zone, hasZone := strings.Cut(s, "%")
	if hasZone && (zone == "" || !validHostname(zone)) {
		return false
	}
	ip := net.ParseIP(addr)
	return ip != nil && strings.Contains(addr, ":")
}

// fsName is the source shown in /proc/mounts. It is escaped so that it parses
// back to the same host, port, user and root, with ',' escaped too because
// the kernel mount option string is comma-separated.
func fsName(scheme, user, host string, port int, root string) string {
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if user != "" && user != anonymousUser {
		b.WriteString(url.User(user).String())
		b.WriteByte('@')
	}
	h := host
	if strings.Contains(h, ":") { // IPv6, possibly with a zone
		h = "[" + strings.ReplaceAll(h, "%", "%25") + "]"
	}
	b.WriteString(h)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(port))
	b.WriteString((&url.URL{Path: root}).EscapedPath())
	return strings.ReplaceAll(b.String(), ",", "%2C")
}

// RedactURL replaces the password in a URL, if any, with "****", for printing
// URLs that may not parse. A password may hold an unencoded '/', '?', '#' or
// '@' that moves the end of the user info, so everything from the first ':'
// to the last '@' is hidden: a '@' in a path makes it redact too much, never
// too little.
func RedactURL(raw string) string {
	prefix, rest := "", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 {
		return raw
	}
	return prefix + rest[:colon+1] + redacted + rest[at:]
}
