package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// protocolLine is one line of the mount's debug log of the FTP conversation.
// (slog quotes a line only when it has spaces: line=EPSV, line="RETR /f").
var protocolLine = regexp.MustCompile(`conn=(\d+) .*line=(?:"([^"]*)"|(\S+))`)

// passivesAhead counts, in a debug log, the downloads whose connection sent
// EPSV before reading the transfer's 226 (asked), and the RETRs sent on
// the port so asked, the 229 behind a 226 (used).
func passivesAhead(logs string) (asked, used, retrs int) {
	prev := map[string][2]string{} // conn → its two previous protocol lines
	for _, m := range protocolLine.FindAllStringSubmatch(logs, -1) {
		conn, line := m[1], m[2]+m[3]
		p := prev[conn]
		if strings.HasPrefix(line, "RETR ") {
			retrs++
			if strings.HasPrefix(p[0], "226") && strings.HasPrefix(p[1], "229") {
				used++
			}
		}
		if strings.HasPrefix(line, "226") && p[1] == "EPSV" {
			asked++
		}
		prev[conn] = [2]string{p[1], line}
	}
	return asked, used, retrs
}

// TestPassiveAheadThroughMount: reading many small files from vsftpd, four
// programs at once and with other commands in between, most downloads
// find their passive port asked during the download before (sent before
// its 226), and every file reads back its own bytes; other servers are
// never asked ahead.
func TestPassiveAheadThroughMount(t *testing.T) {
	for _, k := range []serverKind{serverKinds[0], serverKinds[2], serverKinds[3], serverKinds[4]} {
		t.Run(k.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			if err := os.MkdirAll(filepath.Join(root, "many"), 0o755); err != nil {
				t.Fatal(err)
			}
			s := k.start(t, root)
			const files = 60
			content := func(i int) []byte { // a size of its own, so a mixup shows
				return bytes.Repeat([]byte(fmt.Sprintf("file %03d\n", i)), 100+i*7)
			}
			for i := range files {
				s.other(t, root, fmt.Sprintf("many/f%03d", i), content(i), 0o644)
			}
			m := mountForeground(t, s.URL, s.Env, append(s.Opts, "debug")...)
			var wg sync.WaitGroup
			errs := make(chan string, files)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < files; i += 4 {
						if i%10 == 3 { // a command between downloads: a stat of a new name
							_, _ = os.Stat(filepath.Join(m.Dir, fmt.Sprintf("many/none%03d", i)))
						}
						r := runFor(30*time.Second, "cat", filepath.Join(m.Dir, fmt.Sprintf("many/f%03d", i)))
						if r.err != nil || r.out != string(content(i)) {
							errs <- fmt.Sprintf("cat many/f%03d: %d bytes, %v; want its %d bytes", i, len(r.out), r.err, len(content(i)))
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			asked, used, retrs := passivesAhead(m.logs.String())
			if retrs < files {
				t.Fatalf("%d RETR in the debug log for %d files", retrs, files)
			}
			t.Logf("%d RETR; %d asked the next passive port before their 226, %d used a port so asked", retrs, asked, used)
			vsftpd := strings.HasPrefix(k.name, "vsftpd")
			switch {
			case vsftpd && (asked < retrs/2 || used < retrs/2):
				t.Errorf("of %d RETR, %d asked the next passive port before their 226 and %d used one so asked; want most", retrs, asked, used)
			case !vsftpd && asked+used != 0:
				t.Errorf("%d downloads asked the next passive port before their 226 on %s, which may answer during a transfer", asked, k.name)
			}
			// "resuming": a download on a port asked ahead that failed and
			// was done again would pass the checks above.
			for _, bad := range []string{"level=ERROR", "level=WARN", "DATA RACE", "EPSV sent ahead failed", "resuming"} {
				if strings.Contains(m.logs.String(), bad) {
					t.Errorf("the mount logged %s:\n%s", bad, tail(m.logs.String(), 20))
				}
			}
		})
	}
}

// listeningPorts counts the TCP sockets listening on 127.0.0.1 at ports
// lo to hi (/proc/net/tcp: state 0A).
func listeningPorts(t *testing.T, lo, hi int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		addr, portHex, ok := strings.Cut(f[1], ":")
		port, err := strconv.ParseInt(portHex, 16, 32)
		if ok && err == nil && addr == "0100007F" && int(port) >= lo && int(port) <= hi {
			n++
		}
	}
	return n
}

// TestIdleMountHoldsFewPassivePorts: vsftpd keeps the listener of an EPSV
// until the session's next transfer, so connections that asked their next
// port ahead hold one of the server's passive ports while they sit idle
// (and vsftpd ends sessions that find no free port in its range). After
// eight programs read small files, the idle mount holds at most two.
func TestIdleMountHoldsFewPassivePorts(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(filepath.Join(root, "many"), 0o755); err != nil {
		t.Fatal(err)
	}
	v := runVsftpd(t, testserver.VsftpdOptions{Root: root})
	s := &server{Own: v.Own}
	const files = 48
	for i := range files {
		s.other(t, root, fmt.Sprintf("many/f%03d", i), walkContent(i%walkFiles), 0o644)
	}
	if err := os.MkdirAll(filepath.Join(root, "more"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 24 {
		s.other(t, root, fmt.Sprintf("more/f%03d", i), walkContent(i%walkFiles), 0o644)
	}
	m := mountForeground(t, fmt.Sprintf("ftpes://%s@%s/", v.User, v.Addr), []string{"FTPSFS_PASSWORD=" + v.Password},
		"fingerprint="+testserver.FingerprintOption(v.Cert.Fingerprint), "debug")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < files; i += 8 {
				r := runFor(30*time.Second, "cat", filepath.Join(m.Dir, fmt.Sprintf("many/f%03d", i)))
				if r.err != nil || r.out != string(walkContent(i%walkFiles)) {
					t.Errorf("cat many/f%03d: %d bytes, %v", i, len(r.out), r.err)
				}
			}
		}()
	}
	wg.Wait()
	if _, used, _ := passivesAhead(m.logs.String()); used == 0 {
		t.Fatal("no download used a passive port asked ahead: nothing to check")
	}
	time.Sleep(300 * time.Millisecond) // the last downloads' replies
	if n := listeningPorts(t, v.PasvMin, v.PasvMax); n < 1 || n > 2 {
		t.Errorf("the idle mount holds %d of vsftpd's passive ports, want 1 or 2 (asked ahead by the last downloads)", n)
	}
	// The connections holding those ports are lent first: one program
	// reading files one after another keeps asking ahead.
	before := len(m.logs.String())
	for i := range 24 {
		r := runFor(30*time.Second, "cat", filepath.Join(m.Dir, fmt.Sprintf("more/f%03d", i)))
		if r.err != nil || r.out != string(walkContent(i%walkFiles)) {
			t.Errorf("cat more/f%03d: %d bytes, %v", i, len(r.out), r.err)
		}
	}
	if asked, used, retrs := passivesAhead(m.logs.String()[before:]); retrs < 24 || asked < retrs/2 || used < retrs/2 {
		t.Errorf("reading one file after another after the burst: of %d RETR, %d asked ahead and %d used a port so asked; want most", retrs, asked, used)
	}
}
