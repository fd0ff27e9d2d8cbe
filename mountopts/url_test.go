package mountopts

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url      string
		mode     TLSMode
		host     string
		port     int
		user     string
		password string
		root     string
		fsname   string
	}{
		{"ftps://host", TLSImplicit, "host", 990, "anonymous", "anonymous@", "/", "ftps://host:990/"},
		{"ftps://host/", TLSImplicit, "host", 990, "anonymous", "anonymous@", "/", "ftps://host:990/"},
		{"ftps://host/pub/", TLSImplicit, "host", 990, "anonymous", "anonymous@", "/pub", "ftps://host:990/pub"},
		{"ftpes://host", TLSExplicit, "host", 21, "anonymous", "anonymous@", "/", "ftpes://host:21/"},
		{"ftp://host:2121/a/../b//c", TLSExplicit, "host", 2121, "anonymous", "anonymous@", "/b/c", "ftp://host:2121/b/c"},
		{"FTPS://Files.Example.COM", TLSImplicit, "Files.Example.COM", 990, "anonymous", "anonymous@", "/", "ftps://Files.Example.COM:990/"},
		{"ftps://host:/x", TLSImplicit, "host", 990, "anonymous", "anonymous@", "/x", "ftps://host:990/x"},
		{"ftps://host:0990/", TLSImplicit, "host", 990, "anonymous", "anonymous@", "/", "ftps://host:990/"},
		{"ftps://@host", TLSImplicit, "host", 990, "anonymous", "anonymous@", "/", "ftps://host:990/"},
		{"ftps://alice@host/pub", TLSImplicit, "host", 990, "alice", "", "/pub", "ftps://alice@host:990/pub"},
		{"ftps://alice:s3cret@host/pub", TLSImplicit, "host", 990, "alice", "s3cret", "/pub", "ftps://alice@host:990/pub"},
		{"ftps://alice:@host", TLSImplicit, "host", 990, "alice", "", "/", "ftps://alice@host:990/"},
		{"ftps://u:p@ss@host", TLSImplicit, "host", 990, "u", "p@ss", "/", "ftps://u@host:990/"},
		{"ftps://anonymous:me@host", TLSImplicit, "host", 990, "anonymous", "me", "/", "ftps://host:990/"},
		// percent-decoding of user, password and path
		{"ftps://my%20user:p%40ss%3Aw%25rd%23@host/my%20dir/%23x/%25/%C3%A9t%C3%A9",
			TLSImplicit, "host", 990, "my user", "p@ss:w%rd#", "/my dir/#x/%/été",
			"ftps://my%20user@host:990/my%20dir/%23x/%25/%C3%A9t%C3%A9"},
		{"ftps://j%C3%BCrgen@host/été", TLSImplicit, "host", 990, "jürgen", "", "/été", "ftps://j%C3%BCrgen@host:990/%C3%A9t%C3%A9"},
		{"ftps://a%3Ab:pw@host/a%2Fb", TLSImplicit, "host", 990, "a:b", "pw", "/a/b", "ftps://a%3Ab@host:990/a/b"},
		{"ftpes://a,b@h/x,y", TLSExplicit, "h", 21, "a,b", "", "/x,y", "ftpes://a%2Cb@h:21/x%2Cy"},
		{"ftps://host/with space", TLSImplicit, "host", 990, "anonymous", "anonymous@", "/with space", "ftps://host:990/with%20space"},
		// IPv6
		{"ftps://[::1]:2121/x", TLSImplicit, "::1", 2121, "anonymous", "anonymous@", "/x", "ftps://[::1]:2121/x"},
		{"ftpes://bob@[2001:db8::7]/", TLSExplicit, "2001:db8::7", 21, "bob", "", "/", "ftpes://bob@[2001:db8::7]:21/"},
		{"ftps://[fe80::1%25eth0]/", TLSImplicit, "fe80::1%eth0", 990, "anonymous", "anonymous@", "/", "ftps://[fe80::1%25eth0]:990/"},
		{"ftps://1.2.3.4:65535", TLSImplicit, "1.2.3.4", 65535, "anonymous", "anonymous@", "/", "ftps://1.2.3.4:65535/"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := Parse(tt.url, nil, Env{})
			if err != nil {
				t.Fatal(err)
			}
			if c.TLS != tt.mode || c.Host != tt.host || c.Port != tt.port || c.User != tt.user ||
				c.Password.Reveal() != tt.password || c.Root != tt.root || c.FSName != tt.fsname {
				t.Errorf("got mode=%v host=%q port=%d user=%q password=%q root=%q fsname=%q",
					c.TLS, c.Host, c.Port, c.User, c.Password.Reveal(), c.Root, c.FSName)
			}
			if tt.password != "" && tt.password != "anonymous@" && strings.Contains(c.FSName, tt.password) {
				t.Errorf("FSName %q contains the password", c.FSName)
			}
			// FSName must parse back to the same place.
			back, err := Parse(c.FSName, nil, Env{})
			if err != nil {
				t.Fatalf("FSName %q does not parse: %v", c.FSName, err)
			}
			if back.Host != c.Host || back.Port != c.Port || back.User != c.User || back.Root != c.Root || back.TLS != c.TLS {
				t.Errorf("FSName %q parses to %+v", c.FSName, back)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		url, want string
		secrets   []string
	}{
		{"", "empty URL", nil},
		{"http://x", `bad URL "http://x": scheme must be ftps:// (implicit TLS), ftpes:// or ftp:// (explicit TLS)`, nil},
		{"sftp://u:hunter2@x/", `bad URL "sftp://u:****@x/": scheme must be`, []string{"hunter2"}},
		{"host/path", "scheme must be", nil},
		{"u:hunter2@host", `"u:****@host"`, []string{"hunter2"}},
		{"ftps:/host", "scheme must be", nil},
		{"ftps://", "missing host", nil},
		{"ftps:///path", "missing host", nil},
		{"ftps://u:hunter2@/x", "missing host", []string{"hunter2"}},
		{"ftps://:2121/", "missing host", nil},
		{"ftps://host:0", "port must be a number from 1 to 65535", nil},
		{"ftps://host:65536", "port must be", nil},
		{"ftps://host:abc", "port must be", nil},
		{"ftps://host:-1", "port must be", nil},
		{"ftps://host:+21", "port must be", nil},
		{"ftps://host:99999999999999999999", "port must be", nil},
		{"ftps://host/x?y=1", "query string", nil},
		{"ftps://host/?", "query string", nil},
		{"ftps://host/x#frag", "fragment", nil},
		{"ftps://u:pa#ss@host/", "fragment", []string{"pa#ss", "#ss"}},
		{"ftps://u:1234#abcd@host/", "fragment", []string{"1234", "abcd"}},
		{"ftps://u:pa?ss@host/", "query string", []string{"pa?ss"}},
		{"ftps://u:pa/ss@host/", "port must be", []string{"pa/ss", "pa"}},
		{"ftps://a@b:pa/ss@host", "port must be", []string{"pa/ss"}},
		{"ftps://u:hunter2@host:99999/dir", `"ftps://u:****@host:99999/dir"`, []string{"hunter2"}},
		{"ftps://host/a%0Ab", "line break or NUL", nil},
		{"ftps://host/a%0D", "line break or NUL", nil},
		{"ftps://host/a%00b", "line break or NUL", nil},
		{"ftps://host/a\nb", "line break or NUL", nil},
		{"ftps://host/%zz", "bad percent-encoding in the path", nil},
		{"ftps://host/%", "bad percent-encoding in the path", nil},
		{"ftps://u%zz@host/", "bad percent-encoding in the user name", nil},
		{"ftps://u:hunter2%zz@host/", "bad percent-encoding in the password", []string{"hunter2"}},
		{"ftps://u%0A:pw@host", "user name contains a line break", nil},
		{"ftps://u:hunt%0Der2@host", "password contains a line break", []string{"hunt", "er2"}},
		{"ftps://:hunter2@host", "password is given without a user name", []string{"hunter2"}},
		{"ftps://::1/", "IPv6 address must be in brackets", nil},
		{"ftps://fe80::1:21/", "IPv6 address must be in brackets", nil},
		{"ftps://[::1/", "missing ]", nil},
		{"ftps://[::1]x/", "unexpected text after the IPv6 address", nil},
		{"ftps://[1.2.3.4]/", "bad IPv6 address", nil},
		{"ftps://[]/", "bad IPv6 address", nil},
		{"ftps://[fe80::1%25]/", "bad IPv6 address", nil},
		{"ftps://ho st/", "host name may contain only", nil},
		{"ftps://ho%41st/", "host name may contain only", nil},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := Parse(tt.url, nil, Env{})
			checkErr(t, err, tt.want, tt.secrets...)
		})
	}
}

