package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// server is one running FTPS server as every client sees it: where to
// connect, how to log in, and the log of the commands it received.
type server struct {
	Kind        string // "vsftpd" or "embedded"
	Host        string // 127.0.0.1, or the namespace's address behind the delay
	Port        int
	User        string
	Password    string
	Fingerprint string // SHA256:…, for ftpsfs's fingerprint= option
	Root        string // the directory served, on this machine
	logPath     string // one `FTP command: … "LINE"` per command received
	stop        func() error
}

// Addr is host:port of the control connection.
func (s *server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Close stops the server and every session process it started.
func (s *server) Close() error { return s.stop() }

// startServer starts kind serving root, on 127.0.0.1, or inside the delay
// namespace when link is not nil.
func startServer(kind, root string, link *delayLink) (*server, error) {
	switch kind {
	case "vsftpd":
		return startVsftpd(root, link)
	case "embedded":
		return startEmbedded(root, link)
	}
	return nil, fmt.Errorf("unknown server %q (want vsftpd or embedded)", kind)
}

func startVsftpd(root string, link *delayLink) (*server, error) {
	opts := testserver.VsftpdOptions{Root: root, Extra: map[string]string{
		// A listing of 10,000 entries and 8 parallel clients must not hit limits.
		"max_per_ip": "0", "max_clients": "0",
	}}
	start := func() (*testserver.Vsftpd, error) { return testserver.StartVsftpd(opts) }
	host := "127.0.0.1"
	if link != nil {
		// All addresses of the namespace: testserver probes 127.0.0.1 there,
		// clients come in on the TUN address, which PASV replies must name.
		opts.Extra["listen_address"] = ""
		opts.Extra["pasv_address"] = link.ServerIP
		host = link.ServerIP
		start = func() (*testserver.Vsftpd, error) {
			var v *testserver.Vsftpd
			err := inNetns(link.NS, func() (err error) { v, err = testserver.StartVsftpd(opts); return err })
			return v, err
		}
	}
	v, err := start()
	if err != nil {
		return nil, err
	}
	return &server{
		Kind: "vsftpd", Host: host, Port: v.Port, User: v.User, Password: v.Password,
		Fingerprint: testserver.FingerprintOption(v.Cert.Fingerprint), Root: root,
		logPath: v.LogPath, stop: v.Close,
	}, nil
}

// The embedded server runs in a child process (this program again, see
// serveEmbedded): a process started from a thread inside the namespace lives
// there entirely, whereas ftpserverlib opens its passive listeners from
// goroutines on arbitrary threads, which would land in the host's namespace.
const embeddedEnv = "FTPSFS_BENCH_EMBEDDED" // set to the child's config: root|listen|log|ready

func startEmbedded(root string, link *delayLink) (*server, error) {
	dir, err := os.MkdirTemp("", "ftpsfs-bench-embedded-")
	if err != nil {
		return nil, err
	}
	listen, host := "127.0.0.1:0", "127.0.0.1"
	if link != nil {
		listen, host = link.ServerIP+":0", link.ServerIP
	}
	s := &server{Kind: "embedded", Host: host, User: "bench", Password: rand.Text(), Root: root,
		logPath: filepath.Join(dir, "commands.log")}
	ready := filepath.Join(dir, "ready")
	// /proc/self/exe, not the path: it still runs if `make bench` rebuilt
	// the file meanwhile.
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(),
		embeddedEnv+"="+strings.Join([]string{root, listen, s.logPath, ready}, "|"),
		"FTPSFS_BENCH_PASSWORD="+s.Password)
	out, _ := os.Create(filepath.Join(dir, "server.out"))
	cmd.Stdout, cmd.Stderr = out, out
	// The child stops when this pipe closes: on Close, or when this process
	// dies in any way, so it never outlives the bench.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if link != nil {
		err = inNetns(link.NS, cmd.Start)
	} else {
		err = cmd.Start()
	}
	out.Close()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start embedded server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.stop = func() error {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(ready)
		if f := strings.Fields(string(b)); len(f) == 2 {
			_, port, _ := net.SplitHostPort(f[0])
			s.Port, _ = strconv.Atoi(port)
			s.Fingerprint = f[1]
			return s, nil
		}
		select {
		case <-done:
			msg, _ := os.ReadFile(filepath.Join(dir, "server.out"))
			s.stop()
			return nil, fmt.Errorf("embedded server exited: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("embedded server not ready after 15s")
		}
	}
}

// serveEmbedded is the child process: it serves until stdin closes or a
// signal arrives, logging every command it receives.
func serveEmbedded(conf string) error {
	f := strings.Split(conf, "|")
	if len(f) != 4 {
		return fmt.Errorf("%s: want root|listen|log|ready", embeddedEnv)
	}
	root, listen, logPath, ready := f[0], f[1], f[2], f[3]
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{
		Root: root, User: "bench", Password: os.Getenv("FTPSFS_BENCH_PASSWORD"),
		Listen: listen, RequireReuse: true, Logger: slog.New(&commandLog{w: logFile}),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	fp := testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)
	if err := os.WriteFile(ready+".tmp", []byte(srv.Addr+" "+fp+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(ready+".tmp", ready); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	<-ctx.Done()
	return nil
}

// commandLog is a slog handler that keeps only ftpserverlib's "Received line"
// records, written as vsftpd's protocol log writes them, so one parser counts
// both servers' commands.
type commandLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (h *commandLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *commandLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *commandLog) WithGroup(string) slog.Handler            { return h }

func (h *commandLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "Received line" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "line" {
			return true
		}
		line := a.Value.String()
		if strings.HasPrefix(strings.ToUpper(line), "PASS ") {
			line = "PASS <password>"
		}
		h.mu.Lock()
		fmt.Fprintf(h.w, "FTP command: %q\n", line)
		h.mu.Unlock()
		return false
	})
	return nil
}

// countsCommands reports whether the server logs the commands it receives.
// vsftpd always does (log_ftp_protocol=YES). ftpserverlib logs them only for
// clients switched to debug mode, which e2e/testserver does not do (a
// ClientContext.SetDebug(true) in its ClientConnected would): until then the
// embedded server's log stays empty and its counts are shown as missing.
func (s *server) countsCommands() bool { return s.Kind == "vsftpd" || s.logOffset() > 0 }

// logOffset is where the command log ends now: commands after it belong to
// whatever runs next.
func (s *server) logOffset() int64 {
	st, err := os.Stat(s.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// commandsSince counts the commands logged after offset, by verb.
func (s *server) commandsSince(offset int64) counts {
	c := counts{}
	f, err := os.Open(s.logPath)
	if err != nil {
		return c
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return c
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if verb, ok := commandVerb(sc.Text()); ok {
			c[verb]++
		}
	}
	return c
}

// commandVerb extracts the verb from a protocol log line:
//
//	vsftpd:   Mon … [pid 9] [ftpsfstest] FTP command: Client "10.213.5.1", "RETR big.bin"
//	embedded: FTP command: "RETR big.bin"
func commandVerb(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, "FTP command: ")
	if !ok {
		return "", false
	}
	end := strings.LastIndexByte(rest, '"')
	if end <= 0 {
		return "", false
	}
	start := strings.LastIndex(rest[:end], `"`)
	if i := strings.LastIndex(rest[:end], `, "`); i >= 0 {
		start = i + 2
	}
	cmd := strings.TrimSpace(rest[start+1 : end])
	verb, _, _ := strings.Cut(cmd, " ")
	if verb == "" {
		return "", false
	}
	return strings.ToUpper(verb), true
}

// counts is commands received by verb.
type counts map[string]int

func (c counts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}
