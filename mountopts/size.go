package mountopts

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// sizeSuffixes are all powers of 1024: "1G", "1GB" and "1GiB" mean the same,
// as in rclone and in most people's reading of a cache size.
var sizeSuffixes = []struct {
	suffix string
	shift  uint
}{
	{"k", 10}, {"m", 20}, {"g", 30}, {"t", 40},
}

// parseSize reads "1048576", "512K", "256M", "1G", "64MiB", "2GB" (case-insensitive).
func parseSize(s string) (int64, error) {
	bad := errors.New("want a size such as 256M, 1G, 512K or a number of bytes")
	v := strings.ToLower(s)
	iec := false // "iB" needs a unit letter before it
	switch {
	case strings.HasSuffix(v, "ib"):
		v, iec = strings.TrimSuffix(v, "ib"), true
	case strings.HasSuffix(v, "b"):
		v = strings.TrimSuffix(v, "b")
	}
	unit := uint(0)
	for _, u := range sizeSuffixes {
		if strings.HasSuffix(v, u.suffix) {
			v, unit = strings.TrimSuffix(v, u.suffix), u.shift
			break
		}
	}
	if iec && unit == 0 {
		return 0, bad // "64iB", "64ib"
	}
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, bad
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > math.MaxInt64>>unit {
		return 0, errors.New("size too large")
	}
	return n << unit, nil
}

// formatSize is the inverse for --help defaults: the largest exact unit.
func formatSize(n int64) string {
	for i := len(sizeSuffixes) - 1; i >= 0; i-- {
		u := sizeSuffixes[i]
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + strings.ToUpper(u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}
