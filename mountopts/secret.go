package mountopts

import (
	"fmt"
	"log/slog"
	"strconv"
)

// redacted is what a non-empty Secret prints as.
const redacted = "****"

// Secret holds a password. Every way of printing it (fmt verbs including %#v,
// slog, encoding/json and other text marshalers) shows "****", or "" when it
// is empty, so that a Config can be logged or dumped in a bug report safely.
// Only Reveal returns the password, for the one place that sends it.
type Secret string

// Reveal returns the password itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) redact() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.redact() }

// GoString implements fmt.GoStringer, used by %#v.
func (s Secret) GoString() string { return strconv.Quote(s.redact()) }

// Format implements fmt.Formatter so that no verb (%x, %q, %d...) bypasses
// String and prints the underlying bytes.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprint(f, strconv.Quote(s.redact()))
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.redact())
	default:
		fmt.Fprint(f, s.redact())
	}
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redact()) }

// MarshalText keeps the password out of JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redact()), nil }
