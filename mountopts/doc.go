// Package mountopts turns what the user typed into a validated Config: the
// ftps:// URL, the -o option lists as mount(8) and fstab pass them, the command
// line itself (ParseArgs), and the password, looked up in a password file, the
// environment, ~/.netrc or the URL.
//
// It owns defaults and every user-facing message about bad input: errors are one
// line, name the offending option or URL part, and never contain a password
// (URLs are printed through RedactURL, passwords live in Secret).
//
// It knows nothing of the network or FUSE, and touches no file except the ones
// holding credentials, read through Env so that tests need no real files. The
// option table in table.go drives the parser, --help, the man page and the
// shell completion (Docs), so they cannot drift apart.
package mountopts
