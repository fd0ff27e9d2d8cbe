package mountopts

import (
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestNetrcLookup(t *testing.T) {
	tests := []struct {
		name     string
		netrc    string
		url      string
		user     string
		password string
		source   string
	}{
		{"single line", "machine host login alice password pw1", "ftps://alice@host/", "alice", "pw1", "netrc"},
		{"multi line", "machine host\n\tlogin alice\n\tpassword pw1\n", "ftps://alice@host/", "alice", "pw1", "netrc"},
		{"login selects entry", "machine host login alice password pa\nmachine host login bob password pb\n",
			"ftps://bob@host/", "bob", "pb", "netrc"},
		{"first entry when URL has no user", "machine host login alice password pa\nmachine host login bob password pb\n",
			"ftps://host/", "alice", "pa", "netrc"},
		{"other host ignored", "machine other login alice password no\n", "ftps://alice@host/", "alice", "", ""},
		{"default when no machine matches", "machine other login alice password no\ndefault login alice password dflt\n",
			"ftps://alice@host/", "alice", "dflt", "netrc"},
		{"machine beats an earlier default", "default login alice password dflt\nmachine host login alice password pm\n",
			"ftps://alice@host/", "alice", "pm", "netrc"},
		{"default supplies user", "default login guest password gpw", "ftps://host/", "guest", "gpw", "netrc"},
		{"default login must match", "default login guest password gpw", "ftps://alice@host/", "alice", "", ""},
		{"entry without login matches any user", "machine host password any", "ftps://carol@host/", "carol", "any", "netrc"},
		{"entry without password", "machine host login alice", "ftps://host/", "alice", "", ""},
		{"host case-insensitive", "machine HOST.Example.com login alice password pw", "ftps://alice@host.example.COM/", "alice", "pw", "netrc"},
		{"IPv6 host", "machine ::1 login alice password pw6", "ftps://alice@[::1]/", "alice", "pw6", "netrc"},
		{"account ignored", "machine host login alice account acct password pw", "ftps://alice@host/", "alice", "pw", "netrc"},
		{"macdef body skipped",
			"macdef init\ncd /pub\nmachine host login alice password wrong\n\nmachine host login alice password right\n",
			"ftps://alice@host/", "alice", "right", "netrc"},
		{"macdef inside an entry", "machine host login alice\nmacdef x\n  password wrong\n\r\n password right\n",
			"ftps://alice@host/", "alice", "right", "netrc"},
		{"macdef at end of file", "machine host login alice password pw\nmacdef x\nbody", "ftps://alice@host/", "alice", "pw", "netrc"},
		{"comment line", "# machine host login alice password wrong\nmachine host login alice password pw\n",
			"ftps://alice@host/", "alice", "pw", "netrc"},
		{"password starting with #", "machine host login alice password #pw", "ftps://alice@host/", "alice", "#pw", "netrc"},
		{"quoted password", `machine host login alice password "a b\"c\\d"`, "ftps://alice@host/", "alice", `a b"c\d`, "netrc"},
		{"CRLF", "machine host\r\nlogin alice\r\npassword pw\r\n", "ftps://alice@host/", "alice", "pw", "netrc"},
		{"unknown token skipped", "machine host port 21 login alice password pw", "ftps://alice@host/", "alice", "pw", "netrc"},
		{"login before any machine", "login x password y\nmachine host login alice password pw", "ftps://alice@host/", "alice", "pw", "netrc"},
		{"empty file", "", "ftps://alice@host/", "alice", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fakeEnv(nil, "/home/u", fstest.MapFS{"home/u/.netrc": file(tt.netrc, 0o600)})
			c, err := Parse(tt.url, nil, env)
			if err != nil {
				t.Fatal(err)
			}
			if c.User != tt.user || c.Password.Reveal() != tt.password || c.PasswordSource != tt.source {
				t.Errorf("got user=%q password=%q source=%q, want %q %q %q",
					c.User, c.Password.Reveal(), c.PasswordSource, tt.user, tt.password, tt.source)
			}
		})
	}
}

func TestNetrcLocation(t *testing.T) {
	files := fstest.MapFS{
		"home/u/.netrc": file("machine host login alice password homepw", 0o600),
		"etc/netrc":     file("machine host login alice password envpw", 0o600),
	}
	c, err := Parse("ftps://alice@host/", nil, fakeEnv(map[string]string{"NETRC": "/etc/netrc"}, "/home/u", files))
	if err != nil || c.Password.Reveal() != "envpw" {
		t.Errorf("$NETRC: %v %q", err, c.Password.Reveal())
	}
	// Missing files are not errors, wherever they were looked for.
	for _, env := range []Env{
		fakeEnv(map[string]string{"NETRC": "/nope"}, "/home/u", files),
		fakeEnv(nil, "/home/other", files),
		fakeEnv(nil, "", files),
	} {
		c, err := Parse("ftps://alice@host/", nil, env)
		if err != nil || c.PasswordSource != "" {
			t.Errorf("missing netrc: %v %q", err, c.PasswordSource)
		}
	}
}

func TestNetrcErrors(t *testing.T) {
	tests := []struct{ netrc, want string }{
		{"machine host login", "netrc file /home/u/.netrc: line 1: login needs a value"},
		{"machine host login alice\npassword", "line 2: password needs a value"},
		{"machine", "line 1: machine needs a value"},
		{"macdef", "line 1: macdef needs a value"},
		{"machine host password \"hunter2", "line 1: unterminated quoted string"},
	}
	for _, tt := range tests {
		env := fakeEnv(nil, "/home/u", fstest.MapFS{"home/u/.netrc": file(tt.netrc, 0o600)})
		_, err := Parse("ftps://alice@host/", nil, env)
		checkErr(t, err, tt.want, "hunter2")
	}

	env := fakeEnv(nil, "/home/u", nil)
	env.ReadFile = func(name string) ([]byte, error) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	_, err := Parse("ftps://alice@host/", nil, env)
	checkErr(t, err, "cannot read netrc file /home/u/.netrc: permission denied")
}

// A netrc that others can read is refused when the entry used holds a
// password (as ftp(1) does), and used when it holds none, or only the
// anonymous e-mail address.
func TestNetrcReadableByOthers(t *testing.T) {
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		env := fakeEnv(nil, "/home/u", fstest.MapFS{"home/u/.netrc": file("machine host login alice password hunter2", mode)})
		_, err := Parse("ftps://alice@host/", nil, env)
		checkErr(t, err, fmt.Sprintf("netrc file /home/u/.netrc holds a password and is readable by others (mode %04o): run chmod 600 /home/u/.netrc", mode), "hunter2")
	}
	for name, netrc := range map[string]string{
		"no password":        "machine host login alice",
		"anonymous":          "machine host login anonymous password me@example.com",
		"other host's entry": "machine other login alice password hunter2",
	} {
		env := fakeEnv(nil, "/home/u", fstest.MapFS{"home/u/.netrc": file(netrc, 0o644)})
		if _, err := Parse("ftps://alice@host/", nil, env); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// $NETRC is held to the same rule.
	env := fakeEnv(map[string]string{"NETRC": "/etc/netrc"}, "/home/u", fstest.MapFS{"etc/netrc": file("default login alice password hunter2", 0o644)})
	_, err := Parse("ftps://alice@host/", nil, env)
	checkErr(t, err, "run chmod 600 /etc/netrc", "hunter2")
}
