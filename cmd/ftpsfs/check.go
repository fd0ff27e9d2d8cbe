package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ftpsfs/ftpsfs/mountopts"
	"github.com/ftpsfs/ftpsfs/pool"
)

// check connects as a mount would, prints what a person debugging the
// server needs (address, TLS, certificate chain, login, features, data
// connection, listing) and the mount options it recommends, and says whether
// a mount would work: exit 0 if so, else the reason as the error.
func check(cfg *mountopts.Config, options []string, stdout io.Writer) (int, error) {
	log := slog.New(slog.DiscardHandler)
	if cfg.Debug {
		// The FTP conversation, PASS masked, on stderr beside the report.
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	pc := poolConfig(cfg, log)
	// Every network step has its own deadline (timeout=); this bounds the
	// whole check, which makes a few connections in turn.
	ctx, cancel := context.WithTimeout(context.Background(), 4*cfg.Timeout)
	defer cancel()
	c := &checker{cfg: cfg, options: options, pc: pc, out: stdout}

	// Probe logs in with the pool's own dialer: what it reports is the
	// login a mount makes, and a fix to that login applies to both.
	rep, err := pool.Probe(ctx, pc, cfg.Root)
	c.report(rep)
	if err == nil && rep.DataTLS && !rep.DataResumed {
		c.line("", "  servers that require session reuse (vsftpd, proftpd) refuse such transfers")
	}
	if err != nil || (rep.DataTLS && !rep.DataResumed) {
		c.tryOtherVersions(ctx, rep, err)
	}
	if err != nil {
		c.certAdvice(err)
		c.finish(false)
		return 0, err
	}

	// The mount's own client (jlaffaye/ftp through the pool), as serve does.
	p, err := pool.New(pc)
	if err != nil {
		c.finish(false)
		return 0, err
	}
	defer p.Close()
	if err = p.Check(ctx, cfg.Root); err == nil {
		var entries int
		if list, lerr := p.List(ctx, cfg.Root); lerr != nil {
			err = lerr
		} else {
			entries = len(list)
		}
		if err == nil {
			c.line("mount path", "ok: the mount's client logged in and listed "+plural(entries, "entry", "entries"))
		}
	}
	if err != nil {
		c.line("mount path", "FAILED: "+userMessage(err))
		c.finish(false)
		return 0, err
	}
	if cfg.Connections > 1 {
		c.connections(ctx, p)
	}
	if !cfg.ReadOnly {
		c.capabilities(ctx, p)
	}
	c.insecureAdvice(rep)
	c.finish(true)
	return exitOK, nil
}

// checker prints the report and gathers recommendations.
type checker struct {
	cfg     *mountopts.Config
	options []string // the -o arguments as given, for "mount with"
	pc      pool.Config
	out     io.Writer
	recs    []recommendation
	// replaced are options the recommendations supersede in "mount with".
	replaced []string
}

type recommendation struct{ option, why string }

func (c *checker) recommend(option, why string) {
	c.recs = append(c.recs, recommendation{option, why})
}

// line prints one line of the report. Much of it is the server's (replies,
// features, certificate names), so control bytes are escaped here, once.
func (c *checker) line(label, text string) {
	if label != "" {
		label += ":"
	}
	fmt.Fprintf(c.out, "%-14s%s\n", label, pool.TerminalSafe(text))
}

func (c *checker) report(r *pool.ProbeReport) {
	addr := r.Addr
	if len(r.Resolved) > 0 {
		addr += " (resolves to " + strings.Join(r.Resolved, ", ") + ")"
	}
	c.line("address", addr)
	if r.Remote == "" {
		return
	}
	c.line("connected", r.Remote)
	if r.Greeting != "" {
		c.line("greeting", "220 "+r.Greeting)
	}
	switch r.Mode {
	case pool.Plain:
		c.line("security", "plain FTP (tls=none): the password and all data cross the network unencrypted")
	default:
		mode := "explicit TLS (AUTH TLS)"
		if r.Mode == pool.Implicit {
			mode = "implicit TLS"
		}
		if r.TLSVersion != 0 {
			mode += ", TLS " + pool.TLSVersionName(r.TLSVersion) + ", " + tls.CipherSuiteName(r.CipherSuite)
		}
		c.line("security", mode)
	}
	c.chain(r.Chain)
	switch {
	case r.CertErr != nil:
		c.line("verification", "FAILED: "+r.CertErr.Reason)
	case r.Unverified != nil:
		c.line("verification", "skipped (insecure); it would fail: "+r.Unverified.Reason)
	case r.Trusted != "":
		c.line("verification", "ok: "+r.Trusted)
	}
	if r.Mode != pool.Plain && r.TLSVersion != 0 {
		c.line("client cert", clientCertText(r))
	}
	if r.LoginReply == "" {
		return
	}
	c.line("login", fmt.Sprintf("ok as %q (%s; password from %s)", c.cfg.User, r.LoginReply, sourceName(c.cfg.PasswordSource)))
	c.line("features", featureSummary(r))
	if len(r.Features) > 0 {
		c.line("FEAT", strings.Join(r.Features, ", "))
	}
	if r.DataCmd == "" {
		return
	}
	data := r.DataCmd
	if r.DataTLS {
		resumed := "yes"
		if !r.DataResumed {
			resumed = "NO"
		}
		data += ", TLS " + pool.TLSVersionName(r.DataVersion) + ", session resumed: " + resumed
	} else if r.Mode != pool.Plain {
		data += ", TLS handshake failed"
	}
	c.line("data", data)
	if r.Precision != "" {
		c.line("listing", fmt.Sprintf("%s of %s: %s", r.ListCmd, r.Dir, plural(r.Entries, "entry", "entries")))
		c.line("times", r.Precision)
	}
}

func (c *checker) chain(chain []*x509.Certificate) {
	for i, cert := range chain {
		label := ""
		if i == 0 {
			label = "certificate"
		}
		fp := pool.FormatFingerprint(sha256.Sum256(cert.Raw))
		issuer := cert.Issuer.String()
		if issuer == cert.Subject.String() {
			issuer += " (self-signed)"
		}
		c.line(label, fmt.Sprintf("[%d] subject %s", i, cert.Subject))
		c.line("", "    issuer  "+issuer)
		c.line("", fmt.Sprintf("    valid   %s to %s", cert.NotBefore.UTC().Format("2006-01-02 15:04"), cert.NotAfter.UTC().Format("2006-01-02 15:04 MST")))
		if names := pool.CertNames(cert); len(names) > 0 && i == 0 {
			c.line("", "    names   "+strings.Join(names, ", "))
		}
		c.line("", "    sha256  "+fp)
	}
}

func clientCertText(r *pool.ProbeReport) string {
	switch {
	case !r.ClientCertAsked && r.ClientCert == nil:
		return "not asked for"
	case !r.ClientCertAsked:
		return "configured, but the server did not ask for one"
	case r.ClientCert == nil && r.LoginReply != "":
		return "the server asked for one and went on without (none configured)"
	case r.ClientCert == nil:
		return "the server asked for one; none configured (client_cert=)"
	}
	return fmt.Sprintf("asked for; sent %s (issuer %s, valid to %s)", r.ClientCert.Subject, r.ClientCert.Issuer,
		r.ClientCert.NotAfter.UTC().Format(time.DateOnly))
}

// featureSummary lists the features ftpsfs uses, each yes or no.
func featureSummary(r *pool.ProbeReport) string {
	var parts []string
	for _, f := range []struct{ show, feat string }{
		{"MLSD", "MLST"}, {"MLST", "MLST"}, {"MFMT", "MFMT"}, {"MDTM", "MDTM"}, {"SIZE", "SIZE"},
		{"REST STREAM", "REST STREAM"}, {"EPSV", "EPSV"}, {"UTF8", "UTF8"},
	} {
		yes := "no"
		if r.Has(f.feat) {
			yes = "yes"
		}
		parts = append(parts, f.show+" "+yes)
	}
	return strings.Join(parts, ", ")
}

// tryOtherVersions probes again with the other TLS version when the
// handshake or the data connection failed with the configured ones: a
// server that works with only one of them gets a concrete tls_max=.
func (c *checker) tryOtherVersions(ctx context.Context, rep *pool.ProbeReport, err error) {
	if c.pc.Mode == pool.Plain || errors.As(err, new(*pool.CertError)) {
		return
	}
	if err != nil && !errors.Is(err, pool.ErrHandshake) && !(rep.DataTLS && !rep.DataResumed) {
		return
	}
	alt := tls.VersionTLS12
	if c.pc.TLS.MaxVersion == tls.VersionTLS12 {
		alt = tls.VersionTLS13
	}
	pc := c.pc
	pc.TLS.MinVersion, pc.TLS.MaxVersion = uint16(alt), uint16(alt)
	pc.Debug = false
	r2, err2 := pool.Probe(ctx, pc, c.cfg.Root)
	if err2 != nil || (r2.DataTLS && !r2.DataResumed) {
		return
	}
	switch {
	case alt == tls.VersionTLS13:
		c.recommend("tls_max=1.3", "the server works with TLS 1.3 and not with 1.2 (this replaces tls_max=1.2)")
		c.replaced = append(c.replaced, "tls_max")
	case c.cfg.TLSMin == tls.VersionTLS13:
		c.recommend("tls_min=1.2", "the server works with TLS 1.2 and not with 1.3 (this replaces tls_min=1.3)")
		c.replaced = append(c.replaced, "tls_min")
	default:
		c.recommend("tls_max=1.2", "the server works with TLS 1.2 and not with 1.3")
	}
}

// certAdvice turns a refused certificate into the option that would trust it,
// where one can.
func (c *checker) certAdvice(err error) {
	var ce *pool.CertError
	if !errors.As(err, &ce) {
		return
	}
	fp := "fingerprint=" + pool.FormatFingerprint(ce.Fingerprint)
	switch {
	case ce.Problems&pool.CertPinMismatch != 0:
		c.recommend(fp, "the server now presents this certificate; pin it (replacing the old pin) only if its administrator confirms the change")
		c.replaced = append(c.replaced, "fingerprint")
	case ce.Problems&(pool.CertExpired|pool.CertNotYetValid) != 0:
		c.line("", "  no option makes an expired or not yet valid certificate acceptable: the server needs a valid one")
	default:
		c.recommend(fp, "trusts exactly this certificate; first compare the fingerprint with one from the server's administrator")
		if ce.Problems&pool.CertUnknownAuthority != 0 && ce.Problems&pool.CertSelfSigned == 0 {
			c.recommend("cafile=PATH", fmt.Sprintf("or trust the CA that issued it (%s), in a PEM file", ce.Issuer))
		}
		if ce.Problems&pool.CertNameMismatch != 0 && ce.Problems&pool.CertUnknownAuthority == 0 && len(ce.Names) > 0 {
			c.line("", fmt.Sprintf("  or connect by a name the certificate is issued for: %s", strings.Join(ce.Names, ", ")))
		}
	}
}

// insecureAdvice offers a pin in place of insecure.
func (c *checker) insecureAdvice(rep *pool.ProbeReport) {
	if !c.cfg.Insecure || len(rep.Chain) == 0 {
		return
	}
	c.replaced = append(c.replaced, "insecure")
	if rep.Unverified == nil {
		c.recommend("(drop insecure)", "the certificate verifies without it")
		return
	}
	c.recommend("fingerprint="+pool.FormatFingerprint(sha256.Sum256(rep.Chain[0].Raw)),
		"instead of insecure: trusts exactly this certificate and keeps out any other")
}

// connections learns whether the server allows as many control connections
// as the mount will open (the pool holds one already).
func (c *checker) connections(ctx context.Context, p *pool.Pool) {
	want := c.cfg.Connections
	pc := c.pc
	pc.Debug = false // concurrent logins would interleave their lines
	accepted, refusal := pool.ProbeConnections(ctx, pc, want-p.OpenConns())
	if refusal == "" {
		c.line("connections", fmt.Sprintf("%d at once: accepted", want))
		return
	}
	allowed := accepted + p.OpenConns()
	c.line("connections", fmt.Sprintf("the server accepted %d of %d at once (%s)", allowed, want, refusal))
	c.recommend(fmt.Sprintf("connections=%d", allowed), "the server refuses more; ftpsfs would adapt, but each refusal costs a round trip")
	c.replaced = append(c.replaced, "connections")
}

func (c *checker) finish(ok bool) {
	if ok && len(c.recs) == 0 {
		// Only when the mount would work: after a failure, the options given
		// are not enough.
		c.line("recommended", "nothing beyond the options given")
	}
	for i, r := range c.recs {
		label := ""
		if i == 0 {
			label = "recommended"
		}
		c.line(label, "-o "+r.option)
		c.line("", "    "+r.why)
	}
	if ok || len(c.recs) > 0 {
		c.line("mount with", c.mountCommand())
	}
	if ok {
		c.line("result", "a mount would work")
		return
	}
	c.line("result", "a mount would fail (the reason follows on stderr)")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func sourceName(s string) string {
	if s == "" {
		return "the parent process"
	}
	return s
}
