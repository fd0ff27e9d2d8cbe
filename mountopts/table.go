package mountopts

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// OptionDoc describes one option for --help, the man page and the shell
// completion (cmd/ftpsfs-gendoc).
type OptionDoc struct {
	Name    string // "connections"; several names joined by ", " for flag groups
	Arg     string // placeholder for the value, "" for booleans and flags
	Default string // "" when there is none or it is off
	Group   string // "connection", "tls", "cache", "fuse" or "process"
	Help    string
}

// Group is one section of the options in --help and the man page.
type Group struct {
	Key   string // OptionDoc.Group
	Title string // "TLS"
}

var groups = []Group{
	{"connection", "Connection"},
	{"tls", "TLS"},
	{"cache", "Cache"},
	{"fuse", "FUSE"},
	{"process", "Process"},
}

// Groups lists the option groups in the order --help and the man page show them.
func Groups() []Group { return slices.Clone(groups) }

// option is one row of the table that drives both the parser and Docs.
// Exactly one of boolean, value or doc is set: boolean options take a bare
// name or =yes/no, value options need a value, doc rows only describe names
// handled by the lists below.
type option struct {
	name, arg, def, group, help string
	boolean                     func(st *state, on bool)
	value                       func(st *state, v string) error
	doc                         bool
}

// kernelFlags are passed through to the kernel mount, in the order given.
var kernelFlags = []string{
	"nosuid", "nodev", "noexec", "suid", "dev", "exec",
	"noatime", "atime", "relatime", "nodiratime", "dirsync", "sync", "async",
}

// ignoredOptions are mount(8)/fstab options that reach a mount helper and mean
// nothing to ftpsfs. Any "x-..." option is ignored too (x-systemd.*, x-gvfs-*).
// fsname and subtype are ignored because ftpsfs sets them itself.
var ignoredOptions = []string{
	"defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group",
	"_netdev", "nofail", "silent", "loud", "comment", "fsname", "subtype",
}

