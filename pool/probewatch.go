package pool

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
)

// watchLogin makes d's logins fill r: the address reached, the TLS
// handshake (certificate chain, how it was trusted or why not, whether a
// client certificate was asked for) and, through each connection's
// transcript, the greeting, the login reply and FEAT.
func watchLogin(d *dialer, r *ProbeReport) {
	d.watch = &loginWatch{connected: func(raw net.Conn) { r.Remote = raw.RemoteAddr().String() }}
	if d.base == nil {
		return // plain FTP
	}
	var mine *tls.Certificate
	if len(d.base.Certificates) > 0 {
		mine = &d.base.Certificates[0]
		r.ClientCert = mine.Leaf
	}
	t := d.trust
	d.watch.tls = func(ctrl *tls.Config) {
		// Verification as base's VerifyConnection does it, recorded; with
		// insecure, what it would have said.
		ctrl.VerifyConnection = func(cs tls.ConnectionState) error {
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
		// The certificate crypto/tls would send from Certificates, noting
		// that the server asked.
		ctrl.Certificates = nil
		ctrl.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			r.ClientCertAsked = true
			if mine == nil || cri.SupportsCertificate(mine) != nil {
				return &tls.Certificate{}, nil
			}
			return mine, nil
		}
	}
}

// probeTranscript reads one control connection's conversation (both
// directions, as jlaffaye/ftp's debug output writes it) for the replies the
// report shows. The conversation is lockstep, so a line is a reply when it
// starts with a code or continues a multi-line reply, and a command
// otherwise; commands are kept only as their verb (PASS's argument is the
// password).
type probeTranscript struct {
	r       *ProbeReport
	partial []byte
	verb    string   // the last command sent; "" before the first
	code    string   // the multi-line reply being read; "" between replies
	lines   []string // its lines, codes stripped, as textproto returns them
}

func newProbeTranscript(r *ProbeReport) *probeTranscript { return &probeTranscript{r: r} }

func (p *probeTranscript) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(p.partial)+len(b) <= maxReplyBytes {
				p.partial = append(p.partial, b...)
			} else {
				p.partial = p.partial[:0] // no reply the library would accept either
			}
			break
		}
		line := string(append(p.partial, b[:i]...))
		p.partial = p.partial[:0]
		p.line(strings.TrimRight(line, "\r"))
		b = b[i+1:]
	}
	return n, nil
}

func (p *probeTranscript) line(line string) {
	if p.code != "" {
		if rest, ok := strings.CutPrefix(line, p.code+" "); ok {
			p.reply(p.code, append(p.lines, rest))
			return
		}
		p.lines = append(p.lines, strings.TrimPrefix(line, p.code+"-"))
		return
	}
	if len(line) >= 4 && isCode(line[:3]) && (line[3] == ' ' || line[3] == '-') {
		if line[3] == '-' {
			p.code, p.lines = line[:3], []string{line[4:]}
			return
		}
		p.reply(line[:3], []string{line[4:]})
		return
	}
	if len(line) == 3 && isCode(line) {
		p.reply(line, []string{""})
		return
	}
	verb, _, _ := strings.Cut(line, " ")
	p.verb = strings.ToUpper(verb)
}

func (p *probeTranscript) reply(code string, lines []string) {
	p.code, p.lines = "", nil
	msg := strings.Join(lines, "\n")
	switch {
	case p.verb == "" && code == "220" && p.r.Greeting == "":
		p.r.Greeting = oneLineText(msg)
	case (p.verb == "PASS" || p.verb == "USER") && code == "230":
		p.r.LoginReply = fmt.Sprintf("%s %s", code, oneLineText(msg))
	case p.verb == "FEAT" && code == "211":
		// The first line is the text of "211-…"; features follow, indented.
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, " ") && strings.TrimSpace(l) != "" {
				p.r.Features = append(p.r.Features, strings.TrimSpace(l))
			}
		}
	}
}

func isCode(s string) bool {
	return len(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}
