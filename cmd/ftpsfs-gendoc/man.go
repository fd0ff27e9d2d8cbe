package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// writeMan writes ftpsfs(1): fixed prose around the MOUNT OPTIONS section,
// which is generated from mountopts.Docs.
func writeMan(w io.Writer, version, date string) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH FTPSFS 1 %s \"ftpsfs %s\" \"User Commands\"\n", date, roff(version))
	// No hyphenation: option names broken across lines cannot be copied.
	// groff's .EE re-enables it from register HY.
	b.WriteString(".nr HY 0\n.nh\n")
	b.WriteString(manHead)
	if err := manOptions(&b); err != nil {
		return err
	}
	b.WriteString(manTail)
	_, err := io.WriteString(w, b.String())
	return err
}

// manOptions writes one subsection per option group, one tagged paragraph
// per option.
func manOptions(b *strings.Builder) error {
	docs := mountopts.Docs()
	shown := 0
	for _, g := range mountopts.Groups() {
		fmt.Fprintf(b, ".SS %s options\n", g.Title)
		for _, d := range docs {
			if d.Group != g.Key {
				continue
			}
			if d.Help == "" {
				return fmt.Errorf("option %s has no description in mountopts/table.go", d.Name)
			}
			shown++
			b.WriteString(".TP\n")
			switch {
			case d.Arg == "":
				fmt.Fprintf(b, ".B %s\n", roff(d.Name))
			case strings.Contains(d.Arg, "|"): // literal choices
				fmt.Fprintf(b, ".B %s=%s\n", roff(d.Name), roff(d.Arg))
			default: // a placeholder
				fmt.Fprintf(b, ".BI %s= %s\n", roff(d.Name), roff(d.Arg))
			}
			b.WriteString(roff(sentence(d.Help)))
			if d.Default != "" {
				b.WriteString("\nDefault: " + roff(d.Default) + ".")
			}
			b.WriteString("\n")
		}
	}
	if shown != len(docs) {
		return fmt.Errorf("%d of %d options are in no group of mountopts.Groups", len(docs)-shown, len(docs))
	}
	return nil
}

const manHead = `.SH NAME
ftpsfs \- mount an FTPS server as a local directory
.SH SYNOPSIS
.B ftpsfs
.I URL MOUNTPOINT
.RB [ \-o
.IR OPTION [, OPTION ...]]
.RB [ \-f ]
.RB [ \-d ]
.br
.B ftpsfs check
.I URL
.RB [ \-o
.IR OPTION [, OPTION ...]]
.RB [ \-d ]
.br
.B ftpsfs
.RB [ \-h | \-\-help | \-V | \-\-version ]
.br
.B mount \-t fuse.ftpsfs
.I URL MOUNTPOINT
.RB [ \-o
.IR OPTION [, OPTION ...]]
.SH DESCRIPTION
.B ftpsfs
mounts a directory of an FTP server at
.I MOUNTPOINT
with FUSE, so that every program reads and writes the server's files as
local files.
Both FTPS modes are supported, the control and data connections are
encrypted for the whole session, and the server certificate is verified.
What
.BR close (2)
reports as saved is on the server.
.PP
.B ftpsfs
returns once the filesystem is mounted and keeps serving it in the
background; unmount it with
.B umount
.I MOUNTPOINT
or
.B fusermount3 \-u
.IR MOUNTPOINT .
.PP
.B ftpsfs check
.I URL
connects exactly as a mount would and reports what a failing or slow mount
needs (see
.BR "CHECKING A SERVER" ).
.SH URLS
.TP
.BI ftps:// \fR[\fPuser @\fR]\fPhost\fR[\fP: port\fR]\fP/ path
Implicit TLS: TLS from the first byte.
The default port is 990.
.TP
.BI ftpes:// \fR[\fPuser @\fR]\fPhost\fR[\fP: port\fR]\fP/ path
Explicit TLS:
.BR "AUTH TLS" ,
then
.B PBSZ 0
and
.BR "PROT P" .
The default port is 21.
.TP
.BI ftp:// \fR[\fPuser @\fR]\fPhost\fR[\fP: port\fR]\fP/ path
Explicit TLS as well; plain FTP only with
.BR "\-o tls=none" ,
which prints a warning.
.PP
The path is the directory shown at the mount point.
Percent\-encode special characters
.RB ( %20
space,
.B %23
#,
.B %25
%); IPv6 literals go in brackets:
.BR ftpes://alice@[::1]:2121/ .
TLS is never dropped silently: a server that refuses
.B AUTH TLS
fails the mount with a message saying so.
Without a user the login is anonymous.
.SH OPTIONS
.TP
.BI \-o " OPTION\fR[\fP,OPTION\fR...]"
Mount options, separated by commas (see
.BR "MOUNT OPTIONS" ).
.B \-o
may appear anywhere on the command line, and more than once.
.TP
.B \-f
Stay in the foreground; SIGINT or SIGTERM unmount and exit 0.
.TP
.B \-d
Debug: like
.BR \-f ,
and log every FUSE operation and FTP command with timings (passwords masked).
With
.BR check ,
show the FTP conversation on standard error.
.TP
.BR \-h ", " \-\-help
Print a summary of the usage and of every mount option.
.TP
.BR \-V ", " \-\-version
Print the version of ftpsfs, of Go it was built with, and of go\-fuse.
.PP
.BR \-n ,
.B \-s
and
.BR \-v ,
which
.BR mount (8)
passes to helpers, are accepted and ignored.
.SH MOUNT OPTIONS
Each option is
.I name
or
.IR name = value ;
options without a value also take
.B =yes
or
.BR =no .
Names may use
.B \-
or
.BR _ .
Durations are Go durations
.RB ( 30s ,
.BR 500ms ,
.BR 2m )
or plain seconds
.RB ( 30 ,
.BR 0.5 ).
An unknown option is an error that names it.
`

