package mountopts

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

const fingerprintWant = "want SHA256:AB:CD:… (32 colon-separated hex bytes), 64 hex digits, or base64 as ssh-keygen prints it"

// FormatFingerprint returns the form the program prints and Parse accepts:
// "SHA256:" and 32 upper-case hex bytes separated by ':'.
func FormatFingerprint(fp [32]byte) string {
	var b strings.Builder
	b.Grow(len("SHA256:") + 3*len(fp))
	b.WriteString("SHA256:")
	const digits = "0123456789ABCDEF"
	for i, c := range fp {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&0xf])
	}
	return b.String()
}

// parseFingerprint accepts what people paste from the tools they use: openssl
// prints colon-separated hex, sha256sum plain hex, ssh-keygen unpadded base64;
// the "SHA256:" prefix is optional in any case.
func parseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	v := s
	if len(v) >= 7 && strings.EqualFold(v[:7], "SHA256:") {
		v = v[7:]
	}
	if h, ok := fingerprintHex(v); ok {
		if _, err := hex.Decode(fp[:], []byte(h)); err == nil {
			return fp, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == len(fp) {
			copy(fp[:], b)
			return fp, nil
		}
	}
	return fp, errors.New(fingerprintWant)
}

// fingerprintHex returns the 64 hex digits of v if it is written either
// without separators or as 32 two-digit groups separated by ':'.
func fingerprintHex(v string) (string, bool) {
	if len(v) == 64 {
		return v, true
	}
	if len(v) != 32*3-1 {
		return "", false
	}
	var b strings.Builder
	for i, group := range strings.Split(v, ":") {
		if len(group) != 2 || i >= 32 {
			return "", false
		}
		b.WriteString(group)
	}
	return b.String(), b.Len() == 64
}
