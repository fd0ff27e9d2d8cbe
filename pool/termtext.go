package pool

// Text that came from the network, made safe to print on a terminal. A
// server's reply is attacker-controlled: printed raw, an escape sequence in
// it can retitle the terminal, recolour it, or rewrite what is already on
// the screen.

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TerminalSafe shows every control character (C0, DEL, C1), bidirectional
// formatting character and invalid UTF-8 byte in s as a Go-style escape
// (\x1b, \u009b, \u202e) instead of passing it to the terminal. Backslashes
// are left alone, so escaping twice changes nothing.
func TerminalSafe(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
