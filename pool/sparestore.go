package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Uploads on the spare. A whole-file upload through the library costs
// EPSV, the data connection's TCP connect, STOR and its TLS handshake, the
// data, the final reply and the SIZE check: on a link 20-150 ms away most
// of that is round trips, and a program copying many small files (cp -r)
// pays them for every file. The spare (spare.go) has EPSV sent and its
// data connection connected, with the TLS ClientHello already on its way,
// so STOR's 150 and the server's half of the handshake come back in the
// same round trip: an upload on the spare saves two round trips of seven.
// The guarantees are the library path's: the data connection is closed
// carefully (close_notify, then read until the server closes: see
// dialData), the final reply and SIZE decide, and each control-channel wait
// is bounded by timeout (phase.go).

// storeOnSpare uploads src to target on s. Failures of the spare itself
// (its data connection refused or cut, the control connection out of step)
// come back wrapping errSpare: nothing the server said about the file, so
// the caller uploads the whole file again the ordinary way. The server's
// verdict (a refusal, a size that does not match) is returned as it is.
func (p *Pool) storeOnSpare(ctx context.Context, s *spare, target string, src io.Reader, size int64) error {
	tp, err := libraryConn(s.c.sc)
	if err != nil || tp.R.Buffered() > 0 {
		p.dropSpare(s)
		return fmt.Errorf("%w: %v", errSpare, err)
	}
	p.adopt(s.c, ctx, false) // a command, as the library path's STOR is
	var verdict error        // the server's answer about the file
	usable, err := p.run(ctx, s.c, "STOR", target, func() error {
		ph := s.c.startPhase(p.cfg.Timeout)
		var err error
		verdict, err = p.sendOnSpare(s, tp, ph, target, src, size)
		if ph.end() {
			// The cut's own error (a closed connection) would hide why.
			return ph.err("the upload's replies")
		}
		return err
	})
	if err != nil || !usable {
		p.dropSpare(s)
		if ctx.Err() != nil {
			return ctxError("STOR", target, ctx)
		}
		if errors.Is(err, ErrPreempted) {
			return err
		}
		return fmt.Errorf("%w: %v", errSpare, err)
	}
	_ = s.data.Close()
	if verdict != nil {
		p.countListener(s.c) // a refused STOR may leave vsftpd's listener
	}
	p.put(s.c, false)
	if code := replyCode(verdict); code == 425 || code == 426 {
		// About the data connection (a server may give up on one left
		// waiting), not the file.
		return fmt.Errorf("%w: STOR: %v", errSpare, verdict)
	}
	if verdict != nil {
		return replyError("STOR", target, verdict)
	}
	p.Metrics.SpareStores.Add(1)
	return nil
}

// sendOnSpare is storeOnSpare's exchange with the server: STOR, the data,
// the final reply and SIZE. verdict is the server's refusal or a size that
// does not match; err, a failure of the connections.
func (p *Pool) sendOnSpare(s *spare, tp *textproto.Conn, ph *phase, target string, src io.Reader, size int64) (verdict, err error) {
	if err := tp.PrintfLine("STOR %s", target); err != nil {
		return nil, err
	}
	if _, _, err := tp.ReadResponse(1); err != nil {
		if isReply(err) {
			return err, nil
		}
		return nil, err
	}
	body := &phasedSource{r: src, ph: ph}
	if _, err := body.WriteTo(s.data); err != nil {
		return nil, err
	}
	// The size check goes out before the data connection is closed: FTP
	// servers answer commands one at a time, so it is read once the
	// transfer is over and its answer comes back with the final reply, a
	// round trip sooner than asked after it. A server that answered it
	// while still storing shows too small a size or none: then it is asked
	// again, after the final reply, as the library path asks.
	if err := tp.PrintfLine("SIZE %s", target); err != nil {
		return nil, err
	}
	if err := s.data.Close(); err != nil {
		return nil, err
	}
	final, sized, err := readFinalAndSize(tp)
	if err != nil {
		return nil, err
	}
	if final.code/100 != 2 {
		return final.err(), nil
	}
	held, ok := int64(-1), false
	if sized.code == 213 {
		held, ok = parseSize(sized.msg)
	}
	if !ok || held != size {
		if held, err = remoteSize(s.c, target); err != nil {
			if replyCode(err) != 0 { // remoteSize wraps replies in *ReplyError
				return err, nil
			}
			return nil, err
		}
	}
	if held != size || body.n != size {
		return fmt.Errorf("STOR %s: %w (sent %d, server has %d)", target, ErrSizeMismatch, body.n, held), nil
	}
	return nil, nil
}

// readFinalAndSize reads the transfer's final reply and the answer to the
// SIZE sent before it, in whichever order the server gave them: a 213, or
// a refusal followed by the transfer's success, is SIZE answered early.
func readFinalAndSize(tp *textproto.Conn) (final, sized reply, err error) {
	var r [2]reply
	for i := range r {
		code, msg, err := tp.ReadResponse(0)
		if err != nil {
			return reply{}, reply{}, wrapNet(err)
		}
		r[i] = reply{code, msg}
	}
	transferDone := func(c int) bool { return c == 226 || c == 250 }
	if r[0].code == 213 || r[0].code/100 >= 4 && transferDone(r[1].code) {
		return r[1], r[0], nil
	}
	return r[0], r[1], nil
}

// parseSize reads SIZE's "213 n".
func parseSize(msg string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(msg), 10, 64)
	return n, err == nil && n >= 0
}

// adopt makes c, lent as the spare (background), the connection of the
// foreground work under ctx that took it: it no longer counts among
// background lends, and is never taken back. A read keeps it as a stream
// (as a Reader's would be); an upload makes it a command's, as the
// library path's STOR is, so it does not take the stream slot kept free
// for commands.
func (p *Pool) adopt(c *conn, ctx context.Context, asStream bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.bg {
		p.bgLent--
		if c.stream {
			p.bgStreams--
		}
		c.bg = false
	}
	if c.stream && !asStream {
		p.streams--
		c.stream = false
		p.signalLocked() // a stream slot came free
	}
	c.holder = ctx
}

// storeFast is Store's first try: on the spare, when there is one ready.
// It reports whether it ran; false means the caller uploads the ordinary
// way (no spare, or the spare failed before the server judged the file).
func (p *Pool) storeFast(ctx context.Context, target string, src io.ReaderAt, size int64) (bool, error) {
	if size == 0 {
		// Nothing to write: the data connection's TLS handshake would have
		// to be finished by hand before closing it (the library does).
		return false, nil
	}
	s := p.takeSpareNow()
	p.refillSpare() // for the next upload (cp -r), while this one runs
	if s == nil {
		return false, nil
	}
	ctx, cancel := p.opContext(ctx) // a short wait while the server is not answering, as do gives
	defer cancel()
	start := time.Now()
	err := p.storeOnSpare(ctx, s, target, io.NewSectionReader(src, 0, size), size)
	if errors.Is(err, errSpare) {
		// Not reported as a failed STOR: the ordinary upload that follows is.
		p.log.Debug("spare data connection failed; uploading on a fresh one", "path", target, "err", err)
		return false, nil
	}
	p.report("STOR", target, start, err)
	return true, err
}

// takeSpareNow is takeSpare without waiting for one being prepared: an
// upload gains nothing from a spare that is not there yet.
func (p *Pool) takeSpareNow() *spare {
	p.spares.mu.Lock()
	s := p.spares.s
	p.spares.s = nil
	p.spares.mu.Unlock()
	return p.freshSpare(s)
}
