package pool

import (
	"log/slog"
	"time"
)

// Mode is how a session is secured.
type Mode int

const (
	// Implicit speaks TLS from the first byte (usually port 990).
	Implicit Mode = iota
	// Explicit connects in plain text and upgrades with AUTH TLS (port 21).
	Explicit
	// Plain is unencrypted FTP; only used when the user asked for it.
	Plain
)

func (m Mode) String() string {
	switch m {
	case Implicit:
		return "implicit TLS"
	case Explicit:
		return "explicit TLS"
	default:
		return "plain FTP"
	}
}

// Config is what the pool needs to reach and log in to one server.
type Config struct {
	Host     string // name or IP without brackets
	Port     int
	User     string
	Password string
	Mode     Mode
	TLS      TLSOptions
	// MaxConns bounds the control connections held at once.
	MaxConns int
	// Timeout bounds every network read or write, each whole login (from
	// the connect to the last reply), and the wait for a free connection.
	Timeout time.Duration
	// MaxListing caps the entries of one directory listing (max_listing=);
	// 0 means DefaultMaxListing. A larger listing fails with
	// ErrListingTooLarge, cut while it arrives.
	MaxListing int
	// IdleCheck is how long a connection may sit idle before it is checked
	// with NOOP when it is lent again.
	IdleCheck time.Duration
	Logger    *slog.Logger
	// Debug logs every FTP command and reply (PASS masked).
	Debug bool
	// OnOp, when set, hears the duration and outcome of every remote
	// operation (for metrics).
	OnOp func(op string, took time.Duration, err error)
}

// DefaultMaxListing is max_listing's default. A listing costs about 1 KiB
// of memory per entry while it is read and converted (the library's
// entries, the modes, the filesystem's copy), so this bounds one listing to
// some 250 MB, while directories people keep (mail spools, camera dumps,
// build caches) rarely reach 100,000 entries.
const DefaultMaxListing = 250_000

func (c *Config) withDefaults() Config {
	out := *c
	if out.MaxConns < 1 {
		out.MaxConns = 1
	}
	if out.Timeout <= 0 {
		out.Timeout = 30 * time.Second
	}
	if out.MaxListing <= 0 {
		out.MaxListing = DefaultMaxListing
	}
	if out.IdleCheck <= 0 {
		out.IdleCheck = 15 * time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}
