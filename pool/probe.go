package pool

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProbeReport is what Probe learned about a server: what `ftpsfs check`
// prints. Fields after the step that failed keep their zero values.
type ProbeReport struct {
	Addr     string   // host:port as configured
	Resolved []string // the addresses the host name resolved to
	Remote   string   // the address the control connection reached
	Mode     Mode
	Greeting string // the server's 220 text

	// TLS on the control connection (zero in Plain mode).
	TLSVersion  uint16
	CipherSuite uint16
	Chain       []*x509.Certificate // as presented, leaf first
	Trusted     string              // how the certificate was accepted; "" when it was not
	CertErr     *CertError          // why it was refused
	// Unverified is, with insecure, what verification would have said (nil:
	// it would have passed).
	Unverified *CertError
	// ClientCert is the configured client certificate; ClientCertAsked
	// whether the server asked for one.
	ClientCert      *x509.Certificate
	ClientCertAsked bool

	LoginReply string   // the reply that logged in
	Features   []string // FEAT lines as sent, without the 211 framing
	Dir        string

	DataCmd     string // "EPSV" or "PASV"
	DataTLS     bool   // the data connection was TLS
	DataResumed bool   // and resumed the control connection's session
	DataVersion uint16
	ListCmd     string // "MLSD" or "LIST -a"
	Entries     int
	Precision   string // what the listing's times resolve
}

// Has reports whether FEAT listed feature (e.g. "MLST", "REST STREAM").
func (r *ProbeReport) Has(feature string) bool {
	want := strings.Fields(strings.ToUpper(feature))
	for _, f := range r.Features {
		got := strings.Fields(strings.ToUpper(f))
		if len(got) >= len(want) && slices.Equal(got[:len(want)], want) {
			return true
		}
	}
	return false
}

// Probe logs in with the mount's own code (the pool's dialer: the same TLS
// configuration, session caches, jlaffaye/ftp login and error
// explanations), watching it for the report (probewatch.go); then, on that
// connection, changes to dir as Pool.Check does and lists dir over one data
// connection opened as the mount opens them, reading the raw listing itself
// to tell what its times resolve. The report is filled as far as the probe
// got, also on error. With Debug, the conversation is logged as a mount's
// is, PASS masked.
func Probe(ctx context.Context, cfg Config, dir string) (*ProbeReport, error) {
	cfg = cfg.withDefaults()
	r := &ProbeReport{Addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), Mode: cfg.Mode, Dir: dir}
	if err := checkPath(dir); err != nil {
		return r, err
	}
	d, err := newDialer(cfg, &Metrics{})
	if err != nil {
		return r, err
	}
	watchLogin(d, r)
	if addrs, err := net.DefaultResolver.LookupHost(ctx, cfg.Host); err == nil {
		r.Resolved = addrs
	}
	c, err := probeDial(ctx, d, r)
	if err != nil {
		return r, err
	}
	stop := c.bind(ctx, func(time.Time) {})
	defer stop()
	if err := c.sc.ChangeDir(dir); err != nil {
		c.drop()
		return r, replyError("start directory", dir, err)
	}
	if err := probeList(ctx, c, r, dir); err != nil {
		c.drop()
		return r, err
	}
	c.close()
	return r, nil
}