func TestDefaultPortFollowsTLSMode(t *testing.T) {
	tests := []struct {
		url  string
		opt  string
		mode TLSMode
		port int
	}{
		{"ftps://h", "", TLSImplicit, 990},
		{"ftps://h", "tls=explicit", TLSExplicit, 21},
		{"ftps://h", "tls=none", TLSNone, 21},
		{"ftp://h", "", TLSExplicit, 21},
		{"ftp://h", "tls=implicit", TLSImplicit, 990},
		{"ftp://h", "tls=none", TLSNone, 21},
		{"ftpes://h", "tls=Implicit", TLSImplicit, 990},
		{"ftps://h:2121", "tls=explicit", TLSExplicit, 2121},
		{"ftp://h:990", "tls=none", TLSNone, 990},
		{"ftp://h", "tls=none,tls=explicit", TLSExplicit, 21}, // last wins
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.opt, func(t *testing.T) {
			c, err := Parse(tt.url, []string{tt.opt}, Env{})
			if err != nil {
				t.Fatal(err)
			}
			if c.TLS != tt.mode || c.Port != tt.port {
				t.Errorf("got %v port %d, want %v port %d", c.TLS, c.Port, tt.mode, tt.port)
			}
			hasWarn := containsWarning(c.Warnings, warnTLSNone)
			if hasWarn != (tt.mode == TLSNone) {
				t.Errorf("tls=none warning present=%v, warnings %q", hasWarn, c.Warnings)
			}
		})
	}
}

func TestTLSModeString(t *testing.T) {
	for m, want := range map[TLSMode]string{TLSImplicit: "implicit", TLSExplicit: "explicit", TLSNone: "none", 7: "TLSMode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ftps://host/x", "ftps://host/x"},
		{"ftps://alice@host/x", "ftps://alice@host/x"},
		{"ftps://alice:pw@host/x", "ftps://alice:****@host/x"},
		{"ftps://alice:p@w@host/x", "ftps://alice:****@host/x"},
		{"ftps://alice:p/w@host/x", "ftps://alice:****@host/x"},
		{"ftps://host:990/a@b", "ftps://host:****@b"}, // ambiguous: redacts too much, never too little
		{"alice:pw@host", "alice:****@host"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func containsWarning(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}
