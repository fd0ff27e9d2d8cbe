package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// roff escapes text from the option table for a man page: backslashes and
// minus signs (so options copy and paste as ASCII), a leading control
// character, and non-ASCII characters as \[uXXXX], which every formatter reads
// whatever the page's encoding.
func roff(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case i == 0 && (r == '.' || r == '\''):
			b.WriteString(`\&`)
			b.WriteRune(r)
		case r > unicode.MaxASCII:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sentence makes a help text from the table a sentence: a capital first
// letter and a full stop.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:] + "."
}
