package mountopts

import (
	"strconv"
	"strings"
	"testing"
)

func TestDocs(t *testing.T) {
	docs := Docs()
	groups := map[string]bool{}
	for _, g := range Groups() {
		groups[g.Key] = g.Title != ""
	}
	seen := map[string]bool{}
	for _, d := range docs {
		if !groups[d.Group] {
			t.Errorf("%s: bad group %q", d.Name, d.Group)
		}
		if d.Name == "" || d.Help == "" || strings.ContainsAny(d.Help, "\n") {
			t.Errorf("bad doc %+v", d)
		}
		for _, name := range strings.Split(d.Name, ", ") {
			seen[name] = true
		}
	}
	// Every name the spec promises is documented and parses; x-* is a pattern.
	names := []string{"password_file", "tls", "cafile", "fingerprint", "insecure", "client_cert", "client_key",
		"tls_min", "tls_max", "ro", "rw", "allow_other", "default_permissions", "uid", "gid", "umask",
		"connections", "dir_cache_ttl", "max_listing", "attr_timeout", "entry_timeout", "cache_size", "timeout", "debug",
		"foreground", "log_file", "spool_dir", "metrics", "nosuid", "noatime", "_netdev", "x-*"}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("option %s is not documented", n)
		}
	}
	// Every documented option is known to the parser (none is "unknown").
	for n := range seen {
		if n == "x-*" {
			n = "x-anything"
		}
		_, err := Parse(testURL, []string{n + "=1"}, Env{})
		if err != nil && strings.Contains(err.Error(), "unknown option") {
			t.Errorf("documented option %s is unknown to the parser: %v", n, err)
		}
	}
}

// Every parsing row says how it parses, and value options name their value
// (the man page and the completion rely on Arg).
func TestTableRows(t *testing.T) {
	for _, o := range table {
		kinds := 0
		for _, set := range []bool{o.boolean != nil, o.value != nil, o.doc} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			t.Errorf("%s: want exactly one of boolean, value and doc", o.name)
		}
		if (o.value != nil) != (o.arg != "") {
			t.Errorf("%s: a value option needs arg, and only a value option has one", o.name)
		}
	}
}

// The Default column must say what defaultConfig does.
func TestDocDefaultsMatchConfig(t *testing.T) {
	c := defaultConfig()
	want := map[string]string{
		"connections":   strconv.Itoa(c.Connections),
		"timeout":       c.Timeout.String(),
		"dir_cache_ttl": c.DirCacheTTL.String(),
		"attr_timeout":  c.AttrTimeout.String(),
		"entry_timeout": c.EntryTimeout.String(),
		"cache_size":    formatSize(c.CacheSize),
		"max_listing":   strconv.Itoa(c.MaxListing),
		"prefetch":      strconv.Itoa(c.Prefetch),
		"tls_min":       tlsVersionName(c.TLSMin),
		"tls_max":       tlsVersionName(c.TLSMax),
	}
	for _, d := range Docs() {
		if w, ok := want[d.Name]; ok && d.Default != w {
			t.Errorf("%s: documented default %q, config default %q", d.Name, d.Default, w)
		}
	}
}
