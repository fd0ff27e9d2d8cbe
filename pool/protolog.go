package pool

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// protocolLog turns jlaffaye/ftp's raw debug stream (both directions) into
// one debug line per protocol line, with the password masked.
type protocolLog struct {
	mu     sync.Mutex
	log    *slog.Logger
	server string
	buf    bytes.Buffer
}

func newProtocolLog(log *slog.Logger, server string) *protocolLog {
	return &protocolLog{log: log, server: server}
}

func (p *protocolLog) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadString('\n')
		if err != nil {
			// incomplete line: keep it for the next write
			rest := []byte(line)
			p.buf.Reset()
			p.buf.Write(rest)
			return len(b), nil
		}
		p.log.Debug("ftp", "server", p.server, "line", maskPassword(strings.TrimRight(line, "\r\n")))
	}
}

func maskPassword(line string) string {
	if len(line) >= 5 && strings.EqualFold(line[:5], "PASS ") {
		return "PASS ****"
	}
	return line
}
