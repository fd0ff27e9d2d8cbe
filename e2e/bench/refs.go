package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The direct references: the same transfers made by FTPS clients without a
// filesystem in between. Both log in with credentials from a file (never
// argv) and accept the servers' self-signed certificates.

// curlClient runs curl over explicit FTPS (AUTH TLS, --ssl-reqd).
type curlClient struct {
	srv   *server
	netrc string
	work  string
}

func newCurl(s *server, work string) (*curlClient, error) {
	netrc := filepath.Join(work, "netrc")
	line := fmt.Sprintf("machine %s login %s password %s\n", s.Host, s.User, s.Password)
	return &curlClient{srv: s, netrc: netrc, work: work}, os.WriteFile(netrc, []byte(line), 0o600)
}

func (c *curlClient) url(path string) string {
	return fmt.Sprintf("ftp://%s/%s", c.srv.Addr(), path)
}

// common are the options every curl operation needs; after `next` in a
// config file curl forgets them, so each operation repeats them.
func (c *curlClient) common() []string {
	return []string{"silent", "show-error", "ssl-reqd", "insecure", `netrc-file = "` + c.netrc + `"`}
}

// run runs curl with args plus a config file of operations (nil: none).
func (c *curlClient) run(ctx context.Context, ops [][]string, args ...string) error {
	args = append([]string{"-sS", "--ssl-reqd", "--insecure", "--netrc-file", c.netrc}, args...)
	if ops != nil {
		var b strings.Builder
		for i, op := range ops {
			if i > 0 {
				b.WriteString("next\n")
			}
			for _, o := range append(c.common(), op...) {
				b.WriteString(o + "\n")
			}
		}
		f, err := os.CreateTemp(c.work, "curl-*.conf")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		_, err = f.WriteString(b.String())
		if err = errors.Join(err, f.Close()); err != nil {
			return err
		}
		args = append(args, "--config", f.Name())
	}
	return runTool(ctx, "curl", args...)
}

// get downloads each path on one curl invocation (one control connection,
// reused from file to file), or with `parallel` invocations at once, each
// taking its share. Not curl --parallel: its connections share one TLS
// session cache, so data connections resume another connection's session,
// which vsftpd (require_ssl_reuse) refuses.
func (c *curlClient) get(ctx context.Context, paths []string, parallel int) error {
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	for p := range parallel {
		var ops [][]string
		for i := p; i < len(paths); i += parallel {
			ops = append(ops, []string{`url = "` + c.url(paths[i]) + `"`, `output = "/dev/null"`})
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[p] = c.run(ctx, ops) }()
	}
	wg.Wait()
	return firstError(errs)
}

// firstError is the first of errs that is not nil: parallel workers tend to
// fail alike, and one message says it.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ranges fetches len bytes at each offset of path, one ranged transfer
// (REST + RETR, aborted at the end) each, on one invocation.
func (c *curlClient) ranges(ctx context.Context, path string, offsets []int64, n int) error {
	var ops [][]string
	for _, off := range offsets {
		ops = append(ops, []string{`url = "` + c.url(path) + `"`, `output = "/dev/null"`,
			fmt.Sprintf(`range = "%d-%d"`, off, off+int64(n)-1)})
	}
	return c.run(ctx, ops)
}

func (c *curlClient) upload(ctx context.Context, local, remote string) error {
	return c.run(ctx, nil, "-T", local, c.url(remote))
}

// lftpClient runs lftp scripts over explicit FTPS, data channel protected.
type lftpClient struct {
	srv  *server
	work string
}

// script runs commands after logging in. The script file holds the password:
// it is private and removed at once.
func (l *lftpClient) script(ctx context.Context, commands ...string) error {
	head := []string{
		"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ssl:verify-certificate no",
		// lftp retries forever by default: a bench must fail instead.
		"set net:max-retries 2", "set net:timeout 60", "set net:reconnect-interval-base 1",
		"set cmd:fail-exit yes", "set xfer:clobber on",
		fmt.Sprintf("open -u %s,%s ftp://%s", l.srv.User, l.srv.Password, l.srv.Addr()),
	}
	path := filepath.Join(l.work, "lftp.script")
	if err := os.WriteFile(path, []byte(strings.Join(append(head, commands...), "\n")+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(path)
	return runTool(ctx, "lftp", "-f", path)
}

// runTool runs a program, failing with its output when it fails.
func runTool(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, lastLines(string(out), 5))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// ensureTool makes program available, installing Debian package pkg with
// apt-get when run as root. It returns "" when the program is there, or why
// it is not.
func ensureTool(program, pkg string) string {
	if _, err := exec.LookPath(program); err == nil {
		return ""
	}
	if os.Geteuid() != 0 {
		return fmt.Sprintf("%s is not installed (run: sudo apt-get install -y %s)", program, pkg)
	}
	fmt.Fprintf(os.Stderr, "installing %s: apt-get install -y %s\n", program, pkg)
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "-q", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, lastLines(string(out), 3))
		}
		return nil
	}
	err := install()
	if err != nil {
		// A fresh machine may have no package lists yet.
		_ = exec.Command("apt-get", "update", "-q").Run()
		err = install()
	}
	if err != nil {
		return fmt.Sprintf("apt-get install -y %s failed: %v", pkg, err)
	}
	if _, err := exec.LookPath(program); err != nil {
		return fmt.Sprintf("%s still missing after apt-get install -y %s", program, pkg)
	}
	return ""
}

// toolVersion is the first line of `program args…`, for the report header.
func toolVersion(program string, args ...string) string {
	out, err := exec.Command(program, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
