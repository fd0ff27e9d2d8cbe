package mountopts

import (
	"crypto/tls"
	"errors"
	"math"
	"net"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// The value parsers return only what was wanted; options.go adds
// `bad value "x" for name:` in front.

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "1", "on":
		return true, nil
	case "no", "false", "0", "off":
		return false, nil
	}
	return false, errors.New("want yes or no (also true/false, 1/0, on/off)")
}

const durationWant = "want a duration such as 30s, 500ms or 2m, or a number of seconds"

// parseDuration reads Go durations and bare numbers of seconds ("30", "0.5"),
// which is what people coming from sshfs and rclone type.
func parseDuration(v string) (time.Duration, error) {
	if v != "" && !strings.ContainsFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, errors.New(durationWant)
		}
		if secs*float64(time.Second) > math.MaxInt64 {
			return 0, errors.New("duration too large")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New(durationWant)
	}
	if d < 0 {
		return 0, errors.New("a duration cannot be negative")
	}
	return d, nil
}

func parseIntRange(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi || v[0] == '+' {
		return 0, errors.New("want a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return n, nil
}

// parseUserID reads uid= as a user name or a number, as chown does.
func parseUserID(v string) (int, error) {
	if isNumber(v) {
		return parseID(v)
	}
	u, err := user.Lookup(v)
	if err != nil {
		return 0, errors.New("no such user (want a user name or a number)")
	}
	return parseID(u.Uid)
}

// parseGroupID reads gid= as a group name or a number.
func parseGroupID(v string) (int, error) {
	if isNumber(v) {
		return parseID(v)
	}
	g, err := user.LookupGroup(v)
	if err != nil {
		return 0, errors.New("no such group (want a group name or a number)")
	}
	return parseID(g.Gid)
}

func isNumber(v string) bool {
	return v != "" && !strings.ContainsFunc(v, func(r rune) bool { return r < '0' || r > '9' })
}

// parseID reads a numeric uid or gid; 4294967295 is (uid_t)-1, "no change".
func parseID(v string) (int, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == math.MaxUint32 {
		return 0, errors.New("want a number from 0 to 4294967294")
	}
	return int(n), nil
}

func parseUmask(v string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(v, "0o"), 8, 32)
	if err != nil || n > 0o777 {
		return 0, errors.New("want an octal mask from 000 to 777, such as 022")
	}
	return uint32(n), nil
}

func parseTLSMode(v string) (TLSMode, error) {
	for _, m := range []TLSMode{TLSImplicit, TLSExplicit, TLSNone} {
		if strings.EqualFold(v, m.String()) {
			return m, nil
		}
	}
	return 0, errors.New("want implicit, explicit or none")
}

func parseTLSVersion(v string) (uint16, error) {
	switch strings.TrimPrefix(strings.ToLower(v), "tls") {
	case "1.2", "12":
		return tls.VersionTLS12, nil
	case "1.3", "13":
		return tls.VersionTLS13, nil
	case "1.0", "1.1", "10", "11", "1":
		return 0, errors.New("TLS below 1.2 is not supported")
	}
	return 0, errors.New("want 1.2 or 1.3")
}

func tlsVersionName(v uint16) string {
	if v == tls.VersionTLS13 {
		return "1.3"
	}
	return "1.2"
}

func parseHostPort(v string) (string, error) {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("want host:port, such as 127.0.0.1:9100")
	}
	if _, err := parseIntRange(port, 0, 65535); err != nil {
		return "", errors.New("want host:port with a port from 0 to 65535")
	}
	return v, nil
}
