package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// rcloneMounter mounts the server with `rclone mount` and its ftp backend:
// the peer users would pick instead of ftpsfs. Its defaults are kept except
// --vfs-cache-mode off (no local file cache: the closest to ftpsfs, which
// caches blocks in memory only), and disable_tls13 when its defaults cannot
// talk to the server at all (see prepare).
type rcloneMounter struct {
	disableTLS13 bool
}

// rcloneFlags is printed with the results, so the mode is never guessed.
var rcloneFlags = []string{"--vfs-cache-mode", "off"}

func (*rcloneMounter) Name() string { return "rclone" }

func (m *rcloneMounter) Mount(s *server, work string) (*mount, error) {
	conf, err := m.config(s, work)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(work, "mnt-rclone-")
	if err != nil {
		return nil, err
	}
	args := append([]string{"mount", "bench:/", dir, "--config", conf}, rcloneFlags...)
	return startMount(exec.Command("rclone", args...), dir, "fuse.rclone")
}

// prepare lists the server's root once with rclone's defaults. Debian 12's
// rclone (1.60) fails every TLS 1.3 data connection to vsftpd ("tls: illegal
// parameter"; vsftpd logs "binder does not verify": the resumed session is
// not accepted). That is a finding to report, and then rclone is measured
// with disable_tls13 = true so that it has figures at all. It returns a line
// for the report when it had to.
func (m *rcloneMounter) prepare(ctx context.Context, s *server, work string) string {
	first := m.list(ctx, s, work)
	if first == nil {
		return ""
	}
	m.disableTLS13 = true
	if err := m.list(ctx, s, work); err != nil {
		m.disableTLS13 = false
		return fmt.Sprintf("rclone cannot list this server: %v (with disable_tls13 too: %v)", first, err)
	}
	return fmt.Sprintf("rclone mount: FINDING: with its defaults rclone cannot transfer anything from this server (%s); "+
		"measured with disable_tls13 = true (TLS 1.2), which works", tlsReason(first))
}

// tlsReason picks the TLS error out of rclone's output, or shortens it.
func tlsReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "tls: "); i >= 0 {
		end := strings.IndexAny(msg[i:], "|*\n")
		if end < 0 {
			end = len(msg) - i
		}
		return "remote error: " + strings.TrimSpace(msg[i:i+end])
	}
	return oneLine(err, 200)
}

func (m *rcloneMounter) list(ctx context.Context, s *server, work string) error {
	conf, err := m.config(s, work)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = runTool(ctx, "rclone", "lsf", "bench:/", "--config", conf, "--low-level-retries", "1", "--retries", "1")
	if err != nil {
		return fmt.Errorf("%s", strings.Join(strings.Fields(err.Error()), " "))
	}
	return nil
}

// config writes a private rclone.conf for s. The password goes in obscured,
// as rclone requires, through `rclone obscure -` on stdin: never in argv.
func (m *rcloneMounter) config(s *server, work string) (string, error) {
	cmd := exec.Command("rclone", "obscure", "-")
	cmd.Stdin = strings.NewReader(s.Password + "\n")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("rclone obscure: %w", err)
	}
	conf := fmt.Sprintf(`[bench]
type = ftp
host = %s
port = %d
user = %s
pass = %s
explicit_tls = true
no_check_certificate = true
disable_tls13 = %t
`, s.Host, s.Port, s.User, strings.TrimSpace(string(out)), m.disableTLS13)
	path := filepath.Join(work, "rclone.conf")
	return path, os.WriteFile(path, []byte(conf), 0o600)
}
