package testserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VsftpdBinary is Debian's vsftpd; it is run by hand, never as a service.
const VsftpdBinary = "/usr/sbin/vsftpd"

// Errors StartVsftpd returns when the machine cannot run vsftpd; callers
// may skip on them with errors.Is.
var (
	ErrVsftpdNotInstalled = errors.New("vsftpd not installed: run apt-get install -y vsftpd (as root)")
	ErrNotRoot            = errors.New("vsftpd tests need root")
)

const pasvPorts = 50

// VsftpdOptions configures StartVsftpd.
type VsftpdOptions struct {
	Root     string   // served as the user's root (local_root=); created and chowned to the test user
	Implicit bool     // implicit_ssl=YES
	Cert     *KeyPair // default: self-signed
	ClientCA *CA      // require_cert=YES + validate_cert=YES + ca_certs_file=
	// Extra vsftpd.conf settings; they replace defaults of the same name, and
	// an empty value removes the default. Debian's 3.0.3 knows no ssl_tlsv1_x
	// switches beyond ssl_tlsv1: an unknown name makes vsftpd refuse to start.
	Extra map[string]string
	NoTLS bool // ssl_enable=NO
}

// Vsftpd is a running vsftpd.
type Vsftpd struct {
	Addr           string
	Host           string
	Port           int
	PasvMin        int // passive port range, inclusive
	PasvMax        int
	User, Password string // the local test user's credentials
	Root           string
	LogPath        string // xferlog, protocol log (log_ftp_protocol) and debug_ssl lines
	Cert           *KeyPair
	ConfPath       string

	dir     string
	outPath string // vsftpd's stdin/stdout/stderr ("500 OOPS: …")
	cmd     *exec.Cmd
	done    chan struct{} // closed when vsftpd exits

	closeOnce sync.Once
	closeErr  error
	logMu     sync.Mutex
	finalLog  *string // the log as it was at Close, once the directory is gone
}

// StartVsftpd writes a fresh configuration, starts vsftpd in its own process
// group and returns once it greets on its port.
func StartVsftpd(opts VsftpdOptions) (*Vsftpd, error) {
	if _, err := os.Stat(VsftpdBinary); err != nil {
		return nil, ErrVsftpdNotInstalled
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if opts.Root == "" {
		return nil, errors.New("testserver: VsftpdOptions.Root is required")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	uid, gid, err := ensureTestUser()
	if err != nil {
		return nil, err
	}
	if err := prepareRoot(root, uid, gid); err != nil {
		return nil, err
	}
	pam, err := pamService()
	if err != nil {
		return nil, err
	}
	if opts.Cert == nil && !opts.NoTLS {
		if opts.Cert, err = SelfSigned(CertSpec{}); err != nil {
			return nil, err
		}
	}
	// A control port can be taken between our check and vsftpd's bind: retry.
	for attempt := 1; ; attempt++ {
		v, err := startVsftpdOnce(opts, root, pam)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "could not bind") {
			return v, err
		}
	}
}

func startVsftpdOnce(opts VsftpdOptions, root, pam string) (*Vsftpd, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	pasv, err := reservePortRange(pasvPorts)
	if err != nil {
		return nil, err
	}
	// vsftpd insists on a root-owned config; MkdirTemp gives root:root 0700.
	dir, err := os.MkdirTemp("", "ftpsfs-vsftpd-")
	if err != nil {
		releasePortRange(pasv)
		return nil, err
	}
	v := &Vsftpd{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Host: "127.0.0.1", Port: port,
		PasvMin: pasv, PasvMax: pasv + pasvPorts - 1,
		User: TestUser, Password: TestPassword, Root: root, Cert: opts.Cert,
		LogPath: filepath.Join(dir, "vsftpd.log"), ConfPath: filepath.Join(dir, "vsftpd.conf"),
		dir: dir, outPath: filepath.Join(dir, "vsftpd.out"), done: make(chan struct{}),
	}
	if err := v.writeConfig(opts, pam); err != nil {
		v.cleanup()
		return nil, err
	}
	// vsftpd writes "500 OOPS: …" to fd 0 (the socket under inetd), so all
	// three go to one read-write file; a file, not a pipe, because session
	// processes inherit them and would keep a pipe (and cmd.Wait) open.
	out, err := os.OpenFile(v.outPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		v.cleanup()
		return nil, err
	}
	defer out.Close()
	v.cmd = exec.Command(VsftpdBinary, v.ConfPath)
	v.cmd.Dir = dir
	v.cmd.Stdin, v.cmd.Stdout, v.cmd.Stderr = out, out, out
	// Its own process group, so Close reaches the per-session children too.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := v.cmd.Start(); err != nil {
		v.cleanup()
		return nil, fmt.Errorf("start vsftpd: %w", err)
	}
	go func() {
		_ = v.cmd.Wait()
		close(v.done)
	}()
	if err := v.waitReady(opts.Implicit && !opts.NoTLS, 10*time.Second); err != nil {
		v.Close()
		return nil, fmt.Errorf("vsftpd on %s: %w\n--- vsftpd log (tail) ---\n%s", v.Addr, err, tail(v.Log(), 30))
	}
	return v, nil
}

