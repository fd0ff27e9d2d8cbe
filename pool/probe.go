package pool

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// Probe connects and logs in as a mount would (same TLS configuration,
// session-cache rules and error explanations), then lists dir over one data
// connection, recording every step for a person debugging the server. It
// uses its own small FTP client because jlaffaye/ftp hides FEAT and the TLS
// details. The report is filled as far as the probe got, also on error.
// Commands and replies are logged at debug level, with PASS masked.
func Probe(ctx context.Context, cfg Config, dir string) (*ProbeReport, error) {
	cfg = cfg.withDefaults()
	r := &ProbeReport{Addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), Mode: cfg.Mode, Dir: dir}
	if err := checkPath(dir); err != nil {
		return r, err
	}
	s, err := newProbeSession(cfg, r)
	if err != nil {
		return r, err
	}
	if addrs, err := net.DefaultResolver.LookupHost(ctx, cfg.Host); err == nil {
		r.Resolved = addrs
	}
	if err := s.open(ctx); err != nil {
		return r, err
	}
	defer s.close()
	if err := s.login(); err != nil {
		return r, err
	}
	if err := s.setup(dir); err != nil {
		return r, err
	}
	if err := s.list(ctx, dir); err != nil {
		return r, err
	}
	s.quit()
	return r, nil
}

// ProbeConnections opens n more logged-in control connections at once, to
// learn whether the server limits them (vsftpd's max_per_ip, for one). It
// returns how many of the n it accepted and, when it refused some, its reply;
// refusals that do not look like a limit are not counted as one.
func ProbeConnections(ctx context.Context, cfg Config, n int) (accepted int, refusal string) {
	cfg = cfg.withDefaults()
	sessions := make([]*probeSession, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := newProbeSession(cfg, &ProbeReport{Mode: cfg.Mode})
			if err == nil {
				s.once = true
				if err = s.open(ctx); err == nil {
					if err = s.login(); err != nil {
						s.close()
					}
				}
			}
			sessions[i], errs[i] = s, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			accepted++
			sessions[i].quit()
			sessions[i].close()
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

// probeSession is one control connection of the probe.
type probeSession struct {
	cfg   Config
	r     *ProbeReport
	d     *dialer // for its error explanations, shared with mounts
	trust *trust
	ctrl  *tls.Config // nil in Plain mode
	data  *tls.Config
	raw   net.Conn
	tp    *textproto.Conn
	peer  string // the control connection's peer IP: data connections go there
	stop  func() bool
	// endLogin stops the deadline of the greeting, TLS and login;
	// loginCut says it closed the connection under them.
	endLogin func()
	loginCut atomic.Bool
	once     bool // do not retry a 421 greeting (ProbeConnections counts them)
}

func newProbeSession(cfg Config, r *ProbeReport) (*probeSession, error) {
	s := &probeSession{cfg: cfg, r: r, d: &dialer{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))}}
	if cfg.Mode == Plain {
		return s, nil
	}
	base, t, err := newTLSConfig(cfg.TLS, cfg.Host)
	if err != nil {
		return nil, err
	}
	s.trust = t
	var mine *tls.Certificate
	if len(base.Certificates) > 0 {
		mine = &base.Certificates[0]
		r.ClientCert = mine.Leaf
	}
	// One session cache per control connection, read-only for its data
	// connections: exactly what dialer.dial does.
	s.ctrl = base.Clone()
	s.ctrl.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	s.ctrl.VerifyConnection = func(cs tls.ConnectionState) error {
		r.TLSVersion, r.CipherSuite, r.Chain = cs.Version, cs.CipherSuite, cs.PeerCertificates
		err := t.verify(cs.PeerCertificates)
		var ce *CertError
		errors.As(err, &ce)
		if t.insecure {
			r.Unverified, r.Trusted = ce, t.describe()
			return nil
		}
		if err != nil {
			r.CertErr = ce
			return err
		}
		r.Trusted = t.describe()
		return nil
	}
	s.ctrl.Certificates = nil
	s.ctrl.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		r.ClientCertAsked = true
		if mine == nil || cri.SupportsCertificate(mine) != nil {
			return &tls.Certificate{}, nil // what crypto/tls sends from Certificates then
		}
		return mine, nil
	}
	s.data = base.Clone()
	s.data.ClientSessionCache = readOnlySessionCache{s.ctrl.ClientSessionCache}
	return s, nil
}

// open connects, reads the greeting and secures the connection. A 421 at the
// greeting is retried briefly: a server that allows one connection per
// address may still be counting the previous one.
func (s *probeSession) open(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 150 * time.Millisecond):
			case <-ctx.Done():
				return s.d.explainDial(ctx.Err())
			}
		}
		err = s.openOnce(ctx)
		var te *textproto.Error
		if s.once || !errors.As(err, &te) || te.Code != 421 {
			break
		}
	}
	if err != nil {
		if s.loginCut.Load() {
			return s.loginTimeout()
		}
		return s.d.explainDial(err)
	}
	return nil
}

