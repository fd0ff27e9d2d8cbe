package main

import (
	"net"
	"sync"
	"testing"
	"time"
)

// dripServer greets with "220 " and then one byte every interval, never
// ending the line.
func dripServer(t *testing.T, every time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if _, err := c.Write([]byte("220 ")); err != nil {
					return
				}
				for {
					time.Sleep(every)
					if _, err := c.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// Before the fix check waited 20 s for a greeting sent a byte at a time
// with timeout=5s: each byte renewed the per-read timeout, and only the
// check's overall bound (four timeouts) ended it.
func TestCheckDrippingGreetingEndsWithinTimeout(t *testing.T) {
	addr := dripServer(t, 200*time.Millisecond)
	t.Setenv("FTPSFS_PASSWORD", "pw")
	start := time.Now()
	code, out, _ := runCheckCmd(t, "ftp://u@"+addr+"/", "-o", "tls=none,timeout=1s")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("check took %v with timeout=1s", took)
	}
	if code != exitFailure {
		t.Errorf("exit %d, want %d:\n%s", code, exitFailure, out)
	}
}