func (v *Vsftpd) writeConfig(opts VsftpdOptions, pam string) error {
	empty := filepath.Join(v.dir, "empty") // secure_chroot_dir: root-owned, not writable by the user
	if err := os.Mkdir(empty, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(v.LogPath, nil, 0o644); err != nil {
		return err
	}
	conf := [][2]string{
		{"listen", "YES"}, {"listen_ipv6", "NO"}, {"listen_address", "127.0.0.1"},
		{"listen_port", strconv.Itoa(v.Port)}, {"background", "NO"},
		{"anonymous_enable", "NO"}, {"local_enable", "YES"}, {"write_enable", "YES"},
		{"local_umask", "022"}, {"pam_service_name", pam},
		{"chroot_local_user", "YES"}, {"allow_writeable_chroot", "YES"}, {"local_root", v.Root},
		{"secure_chroot_dir", empty},
		{"pasv_enable", "YES"}, {"pasv_min_port", strconv.Itoa(v.PasvMin)},
		{"pasv_max_port", strconv.Itoa(v.PasvMax)}, {"pasv_address", "127.0.0.1"},
		{"xferlog_enable", "YES"}, {"vsftpd_log_file", v.LogPath}, {"log_ftp_protocol", "YES"},
	}
	if opts.NoTLS {
		conf = append(conf, [2]string{"ssl_enable", "NO"})
	} else {
		certPath, keyPath, err := opts.Cert.WriteFiles(v.dir, "server")
		if err != nil {
			return err
		}
		conf = append(conf, [][2]string{
			{"ssl_enable", "YES"}, {"rsa_cert_file", certPath}, {"rsa_private_key_file", keyPath},
			// vsftpd's default; spelled out because it is what the tests are about
			{"require_ssl_reuse", "YES"},
			{"force_local_data_ssl", "YES"}, {"force_local_logins_ssl", "YES"},
			// the default list (DES-CBC3-SHA) is not offered by Go
			{"ssl_ciphers", "HIGH"}, {"debug_ssl", "YES"},
		}...)
		if opts.Implicit {
			conf = append(conf, [2]string{"implicit_ssl", "YES"})
		}
		if opts.ClientCA != nil {
			caPath := filepath.Join(v.dir, "client-ca.crt")
			if err := os.WriteFile(caPath, opts.ClientCA.CertPEM, 0o644); err != nil {
				return err
			}
			conf = append(conf, [][2]string{
				{"require_cert", "YES"}, {"validate_cert", "YES"}, {"ca_certs_file", caPath},
			}...)
		}
	}
	return os.WriteFile(v.ConfPath, renderConfig(conf, opts.Extra), 0o600)
}

// renderConfig writes defaults with Extra applied: same name replaces, empty
// value deletes, new names are appended in sorted order.
func renderConfig(conf [][2]string, extra map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# written by ftpsfs e2e/testserver\n")
	seen := map[string]bool{}
	for _, kv := range conf {
		val := kv[1]
		if x, ok := extra[kv[0]]; ok {
			seen[kv[0]] = true
			val = x
		}
		if val != "" {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], val)
		}
	}
	var names []string
	for k := range extra {
		if !seen[k] {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		if extra[k] != "" {
			fmt.Fprintf(&b, "%s=%s\n", k, extra[k])
		}
	}
	return b.Bytes()
}

// waitReady polls until the control port greets with 220.
func (v *Vsftpd) waitReady(implicit bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-v.done:
			return fmt.Errorf("vsftpd exited: %v", v.cmd.ProcessState)
		default:
		}
		if last = probeGreeting(v.Addr, implicit); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no 220 greeting within %v: %v", timeout, last)
}

func probeGreeting(addr string, implicit bool) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if implicit {
		// Only liveness is probed here; the tests verify the certificate.
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("unexpected greeting %q", strings.TrimSpace(line))
	}
	return nil
}

// Close kills vsftpd's process group (the listener and every session),
// waits for it, and removes the configuration directory. Log stays readable.
func (v *Vsftpd) Close() error {
	v.closeOnce.Do(func() {
		pgid := v.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-v.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-v.done
		}
		// Sessions outlive the listener on SIGTERM; finish them off and wait.
		deadline := time.Now().Add(5 * time.Second)
		for pids := v.pids(); len(pids) > 0; pids = v.pids() {
			if time.Now().After(deadline) {
				v.closeErr = fmt.Errorf("vsftpd processes %v survived SIGKILL", pids)
				break
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(20 * time.Millisecond)
		}
		final := v.readLog()
		v.logMu.Lock()
		v.finalLog = &final
		v.logMu.Unlock()
		v.cleanup()
	})
	return v.closeErr
}

// pids lists live processes of this instance: those in its process group or
// running with its (unique) configuration path.
func (v *Vsftpd) pids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command name: state ppid pgrp …
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if f[2] == strconv.Itoa(v.cmd.Process.Pid) || bytes.Contains(cmdline, []byte(v.ConfPath)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (v *Vsftpd) cleanup() {
	releasePortRange(v.PasvMin)
	_ = os.RemoveAll(v.dir)
}

// Log returns vsftpd's log and anything it printed, for dumping on failure.
func (v *Vsftpd) Log() string {
	v.logMu.Lock()
	defer v.logMu.Unlock()
	if v.finalLog != nil {
		return *v.finalLog
	}
	return v.readLog()
}

func (v *Vsftpd) readLog() string {
	b, err := os.ReadFile(v.LogPath)
	s := string(b)
	if err != nil {
		s = fmt.Sprintf("(log unreadable: %v)\n", err)
	}
	if out, _ := os.ReadFile(v.outPath); len(out) > 0 {
		s += "--- vsftpd output ---\n" + string(out)
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Own hands p to the test user, as if it had uploaded it: what a test
// writes into the served tree as root ("another client") must stay
// writable for the server.
func (v *Vsftpd) Own(p string) error {
	uid, gid, err := ensureTestUser()
	if err != nil {
		return err
	}
	return os.Lchown(p, uid, gid)
}
