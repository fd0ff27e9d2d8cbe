package pool

import (
	"bufio"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
	"github.com/jlaffaye/ftp"
)

// The listing parsers are jlaffaye/ftp's (MLSD facts; LIST in Unix and DOS
// formats); what ftpsfs adds is listRaw (how it asks) and convertEntries
// (which names it keeps, what type and size it gives them). These fuzz
// targets drive both through a real ftp.ServerConn talking to a scripted
// server over in-memory pipes, and check what the node tree relies on.
// `go test` runs the seeds; `go test -fuzz FuzzListing ./pool` explores.

// pipeConn is one end of a net.Pipe that jlaffaye/ftp accepts: it wants a
// *net.TCPAddr as the remote address.
type pipeConn struct{ net.Conn }

func (pipeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21} }
func (pipeConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }

// listThroughScript lists "/" through a scripted server that answers the
// listing command with body, on a connection set up as the pool's are.
func listThroughScript(t testing.TB, mlsd bool, body []byte) ([]fs.FileInfo, error) {
	return listThroughScriptTo(t, mlsd, body, nil)
}

// listThroughScriptTo is listThroughScript with sink getting the entries
// as they arrive.
func listThroughScriptTo(t testing.TB, mlsd bool, body []byte, sink arriving.Sink) ([]fs.FileInfo, error) {
	ctrlClient, ctrlServer := net.Pipe()
	data := make(chan net.Conn, 1)
	dials := 0
	var c *conn
	dial := func(network, addr string) (net.Conn, error) {
		dials++
		if dials == 1 {
			return pipeConn{ctrlClient}, nil
		}
		cc, s := net.Pipe()
		data <- s
		if sink != nil {
			// As dial.go does; only with a sink, so that the other targets
			// keep checking the library's parsing on its own.
			return &sniffConn{Conn: pipeConn{cc}, sniff: c.sniff}, nil
		}
		return pipeConn{cc}, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ctrlServer.Close()
		_ = ctrlServer.SetDeadline(time.Now().Add(5 * time.Second))
		say := func(s string) bool { _, err := ctrlServer.Write([]byte(s + "\r\n")); return err == nil }
		if !say("220 scripted") {
			return
		}
		in := bufio.NewReader(ctrlServer)
		for {
			line, err := in.ReadString('\n')
			if err != nil {
				return
			}
			cmd, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			switch strings.ToUpper(cmd) {
			case "USER":
				say("331 password")
			case "PASS":
				say("230 in")
			case "FEAT":
				if mlsd {
					say("211-Features:\r\n MLST type*;size*;modify*;\r\n SIZE\r\n211 End")
				} else {
					say("211-Features:\r\n SIZE\r\n211 End")
				}
			case "TYPE":
				say("200 binary")
			case "CWD":
				say("250 there")
			case "EPSV":
				say("229 Entering Extended Passive Mode (|||40001|)")
			case "LIST", "MLSD":
				d := <-data
				say("150 here")
				_ = d.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = d.Write(body)
				_ = d.Close()
				say("226 done")
			case "QUIT":
				say("221 bye")
				return
			default:
				say("502 no")
			}
		}
	}()
	defer func() { <-done }()
	sc, err := ftp.Dial("127.0.0.1:21", ftp.DialWithDialFunc(dial))
	if err != nil {
		t.Fatalf("dial the script: %v", err)
	}
	defer sc.Quit()
	if err := sc.Login("u", "p"); err != nil {
		t.Fatalf("login to the script: %v", err)
	}
	c = &conn{sc: sc, mlsd: sc.IsTimePreciseInList()}
	if c.mlsd != mlsd {
		t.Fatalf("MLSD detected %v, scripted %v", c.mlsd, mlsd)
	}
	entries, sniff, err := listRaw(c, "/", sink)
	if err != nil {
		return nil, err
	}
	return convertEntries(entries, sniff, c.mlsd), nil
}

// checkEntries is what the node tree relies on: every name is one path
// component the kernel can show (not empty, not . or .., no / or NUL) and
// appears once; every entry is a directory, a symlink or a regular file
// with the mode that implies; sizes are not negative.
func checkEntries(t *testing.T, listing string, entries []fs.FileInfo) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "", name == ".", name == "..", strings.ContainsAny(name, "/\x00"):
			t.Errorf("kept an impossible name %q from listing %q", name, listing)
		case seen[name]:
			t.Errorf("name %q twice from listing %q", name, listing)
		}
		seen[name] = true
		m := e.Mode()
		switch {
		case m.IsDir():
			if m != fs.ModeDir|0o755 || e.Size() != 0 {
				t.Errorf("%q: directory with mode %v size %d", name, m, e.Size())
			}
		case m&fs.ModeSymlink != 0:
			if m != fs.ModeSymlink|0o777 {
				t.Errorf("%q: symlink with mode %v", name, m)
			}
		case m.IsRegular():
			if m != 0o644 {
				t.Errorf("%q: file with mode %v", name, m)
			}
		default:
			t.Errorf("%q: mode %v is none of dir, symlink, file", name, m)
		}
		if e.Size() < 0 {
			t.Errorf("%q: negative size %d from listing %q", name, e.Size(), listing)
		}
	}
}

