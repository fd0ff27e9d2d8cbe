package main

import (
	"slices"
	"strings"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// mountCommand is the command line check prints to mount with: the URL
// without any password, every option the user gave (password_file= among
// them: pasting the line must mount), minus those a recommendation
// replaces, plus the recommended ones.
func (c *checker) mountCommand() string {
	var recs []string
	for _, r := range c.recs {
		// "(drop insecure)" and "cafile=PATH" are advice, not options to paste.
		if strings.Contains(r.option, "=") && !strings.HasSuffix(r.option, "=PATH") {
			recs = append(recs, r.option)
		}
	}
	dropped := slices.Clone(c.replaced)
	for _, r := range recs {
		dropped = append(dropped, mountopts.OptionName(r))
	}
	var opts []string
	for _, list := range c.options {
		for _, item := range mountopts.SplitOptions(list) {
			if !slices.Contains(dropped, mountopts.OptionName(item)) {
				opts = append(opts, item)
			}
		}
	}
	opts = append(opts, recs...)
	cmd := "ftpsfs " + shellQuote(c.cfg.FSName) + " MOUNTPOINT"
	if len(opts) > 0 {
		cmd += " -o " + shellQuote(mountopts.JoinOptions(opts))
	}
	if c.cfg.PasswordSource == mountopts.SourceURL {
		cmd += " (and the password in password_file=, not the URL)"
	}
	return cmd
}

// shellQuote leaves words a shell passes unchanged bare and single-quotes
// the rest, so the printed line can be pasted.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-~", r)
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !safe(r) }) && !strings.HasPrefix(s, "~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
