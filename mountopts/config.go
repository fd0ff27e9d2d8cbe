package mountopts

import (
	"crypto/tls"
	"fmt"
	"time"
)

// TLSMode says how the control connection is secured.
type TLSMode int

const (
	// TLSImplicit starts TLS as soon as the TCP connection opens (ftps://, port 990).
	TLSImplicit TLSMode = iota
	// TLSExplicit connects in plain text and upgrades with AUTH TLS (ftpes://, ftp://, port 21).
	TLSExplicit
	// TLSNone is plain FTP; only with -o tls=none, never as a fallback.
	TLSNone
)

// String returns the name used by -o tls=.
func (m TLSMode) String() string {
	switch m {
	case TLSImplicit:
		return "implicit"
	case TLSExplicit:
		return "explicit"
	case TLSNone:
		return "none"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// defaultPort is the well-known port for a mode: implicit FTPS has its own.
func (m TLSMode) defaultPort() int {
	if m == TLSImplicit {
		return 990
	}
	return 21
}

// Defaults not expressed elsewhere; the table's Default column repeats them
// for --help and a test checks the two agree.
const (
	DefaultConnections  = 8
	defaultTimeout      = 30 * time.Second
	defaultAttrTimeout  = time.Second
	defaultEntryTimeout = time.Second
	defaultDirCacheTTL  = 30 * time.Second
	defaultCacheSize    = 256 << 20
	// DefaultMaxListing bounds one directory listing: about 1 KiB of memory
	// per entry while it is read (some 250 MB at most), where directories
	// people keep rarely reach 100,000 entries.
	DefaultMaxListing = 250_000
	// DefaultPrefetch is how many small files are fetched ahead of a
	// program reading a directory's files in listing order.
	DefaultPrefetch = 8
)

// Config is everything the command needs to mount, fully defaulted and validated.
type Config struct {
	// connection
	Host           string // no brackets: "::1", "files.example.com"
	Port           int
	User           string // "anonymous" when the URL has none
	Password       Secret
	PasswordSource string // "password_file", "env", "netrc", "url", "anonymous", or "" when none was found
	Root           string // absolute, cleaned, percent-decoded start directory; "/" by default
	TLS            TLSMode
	CAFile         string
	Fingerprints   [][32]byte // SHA-256 pins of server certificates
	Insecure       bool       // skip verification; wins over Fingerprints (a warning says so)
	ClientCert     string
	ClientKey      string // empty: the key is in ClientCert (combined PEM)
	TLSMin, TLSMax uint16 // tls.VersionTLS12 or tls.VersionTLS13
	Connections    int
	Timeout        time.Duration // deadline for any one remote operation

	// FUSE
	ReadOnly           bool
	AllowOther         bool
	DefaultPermissions bool  // implied by AllowOther unless no_default_permissions
	ChmodIgnore        bool  // chmod=ignore
	StatfsSize         int64 // statfs_size=; 0 is the default
	UID, GID           int   // -1 when not given
	Umask              uint32
	UmaskSet           bool
	AttrTimeout        time.Duration
	EntryTimeout       time.Duration
	KernelOptions      []string // nosuid, noexec, noatime... in the order given

	// cache
	DirCacheTTL time.Duration // 0 disables the listing cache
	MaxListing  int           // entries one directory listing may have
	DirPrefetch int           // listings fetched ahead at once; 0 off, default max(1, Connections/2)
	CacheSize   int64         // block cache bytes
	Prefetch    int           // small files fetched ahead of a walk in listing order; 0 none
	SpoolDir    string        // "" lets the writer pick os.TempDir()

	// process
	Debug      bool
	Foreground bool
	LogFile    string
	Metrics    string   // host:port
	FSName     string   // source shown in /proc/mounts; never holds a password
	Warnings   []string // one line each, for the command to print
}

func defaultConfig() *Config {
	return &Config{
		Root:         "/",
		TLSMin:       tls.VersionTLS12,
		TLSMax:       tls.VersionTLS13,
		Connections:  DefaultConnections,
		Timeout:      defaultTimeout,
		UID:          -1,
		GID:          -1,
		AttrTimeout:  defaultAttrTimeout,
		EntryTimeout: defaultEntryTimeout,
		DirCacheTTL:  defaultDirCacheTTL,
		CacheSize:    defaultCacheSize,
		MaxListing:   DefaultMaxListing,
		DirPrefetch:  -1, // connections/2 unless given (finish)
		Prefetch:     DefaultPrefetch,
	}
}

// Warning texts, kept together so tests and the command agree on them.
const (
	warnURLPassword = "password in the URL is visible in ps; use password_file= or FTPSFS_PASSWORD"
	warnInsecure    = "insecure: certificate verification is disabled"
	warnInsecurePin = "insecure overrides fingerprint=: the pinned fingerprints are not checked"
	warnTLSNone     = "tls=none: plain FTP: password and data are sent unencrypted"
)

// Parse builds a Config from the URL and the raw -o arguments (each a
// comma-separated list, in command-line order; later options win).
func Parse(rawURL string, options []string, env Env) (*Config, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := defaultConfig()
	c.Host, c.Root, c.TLS = u.host, u.root, u.mode

	st := &state{cfg: c}
	for _, list := range options {
		if err := st.applyList(list); err != nil {
			return nil, err
		}
	}
	if err := st.finish(); err != nil {
		return nil, err
	}

	// The default port follows the final mode, so ftp://host -o tls=implicit
	// dials 990; a port in the URL always wins.
	c.Port = u.port
	if c.Port == 0 {
		c.Port = c.TLS.defaultPort()
	}

	if err := resolveCredentials(c, u, st.passwordFile, env); err != nil {
		return nil, err
	}

	if u.hasPassword {
		c.Warnings = append(c.Warnings, warnURLPassword)
	}
	if c.TLS == TLSNone {
		c.Warnings = append(c.Warnings, warnTLSNone)
	}
	if c.Insecure {
		c.Warnings = append(c.Warnings, warnInsecure)
		if len(c.Fingerprints) > 0 {
			c.Warnings = append(c.Warnings, warnInsecurePin)
		}
	}
	c.FSName = fsName(u.scheme, c.User, c.Host, c.Port, c.Root)
	return c, nil
}
