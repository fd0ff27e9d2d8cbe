package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

func printHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: ftpsfs URL MOUNTPOINT [-o OPTION[,OPTION...]] [-f] [-d]
       ftpsfs check URL [-o OPTION[,OPTION...]]   diagnose a server and print the options to mount with
       ftpsfs umount MOUNTPOINT                   unmount (umount as root, else fusermount3 -u)
       ftpsfs help | version

Mounts a remote FTPS server as a local directory.

URL:  ftps://[user@]host[:port]/path    implicit TLS (default port 990)
      ftpes://[user@]host[:port]/path   explicit TLS via AUTH TLS (default port 21)
      ftp://[user@]host[:port]/path     explicit TLS too; plain FTP only with -o tls=none

Flags:
  -o OPTIONS        comma-separated options (below); may be repeated, in any position
  -f, --foreground  stay in the foreground
  -d                debug: log every FUSE operation and FTP command (implies -f)
  -h, --help        this help
  -V, --version     print the version

Password, first found: password_file=, $FTPSFS_PASSWORD, ~/.netrc, the URL;
else, at a terminal, ftpsfs asks for it.
`)
	docs := mountopts.Docs()
	for _, g := range mountopts.Groups() {
		fmt.Fprintf(w, "\n%s options:\n", g.Title)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		var lists []mountopts.OptionDoc
		for _, d := range docs {
			if d.Group != g.Key {
				continue
			}
			if strings.Contains(d.Name, ", ") {
				lists = append(lists, d) // too wide for the table
				continue
			}
			name := d.Name
			if d.Arg != "" {
				name += "=" + d.Arg
			}
			def := ""
			if d.Default != "" {
				def = " (default " + d.Default + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s%s\n", name, d.Help, def)
		}
		tw.Flush()
		for _, d := range lists {
			fmt.Fprintf(w, "  %s\n      %s\n", d.Name, d.Help)
		}
	}
	fmt.Fprint(w, `
Exit status: 0 mounted (or unmounted cleanly in the foreground), 1 the server,
network or mount failed, 2 bad command line, URL or option.
Signals: SIGHUP drops the listing and block caches; SIGINT/SIGTERM unmount.
`)
}
