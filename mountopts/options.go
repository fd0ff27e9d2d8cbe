package mountopts

import (
	"fmt"
	"slices"
	"strings"
)

// state is the parse in progress: the Config being filled and what can only
// be checked once every option has been seen.
type state struct {
	cfg          *Config
	passwordFile string
	tlsOptions   []string // TLS-only options given, refused with tls=none
	// noDefaultPermissions: allow_other without the kernel's mode checks.
	noDefaultPermissions bool
}

func (st *state) needsTLS(name string) {
	if !slices.Contains(st.tlsOptions, name) {
		st.tlsOptions = append(st.tlsOptions, name)
	}
}

// applyList applies one -o argument.
func (st *state) applyList(list string) error {
	for _, item := range splitOptions(list) {
		if err := st.apply(item); err != nil {
			return err
		}
	}
	return nil
}

// SplitOptions splits one -o argument into its items as the parser does.
func SplitOptions(list string) []string { return splitOptions(list) }

// JoinOptions is the inverse of SplitOptions: it escapes commas and
// backslashes inside items.
func JoinOptions(items []string) string {
	esc := strings.NewReplacer(`\`, `\\`, ",", `\,`)
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = esc.Replace(it)
	}
	return strings.Join(out, ",")
}

// OptionName is the canonical name of an item ("tls-max=1.2" → "tls_max").
func OptionName(item string) string {
	name, _, _ := strings.Cut(item, "=")
	return strings.ReplaceAll(name, "-", "_")
}

// splitOptions splits at commas; a backslash makes the next character literal,
// as libfuse does, so "\," puts a comma in a value. Empty items are dropped.
func splitOptions(list string) []string {
	var items []string
	var b strings.Builder
	for i := 0; i < len(list); i++ {
		switch c := list[i]; {
		case c == '\\' && i+1 < len(list):
			i++
			b.WriteByte(list[i])
		case c == ',':
			if b.Len() > 0 {
				items = append(items, b.String())
			}
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > 0 {
		items = append(items, b.String())
	}
	return items
}

// apply applies one name or name=value. Messages quote the name as typed and
// quote values with %q, so they stay one line whatever was typed.
func (st *state) apply(item string) error {
	rawName, val, hasVal := strings.Cut(item, "=")
	name := strings.ReplaceAll(rawName, "-", "_") // foo-bar == foo_bar

	switch {
	case strings.HasPrefix(name, "x_") || slices.Contains(ignoredOptions, name):
		return nil
	case slices.Contains(kernelFlags, name):
		if hasVal {
			return fmt.Errorf("option %s takes no value", name)
		}
		st.cfg.KernelOptions = append(st.cfg.KernelOptions, name)
		return nil
	case name == "password":
		// Refused without echoing the value: it is the password.
		return fmt.Errorf("option password= is not supported because -o is visible in ps: use password_file= or %s", passwordEnvVar)
	}

	opt, ok := byName[name]
	if !ok {
		return fmt.Errorf("unknown option %q (run ftpsfs --help for the list)", rawName)
	}
	if opt.boolean != nil {
		on := true
		if hasVal {
			var err error
			if on, err = parseBool(val); err != nil {
				return fmt.Errorf("bad value %q for %s: %v", val, opt.name, err)
			}
		}
		opt.boolean(st, on)
		return nil
	}
	if val == "" {
		return fmt.Errorf("option %s needs a value: %s=%s", opt.name, opt.name, opt.arg)
	}
	if err := opt.value(st, val); err != nil {
		return fmt.Errorf("bad value %q for %s: %v", val, opt.name, err)
	}
	return nil
}

// finish checks what involves more than one option.
func (st *state) finish() error {
	c := st.cfg
	if st.noDefaultPermissions {
		c.DefaultPermissions = false
	} else if c.AllowOther {
		// Without it, every local user could read, overwrite and delete
		// whatever the FTP account can, whatever the modes shown.
		c.DefaultPermissions = true
	}
	if c.DirPrefetch < 0 {
		// Half the connections: a walk's own requests keep the rest.
		c.DirPrefetch = max(1, c.Connections/2)
	}
	if c.TLSMin > c.TLSMax {
		return fmt.Errorf("tls_min %s is above tls_max %s", tlsVersionName(c.TLSMin), tlsVersionName(c.TLSMax))
	}
	if c.ClientKey != "" && c.ClientCert == "" {
		return fmt.Errorf("client_key needs client_cert")
	}
	if c.TLS == TLSNone && len(st.tlsOptions) > 0 {
		// Refused rather than ignored: the user expects that check to happen.
		return fmt.Errorf("tls=none turns TLS off, so %s= cannot be used", strings.Join(st.tlsOptions, "=, "))
	}
	return nil
}
