package mountopts

import (
	"crypto/tls"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const testURL = "ftps://alice@files.example.com/pub"

func TestDefaults(t *testing.T) {
	c, err := Parse(testURL, nil, Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Host: "files.example.com", Port: 990, User: "alice", Root: "/pub", TLS: TLSImplicit,
		TLSMin: tls.VersionTLS12, TLSMax: tls.VersionTLS13, Connections: 8, Timeout: 30 * time.Second,
		UID: -1, GID: -1, AttrTimeout: time.Second, EntryTimeout: time.Second,
		DirCacheTTL: 30 * time.Second, CacheSize: 256 << 20, MaxListing: 250000, DirPrefetch: 4, Prefetch: 8,
		FSName: "ftps://alice@files.example.com:990/pub",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		opts  []string
		check func(c *Config) bool
	}{
		{[]string{"connections=8"}, func(c *Config) bool { return c.Connections == 8 }},
		{[]string{"connections=1"}, func(c *Config) bool { return c.Connections == 1 }},
		{[]string{"connections=64"}, func(c *Config) bool { return c.Connections == 64 }},
		{[]string{"connections=2", "connections=3"}, func(c *Config) bool { return c.Connections == 3 }},
		{[]string{"timeout=10"}, func(c *Config) bool { return c.Timeout == 10*time.Second }},
		{[]string{"timeout=1m30s"}, func(c *Config) bool { return c.Timeout == 90*time.Second }},
		{[]string{"max_listing=1000"}, func(c *Config) bool { return c.MaxListing == 1000 }},
		{[]string{"max-listing=2000000"}, func(c *Config) bool { return c.MaxListing == 2000000 }},
		{[]string{"dir_prefetch=0"}, func(c *Config) bool { return c.DirPrefetch == 0 }},
		{[]string{"dir-prefetch=6", "connections=2"}, func(c *Config) bool { return c.DirPrefetch == 6 }},
		{[]string{"connections=6"}, func(c *Config) bool { return c.DirPrefetch == 3 }},
		{[]string{"connections=1"}, func(c *Config) bool { return c.DirPrefetch == 1 }},
		{[]string{"prefetch=0"}, func(c *Config) bool { return c.Prefetch == 0 }},
		{[]string{"prefetch=64"}, func(c *Config) bool { return c.Prefetch == 64 }},
		{[]string{"dir_cache_ttl=0"}, func(c *Config) bool { return c.DirCacheTTL == 0 }},
		{[]string{"dir-cache-ttl=2m"}, func(c *Config) bool { return c.DirCacheTTL == 2*time.Minute }},
		{[]string{"dir_cache_ttl=90"}, func(c *Config) bool { return c.DirCacheTTL == 90*time.Second }},
		{[]string{"dir_cache_ttl=0.5"}, func(c *Config) bool { return c.DirCacheTTL == 500*time.Millisecond }},
		{[]string{"attr_timeout=500ms"}, func(c *Config) bool { return c.AttrTimeout == 500*time.Millisecond }},
		{[]string{"entry-timeout=2"}, func(c *Config) bool { return c.EntryTimeout == 2*time.Second }},
		{[]string{"cache_size=1G"}, func(c *Config) bool { return c.CacheSize == 1<<30 }},
		{[]string{"cache-size=0"}, func(c *Config) bool { return c.CacheSize == 0 }},
		{[]string{"ro"}, func(c *Config) bool { return c.ReadOnly }},
		{[]string{"ro=yes"}, func(c *Config) bool { return c.ReadOnly }},
		{[]string{"ro=no"}, func(c *Config) bool { return !c.ReadOnly }},
		{[]string{"ro=ON"}, func(c *Config) bool { return c.ReadOnly }},
		{[]string{"ro=0"}, func(c *Config) bool { return !c.ReadOnly }},
		{[]string{"ro,rw"}, func(c *Config) bool { return !c.ReadOnly }},
		{[]string{"rw", "ro"}, func(c *Config) bool { return c.ReadOnly }},
		{[]string{"rw=false"}, func(c *Config) bool { return c.ReadOnly }},
		{[]string{"allow_other"}, func(c *Config) bool { return c.AllowOther }},
		{[]string{"allow-other=true"}, func(c *Config) bool { return c.AllowOther }},
		{[]string{"default_permissions"}, func(c *Config) bool { return c.DefaultPermissions }},
		{[]string{"uid=1000,gid=0"}, func(c *Config) bool { return c.UID == 1000 && c.GID == 0 }},
		{[]string{"uid=root,gid=root"}, func(c *Config) bool { return c.UID == 0 && c.GID == 0 }}, // names, as chown takes
		{[]string{"umask=022"}, func(c *Config) bool { return c.Umask == 0o22 && c.UmaskSet }},
		{[]string{"umask=0027"}, func(c *Config) bool { return c.Umask == 0o27 && c.UmaskSet }},
		{[]string{"umask=0"}, func(c *Config) bool { return c.Umask == 0 && c.UmaskSet }},
		{[]string{"tls_min=1.3"}, func(c *Config) bool { return c.TLSMin == tls.VersionTLS13 && c.TLSMax == tls.VersionTLS13 }},
		{[]string{"tls-max=1.2"}, func(c *Config) bool { return c.TLSMin == tls.VersionTLS12 && c.TLSMax == tls.VersionTLS12 }},
		{[]string{"cafile=/etc/ca.pem"}, func(c *Config) bool { return c.CAFile == "/etc/ca.pem" }},
		{[]string{"client_cert=/c.pem"}, func(c *Config) bool { return c.ClientCert == "/c.pem" && c.ClientKey == "" }},
		{[]string{"client_cert=/c.pem,client_key=/k.pem"}, func(c *Config) bool { return c.ClientKey == "/k.pem" }},
		{[]string{"insecure"}, func(c *Config) bool {
			return c.Insecure && containsWarning(c.Warnings, warnInsecure) && !containsWarning(c.Warnings, warnInsecurePin)
		}},
		{[]string{"insecure,fingerprint=" + strings.Repeat("ab", 32)}, func(c *Config) bool {
			return c.Insecure && len(c.Fingerprints) == 1 && containsWarning(c.Warnings, warnInsecurePin)
		}},
		{[]string{"insecure=no"}, func(c *Config) bool { return !c.Insecure && len(c.Warnings) == 0 }},
		{[]string{"debug,foreground"}, func(c *Config) bool { return c.Debug && c.Foreground }},
		{[]string{"log_file=/var/log/ftpsfs.log"}, func(c *Config) bool { return c.LogFile == "/var/log/ftpsfs.log" }},
		{[]string{"metrics=127.0.0.1:9100"}, func(c *Config) bool { return c.Metrics == "127.0.0.1:9100" }},
		{[]string{"metrics=[::1]:0"}, func(c *Config) bool { return c.Metrics == "[::1]:0" }},
		{[]string{"spool_dir=/var/tmp"}, func(c *Config) bool { return c.SpoolDir == "/var/tmp" }},
		{[]string{`log_file=/tmp/a\,b`}, func(c *Config) bool { return c.LogFile == "/tmp/a,b" }},
		{[]string{"log_file=/tmp/a=b"}, func(c *Config) bool { return c.LogFile == "/tmp/a=b" }},
		{[]string{",,ro,,", ""}, func(c *Config) bool { return c.ReadOnly }},
		// mount(8) and fstab noise is ignored
		{[]string{"rw,defaults,auto,noauto,user,nouser,users,owner,group,_netdev,nofail,silent,loud",
			"comment=hello world,x-systemd.automount,x-systemd.mount-timeout=30,x-gvfs-show,fsname=foo,subtype=bar,user=alice"},
			func(c *Config) bool {
				return !c.ReadOnly && len(c.KernelOptions) == 0 && c.FSName == "ftps://alice@files.example.com:990/pub"
			}},
		// kernel flags are collected in order across -o lists
		{[]string{"nosuid,nodev,ro", "noexec,noatime", "atime,relatime,nodiratime,dirsync,sync,async,suid,dev,exec"},
			func(c *Config) bool {
				return c.ReadOnly && reflect.DeepEqual(c.KernelOptions, []string{"nosuid", "nodev", "noexec", "noatime",
					"atime", "relatime", "nodiratime", "dirsync", "sync", "async", "suid", "dev", "exec"})
			}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.opts, " "), func(t *testing.T) {
			c, err := Parse(testURL, tt.opts, Env{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		opt, want string
	}{
		{"colour", `unknown option "colour" (run ftpsfs --help for the list)`},
		{"colour=red", `unknown option "colour"`},
		{"RO", `unknown option "RO"`},
		{"password=hunter2", "password_file= or FTPSFS_PASSWORD"},
		{"connections", "option connections needs a value: connections=N"},
		{"connections=", "option connections needs a value"},
		{"connections=x", `bad value "x" for connections: want a whole number from 1 to 64`},
		{"connections=0", `bad value "0" for connections`},
		{"metrics=9100", `bad value "9100" for metrics: want host:port`},
		{"metrics=host:x", `bad value "host:x" for metrics`},
		{"connections=65", `bad value "65" for connections`},
		{"max_listing=0", `bad value "0" for max_listing: want a whole number from 1 to 100000000`},
		{"dir_prefetch=65", `bad value "65" for dir_prefetch: want a whole number from 0 to 64`},
		{"prefetch=65", `bad value "65" for prefetch: want a whole number from 0 to 64`},
		{"connections=+4", `bad value "+4" for connections`},
		{"connections=4\n", `bad value "4\n" for connections`},
		{"timeout=0", `bad value "0" for timeout: want a duration above zero`},
		{"timeout=-5s", `bad value "-5s" for timeout: a duration cannot be negative`},
		{"dir_cache_ttl=-1", `bad value "-1" for dir_cache_ttl: want a duration`},
		{"dir_cache_ttl=soon", `bad value "soon" for dir_cache_ttl: want a duration such as 30s`},
		{"attr_timeout=1e3", `bad value "1e3" for attr_timeout`},
		{"entry_timeout=.", `bad value "." for entry_timeout`},
		{"entry_timeout=99999999999999999999", `bad value "99999999999999999999" for entry_timeout: duration too large`},
		{"cache_size=lots", `bad value "lots" for cache_size: want a size such as 256M`},
		{"ro=maybe", `bad value "maybe" for ro: want yes or no`},
		{"uid=-1", `bad value "-1" for uid`},
		{"uid=no-such-user-x", `bad value "no-such-user-x" for uid: no such user`},
		{"gid=no-such-group-x", `bad value "no-such-group-x" for gid: no such group`},
		{"gid=4294967295", `bad value "4294967295" for gid`},
		{"umask=8", `bad value "8" for umask: want an octal mask`},
		{"umask=1777", `bad value "1777" for umask`},
		{"tls=ssl", `bad value "ssl" for tls: want implicit, explicit or none`},
		{"tls", "option tls needs a value"},
		{"tls_min=1.1", `bad value "1.1" for tls_min: TLS below 1.2 is not supported`},
		{"tls_max=1.0", `bad value "1.0" for tls_max: TLS below 1.2 is not supported`},
		{"tls_min=2", `bad value "2" for tls_min: want 1.2 or 1.3`},
		{"tls_min=1.3,tls_max=1.2", "tls_min 1.3 is above tls_max 1.2"},
		{"client_key=/k.pem", "client_key needs client_cert"},
		{"tls=none,fingerprint=" + strings.Repeat("ab", 32), "tls=none turns TLS off, so fingerprint= cannot be used"},
		{"cafile=/ca,tls=none", "so cafile= cannot be used"},
		{"fingerprint=xyz", `bad value "xyz" for fingerprint: want SHA256:AB:CD:… (32 colon-separated hex bytes)`},
		{"noexec=1", "option noexec takes no value"},
		{"log_file", "option log_file needs a value"},
		{"password_file", "option password_file needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.opt, func(t *testing.T) {
			_, err := Parse(testURL, []string{"ro", tt.opt}, Env{})
			checkErr(t, err, tt.want, "hunter2")
		})
	}
}

func TestWarnings(t *testing.T) {
	c, err := Parse("ftp://bob:pw@h/", []string{"tls=none,insecure"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{warnURLPassword, warnTLSNone, warnInsecure}
	if !reflect.DeepEqual(c.Warnings, want) {
		t.Errorf("warnings %q, want %q", c.Warnings, want)
	}
	for _, w := range c.Warnings {
		if strings.ContainsAny(w, "\r\n") || strings.Contains(w, "pw@") {
			t.Errorf("bad warning %q", w)
		}
	}
}

func TestSplitOptions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a,b=c,,d,", []string{"a", "b=c", "d"}},
		{`a\,b,c\\d,e\`, []string{"a,b", `c\d`, `e\`}},
	}
	for _, tt := range tests {
		if got := splitOptions(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitOptions(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"500ms", 500 * time.Millisecond, true},
		{"2m", 2 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"30", 30 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"0", 0, true},
		{"-1s", 0, false},
		{"", 0, false},
		{"s", 0, false},
		{"1.2.3", 0, false},
		{"NaN", 0, false},
		{"inf", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestJoinOptionsRoundTrips(t *testing.T) {
	items := []string{"password_file=/a,b", `cafile=C:\x`, "ro"}
	joined := JoinOptions(items)
	if got := SplitOptions(joined); !slices.Equal(got, items) {
		t.Errorf("SplitOptions(JoinOptions(%q)) = %q (joined %q)", items, got, joined)
	}
	if OptionName("tls-max=1.2") != "tls_max" || OptionName("ro") != "ro" {
		t.Error("OptionName does not canonicalise")
	}
}
