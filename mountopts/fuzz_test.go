package mountopts

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
)

// fuzzSecret is a password the fuzzer is unlikely to type by chance; inputs
// that contain it (even percent-encoded) are not checked for leaks.
const fuzzSecret = "Sekr3tPw"

func containsSecret(input string) bool {
	if strings.Contains(input, fuzzSecret) {
		return true
	}
	dec, err := url.PathUnescape(input)
	if err == nil && strings.Contains(dec, fuzzSecret) {
		return true
	}
	return strings.Contains(strings.ReplaceAll(input, `\`, ""), fuzzSecret)
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if err != nil && (strings.ContainsAny(err.Error(), "\r\n") || err.Error() == "") {
		t.Fatalf("error is not one non-empty line: %q", err.Error())
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"ftps://host", "ftp://alice:pw@host:2121/a/../b", "ftpes://[::1]:21/x%20y",
		"ftps://u:p@ss@h/p,q", "ftps://[fe80::1%25eth0]/", "http://x", "ftps://host/?q#f",
		"ftps://h:0", "ftps://%zz@h", "", "ftps://u:pa/ss@host/", "host:990/a@b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := Parse(raw, nil, Env{})
		checkOneLine(t, err)
		if err == nil {
			// FSName parses back to the same place and carries no password.
			back, err := Parse(c.FSName, nil, Env{})
			if err != nil {
				t.Fatalf("FSName %q of %q does not parse: %v", c.FSName, raw, err)
			}
			if back.PasswordSource == SourceURL {
				t.Fatalf("FSName %q of %q has a password", c.FSName, raw)
			}
			if back.Host != c.Host || back.Port != c.Port || back.User != c.User || back.Root != c.Root || back.TLS != c.TLS {
				t.Fatalf("FSName %q of %q parses to %+v, not %+v", c.FSName, raw, back, c)
			}
		}

		// The same input after a user info holding a known password: the
		// password must not show up in the error, FSName or warnings.
		if containsSecret(raw) {
			return
		}
		withPw := "ftps://u:" + fuzzSecret + "@" + raw
		c, err = Parse(withPw, nil, Env{})
		checkOneLine(t, err)
		if err != nil {
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("error for %q leaks the password: %v", withPw, err)
			}
			return
		}
		dump := fmt.Sprintf("%+v %#v %v", c, c, c.Warnings)
		if strings.Contains(c.FSName, fuzzSecret) || strings.Contains(dump, fuzzSecret) {
			t.Fatalf("config for %q leaks the password: %s", withPw, dump)
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{
		"ro,uid=1000,gid=1000,umask=022", "password_file=/pw", "password_file=/pw644", "password_file=/nope",
		"connections=x", "fingerprint=SHA256:" + strings.Repeat("AB:", 31) + "AB", "x-systemd.automount,_netdev,nofail",
		"tls=none,insecure", `log_file=a\,b`, "password=hunter2", "cache_size=64MiB,dir_cache_ttl=0.5",
		"tls_min=1.3,tls_max=1.2", "noexec=1,nosuid", "metrics=[::1]:9100", "colour",
	} {
		f.Add(s)
	}
	files := fstest.MapFS{
		"pw":            file(fuzzSecret+"File\n", 0o600),
		"pw644":         file(fuzzSecret+"Open\n", 0o644),
		"home/u/.netrc": file("machine host login alice password "+fuzzSecret+"Netrc\n", 0o600),
	}
	env := fakeEnv(map[string]string{"FTPSFS_PASSWORD": fuzzSecret + "Env"}, "/home/u", files)
	f.Fuzz(func(t *testing.T, opts string) {
		c, err := Parse("ftps://alice@host/", []string{opts}, env)
		checkOneLine(t, err)
		leakCheck := !containsSecret(opts)
		if err != nil {
			if leakCheck && strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("error for %q leaks a password: %v", opts, err)
			}
			return
		}
		if c.FSName != fmt.Sprintf("ftps://alice@host:%d/", c.Port) {
			t.Fatalf("FSName %q for %q", c.FSName, opts)
		}
		if !strings.HasPrefix(c.Password.Reveal(), fuzzSecret) {
			t.Fatalf("password %q from %q for %q", c.Password.Reveal(), c.PasswordSource, opts)
		}
		dump := fmt.Sprintf("%+v %#v", c, c)
		if leakCheck && strings.Contains(dump, fuzzSecret) {
			t.Fatalf("config for %q leaks a password: %s", opts, dump)
		}
		if c.Connections < 1 || c.Connections > 64 || c.Timeout <= 0 || c.TLSMin > c.TLSMax || c.CacheSize < 0 {
			t.Fatalf("invalid config accepted for %q: %+v", opts, c)
		}
	})
}