// probeDial logs in once. A 421 at the greeting is retried briefly: a
// server that allows one connection per address may still be counting the
// previous one (check opens several in turn).
func probeDial(ctx context.Context, d *dialer, r *ProbeReport) (*conn, error) {
	for attempt := 1; ; attempt++ {
		d.watch.transcript = newProbeTranscript(r, d.cfg.Password) // this connection's conversation
		c, err := d.dial(ctx)
		if err == nil || attempt == 4 || replyCode(err) != 421 {
			return c, err
		}
		select {
		case <-time.After(time.Duration(attempt) * 150 * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// ProbeConnections opens n more logged-in control connections at once, as a
// pool dials them, to learn whether the server limits them (vsftpd's
// max_per_ip, for one). It returns how many of the n it accepted and, when
// it refused some, its reply; refusals that do not look like a limit are not
// counted as one.
func ProbeConnections(ctx context.Context, cfg Config, n int) (accepted int, refusal string) {
	cfg = cfg.withDefaults()
	d, err := newDialer(cfg, &Metrics{})
	if err != nil {
		return n, "" // says nothing about a limit
	}
	conns := make([]*conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = d.dial(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			accepted++
			conns[i].close()
			continue
		}
		if refusal == "" && looksLikeLimit(err) {
			refusal = oneLineText(err.Error())
			if te := (*textproto.Error)(nil); errors.As(err, &te) {
				refusal = fmt.Sprintf("%d %s", te.Code, oneLineText(te.Msg))
			}
		}
	}
	if refusal == "" {
		accepted = n // failures that are not a limit say nothing about one
	}
	return accepted, refusal
}

func looksLikeLimit(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code == 421 {
		return true
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "too many") || strings.Contains(m, "maximum") || strings.Contains(m, "limit")
}

// probeList opens one data connection (EPSV, else PASV, always to the
// control connection's peer) as the mount opens them, lists dir on it with
// raw commands on the library's connection, and records whether its TLS
// session resumed the control connection's.
func probeList(ctx context.Context, c *conn, r *ProbeReport, dir string) error {
	tp, err := libraryConn(c.sc)
	if err != nil {
		return err
	}
	port, err := probePassive(c, r)
	if err != nil {
		return replyError("passive mode", "", err)
	}
	peer := c.rawConn().RemoteAddr().(*net.TCPAddr).IP.String()
	addr := net.JoinHostPort(peer, strconv.Itoa(port))
	data := c.openData(addr, false)
	defer data.Close()
	// The mount connects in the background; the probe waits, so that a data
	// connection that cannot be made is reported as such, before the command.
	if err := dataConnected(c); err != nil {
		return fmt.Errorf("data connection to %s: %w", addr, wrapNet(err))
	}
	r.ListCmd = "LIST -a"
	cmd := "LIST -a" // the working directory, as pool.List does on LIST servers
	if r.Has("MLST") {
		r.ListCmd, cmd = "MLSD", "MLSD "+dir
	}
	if _, _, err := c.command(100, "%s", cmd); err != nil {
		return replyError(r.ListCmd, dir, err)
	}
	if dc, ok := data.(*dataConn); ok {
		// The handshake started when the connection was up (dialData); this
		// waits for its outcome.
		herr := dc.Conn.HandshakeContext(ctx)
		st := dc.Conn.ConnectionState()
		r.DataTLS, r.DataResumed, r.DataVersion = herr == nil, st.DidResume, st.Version
		if herr != nil {
			return probeDataFailed(tp, r, dir, fmt.Errorf("TLS on the data connection: %w", herr))
		}
	}
	var lines []string
	sc := bufio.NewScanner(&capReader{r: data, cap: newListingCap(c.maxListing)})
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); errors.Is(err, ErrListingTooLarge) {
		return fmt.Errorf("%s %s: %w", r.ListCmd, dir, err) // the connection is dropped after
	} else if err != nil && !errors.Is(err, io.EOF) {
		return probeDataFailed(tp, r, dir, err)
	}
	_ = data.Close()
	if _, _, err := tp.ReadResponse(2); err != nil {
		return replyError(r.ListCmd, dir, wrapNet(err))
	}
	r.Entries, r.Precision = listingPrecision(r.ListCmd == "MLSD", lines, r.Has("MDTM"))
	return nil
}

// dataConnected waits for the data connection c.openData just started to
// connect (or fail to).
func dataConnected(c *conn) error {
	c.sockets.Lock()
	l, _ := c.sockets.data.(*lazyConn)
	c.sockets.Unlock()
	if l == nil {
		return nil
	}
	_, err := l.wait()
	return err
}

// probeDataFailed reads the control connection's verdict on a failed
// transfer (vsftpd: "522 SSL connection failed: session reuse required")
// and reports both.
func probeDataFailed(tp *textproto.Conn, r *ProbeReport, dir string, err error) error {
	if _, _, rerr := tp.ReadResponse(2); rerr != nil {
		var te *textproto.Error
		if errors.As(rerr, &te) {
			return fmt.Errorf("%s %s: %d %s (%v)", r.ListCmd, dir, te.Code, oneLineText(te.Msg), err)
		}
	}
	return fmt.Errorf("%s %s: %w", r.ListCmd, dir, wrapNet(err))
}

func probePassive(c *conn, r *ProbeReport) (int, error) {
	r.DataCmd = "EPSV"
	code, msg, err := c.command(229, "EPSV")
	if err == nil && code == 229 {
		start, end := strings.Index(msg, "|||"), strings.LastIndex(msg, "|")
		if start >= 0 && start+3 < end {
			if port, perr := strconv.Atoi(msg[start+3 : end]); perr == nil {
				return port, nil
			}
		}
	}
	r.DataCmd = "PASV"
	code, msg, err = c.command(227, "PASV")
	if err != nil {
		return 0, err
	}
	if code != 227 {
		return 0, &textproto.Error{Code: code, Msg: msg}
	}
	// The address in the reply is ignored (bounce attacks, NAT): only the port.
	open, closing := strings.Index(msg, "("), strings.LastIndex(msg, ")")
	if open < 0 || closing < open {
		return 0, fmt.Errorf("unreadable PASV reply %q", msg)
	}
	f := strings.Split(msg[open+1:closing], ",")
	if len(f) != 6 {
		return 0, fmt.Errorf("unreadable PASV reply %q", msg)
	}
	hi, err1 := strconv.Atoi(strings.TrimSpace(f[4]))
	lo, err2 := strconv.Atoi(strings.TrimSpace(f[5]))
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unreadable PASV reply %q", msg)
	}
	return hi<<8 | lo, nil
}

// listingPrecision counts the entries of a raw listing and says what its
// times resolve: MLSD gives seconds (or finer); LIST gives minutes for recent
// files and only the day for files older than about six months.
func listingPrecision(mlsd bool, lines []string, mdtm bool) (entries int, precision string) {
	var fine, secs, minutes, days int
	for _, line := range lines {
		if mlsd {
			facts, name, ok := strings.Cut(line, " ")
			if !ok || name == "." || name == ".." {
				continue
			}
			entries++
			for _, f := range strings.Split(facts, ";") {
				k, v, _ := strings.Cut(f, "=")
				if strings.EqualFold(k, "modify") {
					if strings.Contains(v, ".") {
						fine++
					} else {
						secs++
					}
				}
			}
			continue
		}
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "total "):
		case len(f) >= 9 && len(f[0]) >= 10:
			if name := strings.Join(f[8:], " "); name == "." || name == ".." {
				continue
			}
			entries++
			if strings.Contains(f[7], ":") {
				minutes++
			} else {
				days++
			}
		case len(f) >= 4 && strings.Count(f[0], "-") == 2: // DOS: 01-02-06  03:04PM  <DIR>  name
			entries++
			minutes++
		}
	}
	switch {
	case mlsd && fine > 0:
		precision = "fractions of a second (MLSD)"
	case mlsd && secs > 0:
		precision = "seconds (MLSD)"
	case mlsd && entries == 0:
		precision = "unknown: the directory is empty (MLSD usually gives seconds)"
	case mlsd:
		precision = "unknown: MLSD gave no modify= times"
	default:
		precision = "minutes (LIST shows HH:MM, and only the day for files older than six months)"
		if days > 0 {
			precision += fmt.Sprintf("; %d of %d entries here show only the day", days, entries)
		}
		if mdtm {
			precision += "; MDTM gives seconds per file"
		}
	}
	return entries, precision
}

// oneLineText keeps server text on one printed line, without control bytes.
func oneLineText(s string) string {
	return TerminalSafe(strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " "))
}
