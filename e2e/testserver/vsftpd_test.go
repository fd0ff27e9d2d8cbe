package testserver

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func startVsftpd(t *testing.T, opts VsftpdOptions) *Vsftpd {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	v, err := StartVsftpd(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vsftpd log:\n%s", v.Log())
		}
		if err := v.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return v
}

func writeRandom(t *testing.T, path string, n int) [32]byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestVsftpdTLS(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := map[bool]string{false: "explicit", true: "implicit"}[implicit] + "/" + tlsName(version)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				root := t.TempDir()
				sum := writeRandom(t, filepath.Join(root, "big.bin"), 1<<20)
				v := startVsftpd(t, VsftpdOptions{Root: root, Implicit: implicit})
				// maxTLS alone: the TLS 1.3 case checks vsftpd picks 1.3 by itself.
				c := login(t, v.Addr, clientOpts{implicit: implicit, roots: certPool(v.Cert), maxTLS: version},
					v.User, v.Password)
				if got := sha256.Sum256(retr(t, c, "big.bin")); got != sum {
					t.Fatal("RETR big.bin: checksum mismatch")
				}
				entries, err := c.List("/")
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if len(entries) != 1 || entries[0].Name != "big.bin" || entries[0].Size != 1<<20 {
					t.Fatalf("List = %+v", entries)
				}
				// An upload big enough to be truncated if data connections closed carelessly.
				up := make([]byte, 4<<20)
				_, _ = rand.Read(up)
				if err := c.Stor("up.bin", bytes.NewReader(up)); err != nil {
					t.Fatalf("STOR: %v", err)
				}
				if b, _ := os.ReadFile(filepath.Join(root, "up.bin")); !bytes.Equal(b, up) {
					t.Fatalf("uploaded %d bytes, server stored %d", len(up), len(b))
				}
				if got := c.controlState().Version; got != version {
					t.Errorf("negotiated %s, want %s", tlsName(got), tlsName(version))
				}
				for i, st := range c.dataStates() {
					if !st.DidResume {
						t.Errorf("data connection %d did not resume", i)
					}
				}
				if log := v.Log(); !strings.Contains(log, "RETR") || !strings.Contains(log, "reused") {
					t.Errorf("log lacks protocol or debug_ssl lines:\n%s", log)
				}
			})
		}
	}
}

func TestVsftpdRejectsDataWithoutReuse(t *testing.T) {
	root := t.TempDir()
	writeRandom(t, filepath.Join(root, "f"), 1000)
	v := startVsftpd(t, VsftpdOptions{Root: root})
	c := login(t, v.Addr, clientOpts{roots: certPool(v.Cert), freshDataCache: true}, v.User, v.Password)
	r, err := c.Retr("f")
	if err == nil {
		_, _ = io.Copy(io.Discard, r)
		err = r.Close()
	}
	if replyCode(err) != 522 {
		t.Fatalf("RETR over a data connection that did not resume: %v, want 522", err)
	}
	// vsftpd closes the control connection after 522.
	if err := c.NoOp(); err == nil {
		t.Error("control connection still usable after 522")
	}
}

func TestVsftpdNoTLS(t *testing.T) {
	v := startVsftpd(t, VsftpdOptions{NoTLS: true})
	if _, err := dialClient(t, v.Addr, clientOpts{noTLS: true, tryAuthTLS: true}); err == nil {
		t.Fatal("AUTH TLS accepted by vsftpd with ssl_enable=NO")
	}
	c := login(t, v.Addr, clientOpts{noTLS: true}, v.User, v.Password)
	if err := c.Stor("clear.txt", strings.NewReader("clear")); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if got := retr(t, c, "clear.txt"); string(got) != "clear" {
		t.Fatalf("RETR = %q", got)
	}
}

func TestVsftpdClientCert(t *testing.T) {
	ca, err := NewCA("vsftpd client CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(CertSpec{Hosts: []string{"alice"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	v := startVsftpd(t, VsftpdOptions{ClientCA: ca})
	roots := certPool(v.Cert)
	if c, err := dialClient(t, v.Addr, clientOpts{roots: roots}); err == nil {
		err = c.Login(v.User, v.Password)
		_ = c.Quit()
		if err == nil {
			t.Fatal("login without a client certificate succeeded")
		}
	}
	c := login(t, v.Addr, clientOpts{roots: roots, cert: &cert.TLS}, v.User, v.Password)
	if _, err := c.List("/"); err != nil {
		t.Fatalf("List with a client certificate: %v", err)
	}
}

func TestVsftpdTwoInstancesAndClose(t *testing.T) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		srvs []*Vsftpd
	)
	for i := range 2 {
		wg.Go(func() {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "id"), []byte{byte('0' + i)}, 0o644); err != nil {
				t.Error(err)
				return
			}
			v, err := StartVsftpd(VsftpdOptions{Root: root, Extra: map[string]string{"max_per_ip": "4"}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			srvs = append(srvs, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(srvs) != 2 {
		for _, v := range srvs {
			v.Close()
		}
		t.FailNow()
	}
	if srvs[0].Port == srvs[1].Port || srvs[0].PasvMin <= srvs[1].PasvMax && srvs[1].PasvMin <= srvs[0].PasvMax {
		t.Errorf("instances share ports: %+v / %+v", srvs[0], srvs[1])
	}
	// Both serve at once, each its own root; sessions stay open across Close.
	var clients []*client
	for _, v := range srvs {
		c := login(t, v.Addr, clientOpts{roots: certPool(v.Cert)}, v.User, v.Password)
		clients = append(clients, c)
	}
	for i, c := range clients {
		want := filepath.Base(srvs[i].Root)
		got := retr(t, c, "id")
		if len(got) != 1 || got[0] < '0' || got[0] > '1' {
			t.Fatalf("instance %d (%s) served %q", i, want, got)
		}
	}
	for i, v := range srvs {
		if len(v.pids()) < 2 {
			t.Errorf("instance %d: want the listener plus session processes, have %v", i, v.pids())
		}
		if err := v.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if pids := v.pids(); len(pids) != 0 {
			t.Errorf("instance %d: processes %v left after Close", i, pids)
		}
		if _, err := os.Stat(v.ConfPath); !os.IsNotExist(err) {
			t.Errorf("config %s left behind: %v", v.ConfPath, err)
		}
		if !strings.Contains(v.Log(), "OK LOGIN") {
			t.Errorf("instance %d log after Close lacks the login:\n%s", i, v.Log())
		}
	}
}

func TestVsftpdStartFailureShowsLog(t *testing.T) {
	_, err := StartVsftpd(VsftpdOptions{Root: t.TempDir(), Extra: map[string]string{"no_such_option": "YES"}})
	if err == nil || !strings.Contains(err.Error(), "no_such_option") {
		t.Fatalf("StartVsftpd with a bad option: %v, want an error quoting vsftpd's complaint", err)
	}
}