var listSeeds = []struct {
	mlsd bool
	body string
}{
	{false, "drwxr-xr-x    7 1001     1001         4096 Nov 23 22:12 .\r\n" +
		"drwxr-xr-x    7 1001     1001         4096 Nov 23 22:12 ..\r\n" +
		"-rw-r--r--    1 1001     1001            6 Nov 23 22:12 a.txt\r\n" +
		"-rw-r--r--    2 1001     1001     104857600 Jan 02  2020 big.bin\r\n" +
		"lrwxrwxrwx    1 1001     1001            3 Nov 23 22:12 link-to-one -> one\r\n" +
		"-rw-r--r--    1 1001     1001            6 Nov 23 22:12 with space.txt\r\n" +
		"-rw-r--r--    1 1001     1001            6 Nov 23 22:12 .hidden\r\n"},
	{false, "11-23-26  10:12PM       <DIR>          dos dir\r\n11-23-26  10:12PM                 1234 dos file.txt\r\n"},
	{false, "-rw-r--r--    1 1001     1001     18446744073709551615 Nov 23 22:12 huge\r\n"},
	{false, "-rw-r--r--    1 1001     1001            6 Nov 23 22:12 a/b\r\n-rw-r--r-- 1 u g 6 Nov 23 22:12 dup\r\n-rw-r--r-- 1 u g 7 Nov 23 22:12 dup\r\n"},
	{false, "garbage\r\n\r\ntotal 12\r\n-rw-r--r-- 1 u g 6 Nov 23 22:12 \r\n"},
	{true, "type=cdir;modify=20261123221200; .\r\ntype=pdir;modify=20261123221200; ..\r\n" +
		"type=file;size=6;modify=20261123221200; a.txt\r\ntype=dir;modify=20261123221200; sub dir\r\n" +
		"type=OS.unix=symlink;size=3;modify=20261123221200; link\r\n"},
	{true, "type=file;size=-5;modify=20261123221200; negative\r\ntype=file;size=1;modify=x; bad time\r\n"},
	{true, "type=file;size=1;modify=20261123221200; na\x00me\r\ntype=file;size=1;modify=20261123221200; \r\n"},
}

func FuzzListing(f *testing.F) {
	for _, s := range listSeeds {
		f.Add(s.mlsd, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, mlsd bool, body []byte) {
		entries, err := listThroughScript(t, mlsd, body)
		if err != nil {
			t.Fatalf("listing %q: %v", body, err)
		}
		checkEntries(t, string(body), entries)
	})
}

// FuzzListingEntry renders one entry the way vsftpd (LIST) or an MLSD
// server would and checks that it comes back with its name, type and size,
// or is left out when no path component can carry the name.
func FuzzListingEntry(f *testing.F) {
	f.Add(false, "plain.txt", uint64(6), uint8(0))
	f.Add(true, "with space", uint64(0), uint8(1))
	f.Add(false, "arrow -> x", uint64(9), uint8(2))
	f.Add(true, "..", uint64(1), uint8(0))
	f.Add(false, "naïve-日本.txt", uint64(1<<40), uint8(0))
	f.Add(false, " leading and trailing ", uint64(3), uint8(0))
	f.Add(false, "0 ->", uint64(3), uint8(2))
	f.Fuzz(func(t *testing.T, mlsd bool, name string, size uint64, kind uint8) {
		if strings.ContainsAny(name, "\r\n") {
			t.Skip("a listing line cannot hold CR or LF")
		}
		kind %= 3
		if mlsd && kind == 2 {
			kind = 0 // MLSD has no symlink type
		}
		size %= 1 << 62 // what a real file can be, and int64 can hold
		var line string
		if mlsd {
			typ := map[uint8]string{0: "file", 1: "dir"}[kind]
			line = fmt.Sprintf("type=%s;size=%d;modify=20261123221200; %s\r\n", typ, size, name)
		} else {
			perm := map[uint8]string{0: "-rw-r--r--", 1: "drwxr-xr-x", 2: "lrwxrwxrwx"}[kind]
			target := ""
			if kind == 2 {
				target = " -> target"
				size = uint64(len("target"))
			}
			line = fmt.Sprintf("%s    1 1001     1001 %12d Nov 23 22:12 %s%s\r\n", perm, size, name, target)
		}
		entries, err := listThroughScript(t, mlsd, []byte(line))
		if err != nil {
			t.Fatalf("listing %q: %v", line, err)
		}
		checkEntries(t, line, entries)
		// Names no path component can carry are dropped; a symlink line
		// cannot tell a name holding " -> " from its target. Anything else
		// (spaces at either end included) must come back exactly.
		representable := name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00") &&
			(kind != 2 || strings.Index(name+" -> ", " -> ") == len(name))
		if !representable {
			return // checkEntries holds anyway
		}
		if len(entries) != 1 {
			t.Fatalf("%q: %d entries from %q", name, len(entries), line)
		}
		e := entries[0]
		if e.Name() != name {
			t.Errorf("name %q came back as %q from %q", name, e.Name(), line)
		}
		wantDir, wantLink := kind == 1, kind == 2
		if e.IsDir() != wantDir || (e.Mode()&fs.ModeSymlink != 0) != wantLink {
			t.Errorf("%q: kind %d came back as mode %v", name, kind, e.Mode())
		}
		if kind == 0 && e.Size() != int64(size) {
			t.Errorf("%q: size %d came back as %d", name, size, e.Size())
		}
	})
}