func (s *probeSession) openOnce(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	nd := &net.Dialer{Timeout: s.cfg.Timeout}
	raw, err := nd.DialContext(dctx, "tcp", s.d.addr)
	if err != nil {
		cancel()
		return err
	}
	s.raw = raw
	s.stop = context.AfterFunc(ctx, func() { _ = raw.Close() })
	// The greeting, TLS and login get one timeout in all, as a mount's
	// dial does: a server sending a byte at a time never trips the
	// per-read timeout.
	s.loginCut.Store(false)
	cut := context.AfterFunc(dctx, func() {
		s.loginCut.Store(true)
		_ = raw.Close()
	})
	s.endLogin = func() { cut(); cancel() }
	s.r.Remote = raw.RemoteAddr().String()
	s.peer = raw.RemoteAddr().(*net.TCPAddr).IP.String()
	var nc net.Conn = &budgetConn{Conn: &deadlineConn{Conn: raw, timeout: s.cfg.Timeout}}
	if s.cfg.Mode == Implicit {
		tc := tls.Client(nc, s.ctrl)
		if err := tc.HandshakeContext(dctx); err != nil {
			s.close()
			return err
		}
		nc = tc
	}
	s.tp = textproto.NewConn(nc)
	_, msg, err := s.tp.ReadResponse(220)
	if err != nil {
		s.close()
		return err
	}
	s.r.Greeting = oneLineText(msg)
	s.trace("<", "220 "+msg)
	if s.cfg.Mode != Explicit {
		return nil
	}
	if _, _, err := s.cmd(234, "AUTH TLS"); err != nil {
		s.close()
		return err
	}
	tc := tls.Client(nc, s.ctrl)
	if err := tc.HandshakeContext(dctx); err != nil {
		s.close()
		return err
	}
	s.tp = textproto.NewConn(tc)
	return nil
}

// login sends USER and PASS, which ends the login's deadline.
func (s *probeSession) login() error {
	defer s.endLogin()
	code, msg, err := s.cmd(-1, "USER %s", s.cfg.User)
	if err == nil && code == 331 {
		code, msg, err = s.cmd(230, "PASS %s", s.cfg.Password)
	} else if err == nil && code != 230 {
		err = &textproto.Error{Code: code, Msg: msg}
	}
	if err != nil {
		if s.loginCut.Load() {
			return s.loginTimeout()
		}
		return s.d.explainLogin(err)
	}
	s.r.LoginReply = fmt.Sprintf("%d %s", code, oneLineText(msg))
	return nil
}

// setup reads FEAT and sets up transfers as a mount's connection does, then
// changes to the start directory.
func (s *probeSession) setup(dir string) error {
	code, msg, err := s.cmd(-1, "FEAT")
	if err != nil {
		return &DialError{Addr: s.d.addr, Err: replyError("FEAT", "", err)}
	}
	if code == 211 {
		// The first line is the text of "211-…"; features follow, indented.
		for _, line := range strings.Split(msg, "\n")[1:] {
			if strings.HasPrefix(line, " ") && strings.TrimSpace(line) != "" {
				s.r.Features = append(s.r.Features, strings.TrimSpace(line))
			}
		}
	}
	steps := []struct {
		code int
		cmd  string
		when bool
	}{
		{200, "TYPE I", true},
		{-1, "OPTS UTF8 ON", s.r.Has("UTF8")},
		{200, "PBSZ 0", s.cfg.Mode != Plain},
		{200, "PROT P", s.cfg.Mode != Plain},
	}
	for _, st := range steps {
		if !st.when {
			continue
		}
		if _, _, err := s.cmd(st.code, "%s", st.cmd); err != nil {
			return &DialError{Addr: s.d.addr, Err: replyError(st.cmd, "", err)}
		}
	}
	if _, _, err := s.cmd(250, "CWD %s", dir); err != nil {
		return replyError("start directory", dir, err)
	}
	return nil
}

