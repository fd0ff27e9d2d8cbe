package testserver

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// GreetingFault is what a front on the control port does: the first
// Forward connections reach the server; later ones get a greeting that
// never completes in time. With Endless they get "220-" lines as fast as
// they read them, for ever; otherwise "220 slow greeting\r\n" one byte
// every Delay (default 1 s).
type GreetingFault struct {
	Forward int
	Endless bool
	Delay   time.Duration
}

// front is the TCP front of the control port.
type front struct {
	addr  string
	ln    net.Listener
	to    string
	fault GreetingFault

	mu      sync.Mutex
	n       int // connections accepted
	greeted int // connections being sent the bad greeting now
	stalled int // connections ever sent it
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	closed  bool
}

func startFront(listen, to string, fault GreetingFault) (*front, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if fault.Delay <= 0 {
		fault.Delay = time.Second
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("testserver: greeting front: %w", err)
	}
	f := &front{addr: ln.Addr().String(), ln: ln, to: to, fault: fault, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *front) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			c.Close()
			return
		}
		f.n++
		forward := f.n <= f.fault.Forward
		f.conns[c] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go func() {
			defer f.wg.Done()
			defer f.forget(c)
			if forward {
				f.forward(c)
				return
			}
			f.count(1)
			defer f.count(-1)
			f.greet(c)
		}()
	}
}

func (f *front) count(d int) {
	f.mu.Lock()
	f.greeted += d
	if d > 0 {
		f.stalled++
	}
	f.mu.Unlock()
}

// GreetingsStalled is the number of connections ever sent the slow or
// endless greeting.
func (e *Embedded) GreetingsStalled() int {
	if e.front == nil {
		return 0
	}
	e.front.mu.Lock()
	defer e.front.mu.Unlock()
	return e.front.stalled
}

// GreetingConns is the number of connections the greeting front is
// sending its slow or endless greeting to now: each ends when the client
// closes it.
func (e *Embedded) GreetingConns() int {
	if e.front == nil {
		return 0
	}
	e.front.mu.Lock()
	defer e.front.mu.Unlock()
	return e.front.greeted
}

func (f *front) forget(c net.Conn) {
	c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// forward joins c to a new connection to the server until either ends.
func (f *front) forward(c net.Conn) {
	s, err := net.Dial("tcp", f.to)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.conns[s] = struct{}{}
	f.mu.Unlock()
	defer f.forget(s)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done // one side ended: closing both ends the other copy
	s.Close()
	c.Close()
	<-done
}

// greet sends the slow or endless greeting until the client goes away.
func (f *front) greet(c net.Conn) {
	if f.fault.Endless {
		line := []byte("220-an endless greeting, line after line after line\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	}
	// Reading sees the client close its end, so the loop ends with it.
	gone := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, c); close(gone) }()
	for _, b := range []byte("220 slow greeting\r\n") {
		select {
		case <-gone:
			return
		case <-time.After(f.fault.Delay):
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
	}
	<-gone
}

// close stops accepting, ends every connection and waits for their
// goroutines.
func (f *front) close() {
	f.mu.Lock()
	f.closed = true
	f.ln.Close()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