const manTail = `.SH PASSWORDS
The first of these that exists is used:
.IP 1. 4
.BI password_file= PATH\fR:
the first line of
.IR PATH .
The file must not be readable by group or others
.RB ( "chmod 600"
.IR PATH ).
.IP 2. 4
The
.B FTPSFS_PASSWORD
environment variable.
.IP 3. 4
A
.I ~/.netrc
(or
.BR $NETRC )
entry for the host:
.BI "machine " HOST " login " USER " password " PASS\fR.
.IP 4. 4
The URL
.RB ( ftps://alice:secret@host/ ):
accepted with a warning, because every user on the machine can read it in
.BR ps (1).
.PP
The password is never written to logs (debug logs show
.BR "PASS ****" ),
.IR /proc/mounts ,
error messages, or the background process's arguments or environment.
.SH CERTIFICATES
The server certificate is verified against the system roots and the host
name by default.
.B cafile=
trusts a private CA instead;
.B fingerprint=
pins the server certificate by its SHA\-256 fingerprint, and a pinned
self\-signed certificate is accepted;
.B insecure
skips verification (with a warning): prefer a pin.
When verification fails, the error lists every reason and the certificate's
subject, issuer, validity and fingerprint, with the exact
.B \-o fingerprint=
option that would pin it.
Data connections resume the control connection's TLS session, as vsftpd,
ProFTPD and FileZilla Server require.
.SH CHECKING A SERVER
.B ftpsfs check
.I URL
.RB [ "\-o " \fIOPTIONS ]
prints the resolved address, the TLS mode, version and cipher, the
certificate chain with fingerprints and the verification result, the login
result, the features ftpsfs uses, whether data connections resume the TLS
session, how precise the listing's times are, and how many connections the
server allows.
It ends with advice and a
.B "mount with:"
command line.
It exits 0 when a mount would work, and never logs in to a server whose
certificate it does not trust.
.SH FSTAB AND MOUNT(8)
.BR mount (8)
runs
.B mount.fuse3
for the type
.BR fuse.ftpsfs ,
which runs
.B ftpsfs
from the
.BR PATH .
An
.BR fstab (5)
line:
.PP
.EX
ftpes://alice@files.example.com/pub /mnt/pub fuse.ftpsfs _netdev,nofail,noauto,x\-systemd.automount,password_file=/etc/ftpsfs/alice.pass,allow_other 0 0
.EE
.PP
Then
.B mount /mnt/pub
or, without fstab:
.PP
.EX
mount \-t fuse.ftpsfs ftpes://alice@files.example.com/pub /mnt/pub \e
      \-o password_file=/etc/ftpsfs/alice.pass
.EE
.PP
The command returns only once the filesystem is mounted, and fails at once
with one line and a non\-zero status when the server is down, so
.B nofail
keeps boot going.
With
.BR x\-systemd.automount ,
systemd mounts on first access.
Other users may use the mount only with
.BR allow_other ,
which non\-root users can set only with
.B user_allow_other
in
.IR /etc/fuse.conf .
A normal user mounts in a directory of their own through
.BR fusermount3 (1).
.SH LOGS AND METRICS
In the foreground ftpsfs logs to standard error; in the background to
syslog (the journal:
.BR "journalctl \-t ftpsfs" ),
or to
.BR log_file= .
.BI metrics= HOST : PORT
serves Prometheus metrics; bind it to loopback, it has no authentication.
.SH SIGNALS
.TP
.B SIGHUP
Drop the listing and block caches, so a file changed on the server shows at
once.
.TP
.BR SIGINT ", " SIGTERM
Unmount (lazily if files are still open) and exit.
.SH EXIT STATUS
.TP
.B 0
Mounted (in the background), or unmounted cleanly (in the foreground);
for
.BR check ,
a mount would work.
.TP
.B 1
The server, the network, TLS, the login or the mount failed.
.TP
.B 2
Bad command line, URL or option.
.SH ENVIRONMENT
.TP
.B FTPSFS_PASSWORD
The password, when there is no
.BR password_file= .
.TP
.B NETRC
The netrc file to read instead of
.IR ~/.netrc .
.TP
.B TMPDIR
Where files being written are staged, unless
.B spool_dir=
is given.
.TP
.B GOMEMLIMIT
The Go heap limit; by default ftpsfs holds the heap near
.B cache_size
+ 48 MiB.
.SH FILES
.TP
.I ~/.netrc
Passwords by host.
.TP
.I /etc/fuse.conf
.B user_allow_other
lets normal users mount with
.BR allow_other .
.TP
.I /etc/fstab
Mounts by
.BR mount (8).
.SH EXAMPLES
Mount a directory with a password file, then unmount it:
.PP
.EX
ftpsfs ftpes://alice@files.example.com/pub ~/pub \-o password_file=~/.ftp\-pass
umount ~/pub
.EE
.PP
Pin a self\-signed certificate (the fingerprint
.B ftpsfs check
prints):
.PP
.EX
ftpsfs ftps://alice@192.0.2.7/ /mnt/x \-o fingerprint=SHA256:4C:30:...
.EE
.SH SEE ALSO
.BR fusermount3 (1),
.BR fstab (5),
.BR mount (8),
.BR mount.fuse3 (8)
`
