package mountopts

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
)

// Password sources, as reported in Config.PasswordSource.
const (
	SourcePasswordFile = "password_file"
	SourceEnv          = "env"
	SourceNetrc        = "netrc"
	SourceURL          = "url"
	SourceAnonymous    = "anonymous"
	// SourcePrompt is set by the command when it asked at the terminal.
	SourcePrompt = "prompt"
)

const (
	anonymousUser     = "anonymous"
	anonymousPassword = "anonymous@" // RFC 1635 asks for an e-mail-like string
	passwordEnvVar    = "FTPSFS_PASSWORD"
)

// resolveCredentials sets User, Password and PasswordSource. The first source
// that has a password wins, in this order: password_file=, $FTPSFS_PASSWORD,
// netrc, the URL. Sources that keep the password out of ps come first.
func resolveCredentials(c *Config, u *parsedURL, passwordFile string, env Env) error {
	c.User = u.user
	pass, source, err := findPassword(c, u, passwordFile, env)
	if err != nil {
		return err
	}
	if strings.ContainsAny(pass, "\r\n\x00") {
		// It would end the PASS command early and inject what follows.
		return fmt.Errorf("the password from %s contains a line break or NUL", describeSource(source))
	}
	if c.User == "" {
		c.User = anonymousUser
		if source == "" {
			pass, source = anonymousPassword, SourceAnonymous
		}
	}
	c.Password, c.PasswordSource = Secret(pass), source
	return nil
}

func findPassword(c *Config, u *parsedURL, passwordFile string, env Env) (pass, source string, err error) {
	if passwordFile != "" {
		p, err := readPasswordFile(expandHome(passwordFile, env.HomeDir), env)
		return p, SourcePasswordFile, err
	}
	if p := env.getenv(passwordEnvVar); p != "" {
		return p, SourceEnv, nil
	}
	login, p, found, err := lookupNetrc(env, c.Host, u.user, u.hasUser)
	if err != nil {
		return "", "", err
	}
	if found {
		if !u.hasUser {
			c.User = login // curl does this: the entry supplies both
		}
		if p != "" {
			return p, SourceNetrc, nil
		}
	}
	if u.hasPassword {
		return u.password, SourceURL, nil
	}
	return "", "", nil
}

func describeSource(s string) string {
	switch s {
	case SourcePasswordFile:
		return "password_file"
	case SourceEnv:
		return "$" + passwordEnvVar
	case SourceNetrc:
		return "the netrc file"
	}
	return "the URL"
}

// readPasswordFile returns the first line of the file, refusing files that
// group or others can access: a password there is no better than one in ps.
func readPasswordFile(name string, env Env) (string, error) {
	fi, err := env.stat(name)
	if err != nil {
		return "", fmt.Errorf("cannot read password file %s: %s", quotePath(name), pathErrText(err))
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("password file %s is not a regular file", quotePath(name))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("password file %s is readable by others (mode %04o): run chmod 600 %s",
			quotePath(name), perm, quotePath(name))
	}
	data, err := env.readFile(name)
	if err != nil {
		return "", fmt.Errorf("cannot read password file %s: %s", quotePath(name), pathErrText(err))
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("password file %s is empty (the password is its first line)", quotePath(name))
	}
	return line, nil
}

// expandHome handles "~/" in option values, which the shell leaves alone
// after "password_file=".
func expandHome(p, home string) string {
	if home != "" && strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// pathErrText drops the operation and path from an *fs.PathError, which the
// caller's message already names.
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return oneLine(err.Error())
}

// quotePath leaves ordinary paths bare, as in "chmod 600 /etc/x", and quotes
// ones with spaces or control characters so the message stays one line.
func quotePath(p string) string {
	if p == "" || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) {
		return strconv.Quote(p)
	}
	return p
}

// oneLine keeps foreign error text from breaking the one-line rule.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}
