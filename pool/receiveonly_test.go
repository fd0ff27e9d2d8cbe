package pool

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

// A download's data connection says close_notify as soon as its handshake
// ends, so a server that waits for it after sending the data (vsftpd does,
// before its final reply) finds it there; an upload's does not, since it
// still has to send. The server here reads first: it sees EOF at once for
// a download, and nothing (its read times out) for the other.
func TestReceiveOnlyDataConnectionClosesItsSideAfterHandshake(t *testing.T) {
	for _, receiveOnly := range []bool{true, false} {
		cert, err := testserver.SelfSigned(testserver.CertSpec{})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err
				return
			}
			defer c.Close()
			sc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
			if err := sc.Handshake(); err != nil {
				got <- err
				return
			}
			_ = sc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, err = sc.Read(make([]byte, 1))
			if err == nil || errors.Is(err, io.EOF) {
				_, _ = sc.Write([]byte("data"))
			}
			got <- err
		}()
		d := &dialer{cfg: Config{Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)}, metrics: &Metrics{}}
		dc, _ := d.dialData(&net.Dialer{}, "tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}, receiveOnly)
		err = <-got
		if receiveOnly {
			if !errors.Is(err, io.EOF) {
				t.Errorf("receive-only: the server's read after the handshake got %v, want EOF (the client's close_notify)", err)
			}
			if b, err := io.ReadAll(dc); err != nil || string(b) != "data" {
				t.Errorf("receive-only: the client read %q, %v after its close_notify, want the data", b, err)
			}
		} else if !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
			t.Errorf("two-way: the server's read got %v, want a timeout (nothing sent yet)", err)
		}
		_ = dc.Close()
		_ = ln.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
