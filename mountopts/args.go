package mountopts

import (
	"fmt"
	"strings"
)

// Args is the command line split into its parts.
type Args struct {
	Subcommand string   // "" (mount), "check" or "umount"
	URL        string   // may hold a password: print it with RedactURL; empty for "umount"
	MountPoint string   // empty for "check"
	Options    []string // raw -o values in order
	Foreground bool     // -f
	Debug      bool     // -d: debug and foreground, like libfuse
	Help       bool     // -h, --help
	Version    bool     // -V, --version
}

const usage = "usage: ftpsfs URL MOUNTPOINT [-o OPTIONS] or ftpsfs check URL [-o OPTIONS]"

const umountUsage = "usage: ftpsfs umount MOUNTPOINT"

// ParseArgs splits the command line (without argv[0]). Flags may come before,
// between or after the positionals, because mount(8) calls helpers as
// "ftpsfs SOURCE DIR -o OPTS" while people type "ftpsfs -o OPTS SOURCE DIR".
// Short flags may be combined ("-fd", "-fo ro"). -n, -s and -v, which mount(8)
// passes to helpers, are accepted and ignored. "--" ends the flags. The
// words help, version and umount (or unmount) in the first position do what
// people type them for: no URL can be spelled that way.
func ParseArgs(args []string) (Args, error) {
	var a Args
	var pos []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case arg == "--help":
			a.Help = true
		case arg == "--version":
			a.Version = true
		case arg == "--foreground":
			a.Foreground = true
		case strings.HasPrefix(arg, "--"):
			name, _, _ := strings.Cut(arg, "=") // never echo a value
			return Args{}, fmt.Errorf("unknown flag %q (run ftpsfs --help)", name)
		case len(arg) > 1 && arg[0] == '-':
			used, err := a.shortFlags(arg[1:], args[i+1:])
			if err != nil {
				return Args{}, err
			}
			i += used
		default:
			pos = append(pos, arg)
		}
	}
	if err := a.positionals(pos); err != nil && !a.Help && !a.Version {
		return Args{}, err
	}
	return a, nil
}

// shortFlags handles one "-xyz" word and returns how many of the following
// words it consumed (1 for "-o VALUE").
func (a *Args) shortFlags(flags string, rest []string) (int, error) {
	for j := 0; j < len(flags); j++ {
		switch c := flags[j]; c {
		case 'o':
			if j+1 < len(flags) { // "-oro,uid=1"
				a.Options = append(a.Options, flags[j+1:])
				return 0, nil
			}
			if len(rest) == 0 {
				return 0, fmt.Errorf("flag -o needs a value: -o OPTION[,OPTION...]")
			}
			a.Options = append(a.Options, rest[0])
			return 1, nil
		case 'f':
			a.Foreground = true
		case 'd':
			a.Debug, a.Foreground = true, true
		case 'h':
			a.Help = true
		case 'V':
			a.Version = true
		case 'n', 's', 'v':
			// From mount(8): no mtab, sloppy, verbose. Nothing to do.
		default:
			return 0, fmt.Errorf("unknown flag %q (run ftpsfs --help)", "-"+string(rune(c)))
		}
	}
	return 0, nil
}

func (a *Args) positionals(pos []string) error {
	if len(pos) > 0 {
		switch pos[0] {
		case "help":
			a.Help = true
			return nil
		case "version":
			a.Version = true
			return nil
		case "umount", "unmount":
			a.Subcommand = "umount"
			switch len(pos) {
			case 1:
				return fmt.Errorf("missing mount point: %s", umountUsage)
			case 2:
				a.MountPoint = pos[1]
				return nil
			}
			return fmt.Errorf("unexpected argument %q: %s", RedactURL(pos[2]), umountUsage)
		}
	}
	want := 2
	if len(pos) > 0 && pos[0] == "check" {
		a.Subcommand = "check"
		pos = pos[1:]
		want = 1
	}
	if len(pos) > 0 {
		a.URL = pos[0]
	}
	if len(pos) > 1 && want == 2 {
		a.MountPoint = pos[1]
	}
	switch {
	case len(pos) == 0:
		return fmt.Errorf("missing URL: %s", usage)
	case len(pos) < want:
		return fmt.Errorf("missing mount point: %s", usage)
	case len(pos) > want:
		return fmt.Errorf("unexpected argument %q: %s", RedactURL(pos[want]), usage)
	}
	return nil
}
