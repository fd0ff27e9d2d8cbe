package mountopts

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestCredentialPrecedence(t *testing.T) {
	const home = "/home/u"
	pwFile := file("filepw\n", 0o600)
	netrc := file("machine host login alice password netrcpw\n", 0o600)
	all := fstest.MapFS{"pw": pwFile, "home/u/.netrc": netrc}
	noNetrc := fstest.MapFS{"pw": pwFile}
	env := map[string]string{"FTPSFS_PASSWORD": "envpw"}

	tests := []struct {
		name     string
		url      string
		opts     []string
		vars     map[string]string
		files    fstest.MapFS
		user     string
		password string
		source   string
	}{
		{"file beats all", "ftps://alice:urlpw@host/", []string{"password_file=/pw"}, env, all, "alice", "filepw", "password_file"},
		{"env beats netrc and URL", "ftps://alice:urlpw@host/", nil, env, all, "alice", "envpw", "env"},
		{"netrc beats URL", "ftps://alice:urlpw@host/", nil, nil, all, "alice", "netrcpw", "netrc"},
		{"URL last", "ftps://alice:urlpw@host/", nil, nil, noNetrc, "alice", "urlpw", "url"},
		{"netrc for another user", "ftps://bob:urlpw@host/", nil, nil, all, "bob", "urlpw", "url"},
		{"user without password", "ftps://alice@host/", nil, nil, noNetrc, "alice", "", ""},
		{"user, netrc for another user", "ftps://bob@host/", nil, nil, all, "bob", "", ""},
		{"anonymous", "ftps://host/", nil, nil, noNetrc, "anonymous", "anonymous@", "anonymous"},
		{"netrc supplies user and password", "ftps://host/", nil, nil, all, "alice", "netrcpw", "netrc"},
		{"netrc host is case-insensitive", "ftps://HOST/", nil, nil, all, "alice", "netrcpw", "netrc"},
		{"no user, password file", "ftps://host/", []string{"password_file=/pw"}, nil, all, "anonymous", "filepw", "password_file"},
		{"no user, env", "ftps://host/", nil, env, noNetrc, "anonymous", "envpw", "env"},
		{"tilde in password_file", "ftps://alice@host/", []string{"password_file=~/pw"}, nil,
			fstest.MapFS{"home/u/pw": file("tilde\n", 0o400)}, "alice", "tilde", "password_file"},
		{"empty env var is no password", "ftps://alice:urlpw@host/", nil, map[string]string{"FTPSFS_PASSWORD": ""}, noNetrc, "alice", "urlpw", "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.url, tt.opts, fakeEnv(tt.vars, home, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			if c.User != tt.user || c.Password.Reveal() != tt.password || c.PasswordSource != tt.source {
				t.Errorf("got user=%q password=%q source=%q, want %q %q %q",
					c.User, c.Password.Reveal(), c.PasswordSource, tt.user, tt.password, tt.source)
			}
			if got := containsWarning(c.Warnings, warnURLPassword); got != (tt.url == "ftps://alice:urlpw@host/" || tt.url == "ftps://bob:urlpw@host/") {
				t.Errorf("URL password warning = %v; warnings %q", got, c.Warnings)
			}
		})
	}
}

func TestPasswordFile(t *testing.T) {
	tests := []struct {
		name, content string
		perm          fs.FileMode
		want          string // password, or error text when wantErr
		wantErr       bool
	}{
		{"plain", "s3cret", 0o600, "s3cret", false},
		{"newline", "s3cret\n", 0o600, "s3cret", false},
		{"crlf and more lines", "s3cret\r\nsecond line\n", 0o400, "s3cret", false},
		{"spaces kept", " s3 cret \n", 0o600, " s3 cret ", false},
		{"owner only bits", "s3cret", 0o700, "s3cret", false},
		{"world readable", "s3cret\n", 0o644, "password file /pw is readable by others (mode 0644): run chmod 600 /pw", true},
		{"group readable", "s3cret\n", 0o640, "(mode 0640)", true},
		{"group writable", "s3cret\n", 0o620, "(mode 0620)", true},
		{"other readable", "s3cret\n", 0o604, "(mode 0604)", true},
		{"empty", "", 0o600, "password file /pw is empty", true},
		{"empty first line", "\ns3cret\n", 0o600, "password file /pw is empty", true},
		{"NUL", "s3\x00cret\n", 0o600, "the password from password_file contains a line break or NUL", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := fakeEnv(map[string]string{"FTPSFS_PASSWORD": "envpw"}, "/home/u",
				fstest.MapFS{"pw": file(tt.content, tt.perm)})
			c, err := Parse("ftps://alice:urlpw@host/", []string{"password_file=/pw"}, env)
			if tt.wantErr {
				checkErr(t, err, tt.want, "s3cret", "s3", "urlpw", "envpw")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Password.Reveal() != tt.want || c.PasswordSource != SourcePasswordFile {
				t.Errorf("got %q from %q", c.Password.Reveal(), c.PasswordSource)
			}
		})
	}
}

func TestPasswordFileErrors(t *testing.T) {
	files := fstest.MapFS{"dir/x": file("x", 0o600)}
	env := fakeEnv(nil, "/home/u", files)
	_, err := Parse("ftps://alice@host/", []string{"password_file=/missing"}, env)
	checkErr(t, err, "cannot read password file /missing: file does not exist")
	_, err = Parse("ftps://alice@host/", []string{"password_file=/dir"}, env)
	checkErr(t, err, "password file /dir is not a regular file")
	_, err = Parse("ftps://alice@host/", []string{"password_file=/my pw\n"}, env)
	checkErr(t, err, `cannot read password file "/my pw\n"`)

	// A read error after a good stat still names the file.
	env.ReadFile = func(string) ([]byte, error) {
		return nil, &fs.PathError{Op: "open", Path: "/pw", Err: fs.ErrPermission}
	}
	env.Stat = func(string) (fs.FileInfo, error) { return fs.Stat(fstest.MapFS{"pw": file("x", 0o600)}, "pw") }
	_, err = Parse("ftps://alice@host/", []string{"password_file=/pw"}, env)
	checkErr(t, err, "cannot read password file /pw: permission denied")
}

func TestEnvPasswordLineBreak(t *testing.T) {
	env := fakeEnv(map[string]string{"FTPSFS_PASSWORD": "hunter2\n"}, "", nil)
	_, err := Parse("ftps://alice@host/", nil, env)
	checkErr(t, err, "the password from $FTPSFS_PASSWORD contains a line break or NUL", "hunter2")
}

func TestZeroEnv(t *testing.T) {
	c, err := Parse("ftps://alice:pw@host/", nil, Env{})
	if err != nil || c.PasswordSource != SourceURL {
		t.Fatalf("Parse with zero Env: %v, %+v", err, c)
	}
	_, err = Parse("ftps://alice@host/", []string{"password_file=/pw"}, Env{})
	checkErr(t, err, "cannot read password file /pw")
}

func TestOSEnv(t *testing.T) {
	e := OSEnv()
	if e.Getenv == nil || e.ReadFile == nil || e.Stat == nil {
		t.Fatal("OSEnv has nil functions")
	}
	if _, err := e.Stat("/"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ReadFile("/nonexistent/ftpsfs"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile: %v", err)
	}
}
