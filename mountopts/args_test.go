package mountopts

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	const u, mnt = "ftps://alice@host/pub", "/mnt/x"
	tests := []struct {
		args []string
		want Args
	}{
		{[]string{u, mnt}, Args{URL: u, MountPoint: mnt}},
		{[]string{"-o", "ro", u, mnt}, Args{URL: u, MountPoint: mnt, Options: []string{"ro"}}},
		{[]string{u, "-o", "ro", mnt}, Args{URL: u, MountPoint: mnt, Options: []string{"ro"}}},
		{[]string{u, mnt, "-o", "ro,uid=1"}, Args{URL: u, MountPoint: mnt, Options: []string{"ro,uid=1"}}},
		{[]string{"-oro", u, "-o", "uid=1", mnt, "-ogid=2,allow_other"},
			Args{URL: u, MountPoint: mnt, Options: []string{"ro", "uid=1", "gid=2,allow_other"}}},
		{[]string{u, mnt, "-f"}, Args{URL: u, MountPoint: mnt, Foreground: true}},
		{[]string{"-d", u, mnt}, Args{URL: u, MountPoint: mnt, Debug: true, Foreground: true}},
		{[]string{"-fo", "ro", u, mnt}, Args{URL: u, MountPoint: mnt, Foreground: true, Options: []string{"ro"}}},
		{[]string{"-fdoro", u, mnt}, Args{URL: u, MountPoint: mnt, Foreground: true, Debug: true, Options: []string{"ro"}}},
		// mount(8) calls helpers like this
		{[]string{u, mnt, "-n", "-s", "-v", "-o", "rw,_netdev"}, Args{URL: u, MountPoint: mnt, Options: []string{"rw,_netdev"}}},
		{[]string{"-o", "--", u, mnt}, Args{URL: u, MountPoint: mnt, Options: []string{"--"}}},
		{[]string{"-o", "ro", "--", "-weird-url", "-weird-dir"}, Args{URL: "-weird-url", MountPoint: "-weird-dir", Options: []string{"ro"}}},
		{[]string{"--", u, mnt}, Args{URL: u, MountPoint: mnt}},
		{[]string{"check", u}, Args{Subcommand: "check", URL: u}},
		{[]string{"-o", "timeout=5", "check", u, "-d"}, Args{Subcommand: "check", URL: u, Options: []string{"timeout=5"}, Debug: true, Foreground: true}},
		{[]string{"-h"}, Args{Help: true}},
		{[]string{"--help", u}, Args{Help: true, URL: u}},
		{[]string{"-V"}, Args{Version: true}},
		{[]string{"--version", "a", "b", "c"}, Args{Version: true, URL: "a", MountPoint: "b"}},
		{[]string{"-", mnt}, Args{URL: "-", MountPoint: mnt}},
		{[]string{u, mnt, "--foreground"}, Args{URL: u, MountPoint: mnt, Foreground: true}},
		// the words people type
		{[]string{"help"}, Args{Help: true}},
		{[]string{"version"}, Args{Version: true}},
		{[]string{"umount", mnt}, Args{Subcommand: "umount", MountPoint: mnt}},
		{[]string{"unmount", mnt}, Args{Subcommand: "umount", MountPoint: mnt}},
		{[]string{u, "help"}, Args{URL: u, MountPoint: "help"}}, // a mount point named help
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing URL: usage: ftpsfs URL MOUNTPOINT"},
		{[]string{"ftps://h/"}, "missing mount point"},
		{[]string{"ftps://h/", "/mnt", "extra"}, `unexpected argument "extra"`},
		{[]string{"ftps://h/", "/mnt", "ftps://u:hunter2@h/"}, `unexpected argument "ftps://u:****@h/"`},
		{[]string{"check"}, "missing URL"},
		{[]string{"check", "ftps://h/", "/mnt"}, `unexpected argument "/mnt"`},
		{[]string{"-x", "ftps://h/", "/mnt"}, `unknown flag "-x" (run ftpsfs --help)`},
		{[]string{"-fx", "ftps://h/", "/mnt"}, `unknown flag "-x"`},
		{[]string{"--foo", "ftps://h/", "/mnt"}, `unknown flag "--foo"`},
		{[]string{"--password=hunter2", "ftps://h/", "/mnt"}, `unknown flag "--password"`},
		{[]string{"ftps://h/", "/mnt", "-o"}, "flag -o needs a value"},
		{[]string{"-h", "-q"}, `unknown flag "-q"`},
		{[]string{"umount"}, "missing mount point: usage: ftpsfs umount MOUNTPOINT"},
		{[]string{"umount", "/a", "/b"}, `unexpected argument "/b"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := ParseArgs(tt.args)
			checkErr(t, err, tt.want, "hunter2")
		})
	}
}

// The flags and the -o foreground option end up in the same place for the
// command; check that both routes work together.
func TestForegroundOption(t *testing.T) {
	a, err := ParseArgs([]string{"ftps://h/", "/mnt", "-o", "foreground,debug"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(a.URL, a.Options, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Foreground || !c.Debug || a.Foreground {
		t.Errorf("args %+v config foreground=%v debug=%v", a, c.Foreground, c.Debug)
	}
}
