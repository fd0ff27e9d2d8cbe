package pool

import "testing"

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"530 Login incorrect":            "530 Login incorrect",
		"résumé ✓":                       "résumé ✓",
		"\x1b]0;PWNED\x07\x1b[31mred":    `\x1b]0;PWNED\x07\x1b[31mred`,
		"a\nb\rc\td":                     `a\x0ab\x0dc\x09d`,
		"8-bit CSI \u009b2J, raw \x9b2J": `8-bit CSI \u009b2J, raw \x9b2J`,
		"DEL \x7f":                       `DEL \x7f`,
		"bidi \u202eevil":                `bidi \u202eevil`,
		`already \x1b escaped, C:\dir`:   `already \x1b escaped, C:\dir`,
	} {
		got := TerminalSafe(in)
		if got != want {
			t.Errorf("TerminalSafe(%q) = %q, want %q", in, got, want)
		}
		if TerminalSafe(got) != got {
			t.Errorf("Escape is not idempotent on %q", got)
		}
	}
}
