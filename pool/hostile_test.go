package pool

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostile is a small plain-FTP server (LIST, no MLSD) whose greeting,
// replies and listings a test scripts, to play servers that never stop
// sending. Unscripted commands get a plausible answer.
type hostile struct {
	t  *testing.T
	ln net.Listener
	// greet writes the greeting; nil sends "220 hostile".
	greet func(w net.Conn) error
	// reply, when it returns true, has answered the command itself.
	reply func(w net.Conn, verb, arg string) bool
	// beforeFinal, if set, hears each transfer's verb once its data is
	// done, before its final reply, with the bytes of later commands the
	// client had sent by then.
	beforeFinal func(verb string, ahead int)
	// seen, if set, hears each command with the bytes of later commands
	// already received (pipelined) when it was read.
	seen func(verb string, ahead int)
	// list writes a listing of the working directory on the data
	// connection; nil sends one file. It returns when it is done or a write
	// failed.
	list func(dir string, data net.Conn) error
	// final writes the final reply of a transfer (LIST, RETR, STOR) whose
	// data went well; nil sends "226 done".
	final func(w net.Conn, verb, arg string) error

	dataCut  atomic.Int32 // listings whose data connection the client closed under them
	listings atomic.Int32 // LIST commands received
	active   atomic.Int32 // listings being sent now
	logins   atomic.Int32
	mu       sync.Mutex
	conns    map[net.Conn]bool
	files    map[string][]byte // what RETR, STOR and SIZE see, by path
	wg       sync.WaitGroup
}

func startHostile(t *testing.T, setup func(h *hostile)) *hostile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{t: t, ln: ln, conns: map[net.Conn]bool{}, files: map[string][]byte{}}
	if setup != nil {
		setup(h)
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !h.track(c) {
				return
			}
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				defer h.untrack(c)
				h.serve(c)
			}()
		}
	}()
	t.Cleanup(h.close)
	return h
}

// close ends every connection, so a client stuck on one is released.
func (h *hostile) close() {
	_ = h.ln.Close()
	h.mu.Lock()
	for c := range h.conns {
		_ = c.Close()
	}
	h.conns = nil
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *hostile) track(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns == nil {
		_ = c.Close()
		return false
	}
	h.conns[c] = true
	return true
}

func (h *hostile) untrack(c net.Conn) {
	_ = c.Close()
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

func (h *hostile) config(mutate func(*Config)) Config {
	cfg := Config{Host: "127.0.0.1", Port: h.ln.Addr().(*net.TCPAddr).Port, User: "u", Password: "p",
		Mode: Plain, MaxConns: 3, Timeout: 5 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	return cfg
}

func (h *hostile) pool(mutate func(*Config)) *Pool {
	p, err := New(h.config(mutate))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = p.Close() })
	return p
}

func (h *hostile) serve(c net.Conn) {
	say := func(format string, args ...any) error {
		_, err := fmt.Fprintf(c, format+"\r\n", args...)
		return err
	}
	if h.greet != nil {
		if h.greet(c) != nil {
			return
		}
	} else if say("220 hostile") != nil {
		return
	}
	var dataLn net.Listener
	defer func() {
		if dataLn != nil {
			_ = dataLn.Close()
		}
	}()
	dir := "/"
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		verb = strings.ToUpper(verb)
		if h.seen != nil {
			h.seen(verb, r.Buffered())
		}
		if h.reply != nil && h.reply(c, verb, arg) {
			continue
		}
		switch verb {
		case "USER":
			err = say("331 password")
		case "PASS":
			h.logins.Add(1)
			err = say("230 in")
		case "FEAT":
			err = say("211-Features:\r\n SIZE\r\n211 End")
		case "TYPE", "OPTS", "NOOP":
			err = say("200 ok")
		case "CWD":
			dir = arg
			err = say("250 ok")
		case "EPSV":
			if dataLn != nil {
				_ = dataLn.Close()
			}
			dataLn, err = net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return
			}
			err = say("229 Entering Extended Passive Mode (|||%d|)", dataLn.Addr().(*net.TCPAddr).Port)
		case "SIZE":
			h.mu.Lock()
			b, ok := h.files[arg]
			h.mu.Unlock()
			if ok {
				err = say("213 %d", len(b))
			} else {
				err = say("550 no such file")
			}
		case "LIST", "RETR", "STOR":
			var data net.Conn
			data, err = h.acceptData(dataLn, say)
			dataLn = nil
			if data == nil {
				break
			}
			var derr error
			switch verb {
			case "LIST":
				h.listings.Add(1)
				h.active.Add(1)
				list := h.list
				if list == nil {
					list = func(string, net.Conn) error { return listLine(data, 0) }
				}
				derr = list(dir, data)
				h.active.Add(-1)
				if derr != nil {
					h.dataCut.Add(1)
				}
			case "RETR":
				h.mu.Lock()
				b := h.files[arg]
				h.mu.Unlock()
				_, derr = data.Write(b)
			case "STOR":
				var b []byte
				b, derr = io.ReadAll(data)
				h.mu.Lock()
				h.files[arg] = b
				h.mu.Unlock()
			}
			h.untrack(data)
			if derr == nil && h.beforeFinal != nil {
				// What the client sent ahead of the final reply: wait a
				// little for it, without consuming it.
				_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
				_, _ = r.Peek(1)
				_ = c.SetReadDeadline(time.Time{})
				h.beforeFinal(verb, r.Buffered())
			}
			if derr != nil {
				err = say("426 transfer aborted")
			} else if h.final != nil {
				err = h.final(c, verb, arg)
			} else {
				err = say("226 done")
			}

		case "QUIT":
			_ = say("221 bye")
			return
		default:
			err = say("502 not here")
		}
		if err != nil {
			return
		}
	}
}

// acceptData takes the data connection a transfer command needs and says
// 150; nil when there is none (the client got 425).
func (h *hostile) acceptData(ln net.Listener, say func(string, ...any) error) (net.Conn, error) {
	if ln == nil {
		return nil, say("425 no data connection")
	}
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	data, err := ln.Accept()
	_ = ln.Close()
	if err != nil {
		return nil, say("425 no data connection")
	}
	if !h.track(data) {
		return nil, errors.New("server closed")
	}
	if err := say("150 here it comes"); err != nil {
		h.untrack(data)
		return nil, err
	}
	return data, nil
}

// listLine writes one LIST line naming file i.
func listLine(w net.Conn, i int) error {
	_, err := fmt.Fprintf(w, "-rw-r--r--    1 1000     1000            1 Jan 01 00:00 f%d\r\n", i)
	return err
}

// endless writes LIST lines until the client stops reading; with every set,
// one line per every.
func endless(every time.Duration) func(string, net.Conn) error {
	return func(_ string, w net.Conn) error {
		for i := 0; ; i++ {
			if err := listLine(w, i); err != nil {
				return err
			}
			if every > 0 {
				time.Sleep(every)
			}
		}
	}
}

// only lists dir with list and every other directory as one file.
func only(dir string, list func(string, net.Conn) error) func(string, net.Conn) error {
	return func(d string, w net.Conn) error {
		if d == dir {
			return list(d, w)
		}
		return listLine(w, 0)
	}
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// dripReply sends "code-x" lines, one every every, until a write fails: a reply
// that never ends but never lets the per-read deadline expire.
func dripReply(w net.Conn, code int, every time.Duration) error {
	for {
		if _, err := fmt.Fprintf(w, "%d-x\r\n", code); err != nil {
			return err
		}
		time.Sleep(every)
	}
}
