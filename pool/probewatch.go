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
// password), and the password is masked in whatever a server says.
//
// The debug output tees what the library reads, which may go on past the
// reply it returns: a server that sends its USER reply and the start of
// another in one write has both read, and the library then writes PASS
// while the transcript is inside that second reply. So after a chunk that
// went on past the end of a reply, a write shaped like a command (one
// line, a verb first: jlaffaye/ftp writes each command in one write) is
// taken for the client's, never for a line of the reply.
type probeTranscript struct {
	r        *ProbeReport
	password string // masked in the report
	partial  []byte
	verb     string   // the last command sent; "" before the first
	code     string   // the multi-line reply being read; "" between replies
	lines    []string // its lines, codes stripped, as textproto returns them
	ahead    bool     // the last chunk went on past the end of a reply
}

func newProbeTranscript(r *ProbeReport, password string) *probeTranscript {
	return &probeTranscript{r: r, password: password}
}

func (p *probeTranscript) Write(b []byte) (int, error) {
	n := len(b)
	if p.ahead && isCommandWrite(b) {
		p.ahead = false
		p.command(string(b))
		return n, nil
	}
	ended := false
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
		if p.line(strings.TrimRight(line, "\r")) {
			ended = true
		}
		b = b[i+1:]
	}
	p.ahead = ended && (p.code != "" || len(p.partial) > 0)
	return n, nil
}

// isCommandWrite says whether b is one command line as the library
// writes it: a verb of letters, then a space or the line's end.
func isCommandWrite(b []byte) bool {
	line, ok := bytes.CutSuffix(b, []byte("\r\n"))
	if !ok || bytes.IndexByte(line, '\n') >= 0 {
		return false
	}
	verb, _, _ := bytes.Cut(line, []byte(" "))
	if len(verb) < 3 || len(verb) > 4 {
		return false
	}
	for _, c := range verb {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// command notes a command's verb; the rest is never kept.
func (p *probeTranscript) command(line string) {
	verb, _, _ := strings.Cut(line, " ")
	p.verb = strings.ToUpper(strings.TrimRight(verb, "\r\n"))
}

// line takes one line of the conversation; it reports whether a reply
// ended with it.
func (p *probeTranscript) line(line string) bool {
	if p.code != "" {
		if rest, ok := strings.CutPrefix(line, p.code+" "); ok {
			p.reply(p.code, append(p.lines, rest))
			return true
		}
		p.lines = append(p.lines, strings.TrimPrefix(line, p.code+"-"))
		return false
	}
	if len(line) >= 4 && isCode(line[:3]) && (line[3] == ' ' || line[3] == '-') {
		if line[3] == '-' {
			p.code, p.lines = line[:3], []string{line[4:]}
			return false
		}
		p.reply(line[:3], []string{line[4:]})
		return true
	}
	if len(line) == 3 && isCode(line) {
		p.reply(line, []string{""})
		return true
	}
	p.command(line)
	return false
}

func (p *probeTranscript) reply(code string, lines []string) {
	p.code, p.lines = "", nil
	if p.password != "" {
		for i, l := range lines {
			lines[i] = strings.ReplaceAll(l, p.password, "****")
		}
	}
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
