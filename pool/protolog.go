package pool

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
)

// protocolLog turns jlaffaye/ftp's raw debug stream (both directions) into
// one debug line per protocol line, with the password masked. Each control
// connection gets its own log, and its lines a conn=N, so the conversations
// of several connections can be told apart where they interleave.
type protocolLog struct {
	mu     sync.Mutex
	log    *slog.Logger
	server string
	id     int64
	buf    bytes.Buffer
}

// connIDs numbers control connections in the order they are dialed, 1 up.
var connIDs atomic.Int64

func newProtocolLog(log *slog.Logger, server string) *protocolLog {
	return &protocolLog{log: log, server: server, id: connIDs.Add(1)}
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
		p.log.Debug("ftp", "conn", p.id, "server", p.server, "line", maskPassword(strings.TrimRight(line, "\r\n")))
	}
}

func maskPassword(line string) string {
	if len(line) >= 5 && strings.EqualFold(line[:5], "PASS ") {
		return "PASS ****"
	}
	return line
}