var table = []option{
	// connection
	{name: "tls", arg: "implicit|explicit|none", def: "from the URL", group: "connection",
		help: "how to secure the connection; overrides the scheme (ftps:// implicit, ftpes:// and ftp:// explicit); none is plain FTP",
		value: func(st *state, v string) (err error) {
			st.cfg.TLS, err = parseTLSMode(v)
			return err
		}},
	{name: "password_file", arg: "PATH", group: "connection",
		help:  "read the password from the first line of PATH, which must not be readable by others",
		value: func(st *state, v string) error { st.passwordFile = v; return nil }},
	{name: "connections", arg: "N", def: "8", group: "connection",
		help: "control connections to the server, 1 to 64",
		value: func(st *state, v string) (err error) {
			st.cfg.Connections, err = parseIntRange(v, 1, 64)
			return err
		}},
	{name: "timeout", arg: "DURATION", def: "30s", group: "connection",
		help: "deadline for any one remote operation; then the call fails and the mount stays usable",
		value: func(st *state, v string) error {
			d, err := parseDuration(v)
			if err == nil && d == 0 {
				err = errors.New("want a duration above zero, such as 30s")
			}
			st.cfg.Timeout = d
			return err
		}},

	// tls
	{name: "cafile", arg: "PATH", def: "system roots", group: "tls",
		help:  "trust the CA certificates in PATH (PEM) instead of the system's",
		value: func(st *state, v string) error { st.cfg.CAFile = v; st.needsTLS("cafile"); return nil }},
	{name: "fingerprint", arg: "SHA256:AB:CD:…", group: "tls",
		help: "accept only a server certificate with this SHA-256 fingerprint; repeat for several",
		value: func(st *state, v string) error {
			fp, err := parseFingerprint(v)
			if err != nil {
				return err
			}
			st.cfg.Fingerprints = append(st.cfg.Fingerprints, fp)
			st.needsTLS("fingerprint")
			return nil
		}},
	{name: "insecure", group: "tls",
		help:    "do not verify the server certificate at all (fingerprint= is then not checked either)",
		boolean: func(st *state, on bool) { st.cfg.Insecure = on }},
	{name: "client_cert", arg: "PATH", group: "tls",
		help:  "present the client certificate in PATH (PEM, may also hold the key)",
		value: func(st *state, v string) error { st.cfg.ClientCert = v; st.needsTLS("client_cert"); return nil }},
	{name: "client_key", arg: "PATH", group: "tls",
		help:  "private key for client_cert when it is not in the same file",
		value: func(st *state, v string) error { st.cfg.ClientKey = v; st.needsTLS("client_key"); return nil }},
	{name: "tls_min", arg: "1.2|1.3", def: "1.2", group: "tls",
		help: "lowest TLS version to accept",
		value: func(st *state, v string) (err error) {
			st.cfg.TLSMin, err = parseTLSVersion(v)
			return err
		}},
	{name: "tls_max", arg: "1.2|1.3", def: "1.3", group: "tls",
		help: "highest TLS version to offer",
		value: func(st *state, v string) (err error) {
			st.cfg.TLSMax, err = parseTLSVersion(v)
			return err
		}},

	// cache
	{name: "dir_cache_ttl", arg: "DURATION", def: "30s", group: "cache",
		help:  "how long directory listings are reused; 0 disables the listing cache",
		value: durationSetter(func(c *Config) *time.Duration { return &c.DirCacheTTL })},
	{name: "max_listing", arg: "N", def: "250000", group: "cache",
		help: "most entries one directory may list (about 1 KiB of memory each while listed); a larger directory fails with EFBIG",
		value: func(st *state, v string) (err error) {
			st.cfg.MaxListing, err = parseIntRange(v, 1, 100_000_000)
			return err
		}},
	{name: "dir_prefetch", arg: "N", def: "connections/2", group: "cache",
		help: "listings of subdirectories fetched ahead of a tree walk at once, on otherwise idle connections; 0 turns it off",
		value: func(st *state, v string) (err error) {
			st.cfg.DirPrefetch, err = parseIntRange(v, 0, 64)
			return err
		}},
	{name: "prefetch", arg: "N", def: "8", group: "cache",
		help: "small files fetched ahead while a directory's files are read in listing order, up to 64; 0 turns it off",
		value: func(st *state, v string) (err error) {
			st.cfg.Prefetch, err = parseIntRange(v, 0, 64)
			return err
		}},
	{name: "attr_timeout", arg: "DURATION", def: "1s", group: "cache",
		help:  "how long the kernel caches file attributes",
		value: durationSetter(func(c *Config) *time.Duration { return &c.AttrTimeout })},
	{name: "entry_timeout", arg: "DURATION", def: "1s", group: "cache",
		help:  "how long the kernel caches name lookups",
		value: durationSetter(func(c *Config) *time.Duration { return &c.EntryTimeout })},
	{name: "cache_size", arg: "SIZE", def: "256M", group: "cache",
		help: "memory for cached file contents, such as 512M or 1G (K, M, G, T are powers of 1024); 0 caches nothing",
		value: func(st *state, v string) (err error) {
			st.cfg.CacheSize, err = parseSize(v)
			return err
		}},

	{name: "statfs_size", arg: "SIZE", def: "1T", group: "fuse",
		help: "size and free space df shows where the server does not tell its free space (AVBL)",
		value: func(st *state, v string) (err error) {
			st.cfg.StatfsSize, err = parseSize(v)
			return err
		}},
	{name: "spool_dir", arg: "PATH", def: "system temp dir", group: "cache",
		help:  "where written files are staged before they are uploaded",
		value: func(st *state, v string) error { st.cfg.SpoolDir = v; return nil }},

	// fuse
	{name: "ro", group: "fuse", help: "mount read-only",
		boolean: func(st *state, on bool) { st.cfg.ReadOnly = on }},
	{name: "rw", group: "fuse", help: "mount read-write (the default; undoes an earlier ro)",
		boolean: func(st *state, on bool) { st.cfg.ReadOnly = !on }},
	{name: "allow_other", group: "fuse",
		help:    "let other users use the mount (needs user_allow_other in /etc/fuse.conf unless root)",
		boolean: func(st *state, on bool) { st.cfg.AllowOther = on }},
	{name: "default_permissions", group: "fuse",
		help:    "let the kernel check access against the file modes shown (on by default with allow_other)",
		boolean: func(st *state, on bool) { st.cfg.DefaultPermissions = on }},
	{name: "no_default_permissions", group: "fuse",
		help:    "with allow_other, let every local user do whatever the FTP account may, whatever the modes shown",
		boolean: func(st *state, on bool) { st.noDefaultPermissions = on }},
	{name: "chmod", arg: "server|ignore", def: "server", group: "fuse",
		help: "server: chmod sends SITE CHMOD and fails with EPERM where the server refuses; ignore: chmod succeeds and changes nothing",
		value: func(st *state, v string) error {
			switch v {
			case "server":
				st.cfg.ChmodIgnore = false
			case "ignore":
				st.cfg.ChmodIgnore = true
			default:
				return errors.New("want server or ignore")
			}
			return nil
		}},
	{name: "uid", arg: "USER", def: "the mounting user", group: "fuse", help: "owner shown for every file: a user name or number",
		value: func(st *state, v string) (err error) {
			st.cfg.UID, err = parseUserID(v)
			return err
		}},
	{name: "gid", arg: "GROUP", def: "the mounting group", group: "fuse", help: "group shown for every file: a group name or number",
		value: func(st *state, v string) (err error) {
			st.cfg.GID, err = parseGroupID(v)
			return err
		}},
	{name: "umask", arg: "OCTAL", group: "fuse", help: "bits removed from the modes shown, such as 022",
		value: func(st *state, v string) (err error) {
			st.cfg.Umask, err = parseUmask(v)
			st.cfg.UmaskSet = err == nil
			return err
		}},
	{name: strings.Join(kernelFlags, ", "), group: "fuse", doc: true,
		help: "passed to the kernel mount"},

	// process
	{name: "debug", group: "process", help: "log every FUSE operation and FTP command (passwords masked)",
		boolean: func(st *state, on bool) { st.cfg.Debug = on }},
	{name: "foreground", group: "process", help: "stay in the foreground, like -f",
		boolean: func(st *state, on bool) { st.cfg.Foreground = on }},
	{name: "log_file", arg: "PATH", def: "stderr in the foreground, syslog in the background", group: "process", help: "write the log to PATH",
		value: func(st *state, v string) error { st.cfg.LogFile = v; return nil }},
	{name: "metrics", arg: "HOST:PORT", group: "process", help: "serve Prometheus metrics at http://HOST:PORT/metrics",
		value: func(st *state, v string) (err error) {
			st.cfg.Metrics, err = parseHostPort(v)
			return err
		}},
	{name: strings.Join(ignoredOptions, ", ") + ", x-*", group: "process", doc: true,
		help: "accepted from mount(8) and fstab, and ignored"},
}

func durationSetter(field func(*Config) *time.Duration) func(*state, string) error {
	return func(st *state, v string) (err error) {
		*field(st.cfg), err = parseDuration(v)
		return err
	}
}

// byName indexes the parsing rows of table.
var byName = func() map[string]*option {
	m := make(map[string]*option, len(table))
	for i := range table {
		if !table[i].doc {
			m[table[i].name] = &table[i]
		}
	}
	return m
}()

// Docs lists every option for --help, the man page and the completion, in the
// order and groups of the table the parser uses.
func Docs() []OptionDoc {
	docs := make([]OptionDoc, 0, len(table))
	for _, o := range table {
		docs = append(docs, OptionDoc{Name: o.name, Arg: o.arg, Default: o.def, Group: o.group, Help: o.help})
	}
	return docs
}