// list opens one data connection (EPSV, else PASV, always to the control
// connection's peer), lists dir on it and records whether its TLS session
// resumed the control connection's.
func (s *probeSession) list(ctx context.Context, dir string) error {
	port, err := s.passive()
	if err != nil {
		return replyError("passive mode", "", err)
	}
	nd := &net.Dialer{Timeout: s.cfg.Timeout}
	raw, err := nd.DialContext(ctx, "tcp", net.JoinHostPort(s.peer, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("data connection to %s: %w", net.JoinHostPort(s.peer, strconv.Itoa(port)), wrapNet(err))
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	var data net.Conn = &deadlineConn{Conn: raw, timeout: s.cfg.Timeout}
	s.r.ListCmd = "LIST -a"
	cmd := "LIST -a" // the working directory, as pool.List does on LIST servers
	if s.r.Has("MLST") {
		s.r.ListCmd, cmd = "MLSD", "MLSD "+dir
	}
	if _, _, err := s.cmd(1, "%s", cmd); err != nil {
		return replyError(s.r.ListCmd, dir, err)
	}
	if s.data != nil {
		// After the 1xx reply, as jlaffaye/ftp does: some servers start TLS
		// on the data port only then.
		tc := tls.Client(data, s.data)
		herr := tc.HandshakeContext(ctx)
		st := tc.ConnectionState()
		s.r.DataTLS, s.r.DataResumed, s.r.DataVersion = herr == nil, st.DidResume, st.Version
		if herr != nil {
			return s.dataFailed(dir, fmt.Errorf("TLS on the data connection: %w", herr))
		}
		data = tc
	}
	var lines []string
	sc := bufio.NewScanner(&capReader{r: data, cap: newListingCap(s.cfg.MaxListing)})
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); errors.Is(err, ErrListingTooLarge) {
		return fmt.Errorf("%s %s: %w", s.r.ListCmd, dir, err) // the session is closed after
	} else if err != nil && !errors.Is(err, io.EOF) {
		return s.dataFailed(dir, err)
	}
	_ = data.Close()
	if _, _, err := s.cmd(2, ""); err != nil {
		return replyError(s.r.ListCmd, dir, err)
	}
	s.r.Entries, s.r.Precision = listingPrecision(s.r.ListCmd == "MLSD", lines, s.r.Has("MDTM"))
	return nil
}

// dataFailed reads the control connection's verdict on a failed transfer
// (vsftpd: "522 SSL connection failed: session reuse required") and reports
// both.
func (s *probeSession) dataFailed(dir string, err error) error {
	if _, _, rerr := s.cmd(2, ""); rerr != nil {
		var te *textproto.Error
		if errors.As(rerr, &te) {
			return fmt.Errorf("%s %s: %d %s (%v)", s.r.ListCmd, dir, te.Code, oneLineText(te.Msg), err)
		}
	}
	return fmt.Errorf("%s %s: %w", s.r.ListCmd, dir, wrapNet(err))
}

func (s *probeSession) passive() (int, error) {
	s.r.DataCmd = "EPSV"
	_, msg, err := s.cmd(229, "EPSV")
	if err == nil {
		start, end := strings.Index(msg, "|||"), strings.LastIndex(msg, "|")
		if start >= 0 && start+3 < end {
			if port, perr := strconv.Atoi(msg[start+3 : end]); perr == nil {
				return port, nil
			}
		}
	}
	s.r.DataCmd = "PASV"
	_, msg, err = s.cmd(227, "PASV")
	if err != nil {
		return 0, err
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

// cmd sends a command (none when format is "") and reads the reply, which
// must have code expect (-1: any; 1, 2: any of that class).
func (s *probeSession) cmd(expect int, format string, args ...any) (int, string, error) {
	if format != "" {
		line := fmt.Sprintf(format, args...)
		if strings.ContainsAny(line, "\r\n") {
			return 0, "", ErrBadPath
		}
		s.trace(">", line)
		if err := s.tp.PrintfLine("%s", line); err != nil {
			return 0, "", err
		}
	}
	code, msg, err := s.tp.ReadResponse(max(expect, 0))
	if code != 0 {
		s.trace("<", fmt.Sprintf("%d %s", code, msg))
	}
	return code, msg, err
}

func (s *probeSession) trace(dir, line string) {
	if s.cfg.Debug {
		for _, l := range strings.Split(line, "\n") {
			s.cfg.Logger.Debug("ftp", "server", s.d.addr, "line", dir+" "+maskPassword(strings.TrimRight(l, "\r")))
		}
	}
}

func (s *probeSession) quit() {
	if s.tp != nil {
		_, _, _ = s.cmd(-1, "QUIT")
	}
}

// loginTimeout is the error of a login its deadline cut.
func (s *probeSession) loginTimeout() error {
	return &DialError{Addr: s.d.addr, Err: fmt.Errorf("greeting and login not complete within timeout (%v): %w", s.cfg.Timeout, os.ErrDeadlineExceeded)}
}

func (s *probeSession) close() {
	if s.endLogin != nil {
		s.endLogin()
	}
	if s.stop != nil {
		s.stop()
	}
	if s.raw != nil {
		_ = s.raw.Close()
	}
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
