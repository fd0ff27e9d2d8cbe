package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// mount is a FUSE filesystem served by a foreground process of ours (ftpsfs
// -f, or rclone mount), so its PID is known: for peak RSS, and to stop it.
type mount struct {
	Dir    string
	fstype string // as /proc/self/mountinfo names it: fuse.ftpsfs, fuse.rclone
	cmd    *exec.Cmd
	done   chan struct{}
	out    *lockedBuffer
}

// startMount runs cmd (which serves dir in the foreground) and returns once
// the kernel shows dir mounted with fstype.
func startMount(cmd *exec.Cmd, dir, fstype string) (*mount, error) {
	m := &mount{Dir: dir, fstype: fstype, cmd: cmd, done: make(chan struct{}), out: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	// Its own process group: a Ctrl-C in the terminal reaches the bench only,
	// which unmounts in order instead of racing the mount process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(m.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for !isMounted(dir, fstype) {
		select {
		case <-m.done:
			return nil, fmt.Errorf("%s exited before mounting: %s", filepath.Base(cmd.Path), strings.TrimSpace(m.out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.Unmount()
			return nil, fmt.Errorf("%s: not mounted after 30s: %s", filepath.Base(cmd.Path), m.out.String())
		}
	}
	return m, nil
}

// PeakRSS is the process's high-water resident set (VmHWM) in bytes.
func (m *mount) PeakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", m.cmd.Process.Pid)
}

// Unmount unmounts with umount(8), waits for the process to exit, and kills
// it (by its PID) if it does not within 15 s; then detaches lazily whatever
// is left, so the directory can be removed.
func (m *mount) Unmount() {
	for i := 0; i < 20 && isMounted(m.Dir, m.fstype); i++ {
		if exec.Command("umount", m.Dir).Run() == nil {
			break
		}
		time.Sleep(250 * time.Millisecond) // busy: a program of ours is still closing files
	}
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Signal(syscall.SIGKILL)
		<-m.done
	}
	if isMounted(m.Dir, m.fstype) {
		_ = exec.Command("umount", "-l", m.Dir).Run()
	}
}

// Output is what the mount process printed.
func (m *mount) Output() string { return m.out.String() }

// isMounted reports whether dir is a mount point of type fstype.
func isMounted(dir, fstype string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 9 || unescapeMount(fields[4]) != dir {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == fstype {
				return true
			}
		}
	}
	return false
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// ftpsfsMounter mounts the ftpsfs binary with its defaults plus opts.
type ftpsfsMounter struct {
	bin  string
	opts []string // extra -o options (-ftpsfs-opts)
}

func (f ftpsfsMounter) Name() string { return "ftpsfs" }

func (f ftpsfsMounter) Mount(s *server, work string) (*mount, error) {
	dir, err := os.MkdirTemp(work, "mnt-ftpsfs-")
	if err != nil {
		return nil, err
	}
	pw := filepath.Join(work, "ftpsfs.pass")
	if err := os.WriteFile(pw, []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	opts := append([]string{"password_file=" + pw, "fingerprint=" + s.Fingerprint}, f.opts...)
	url := fmt.Sprintf("ftpes://%s@%s/", s.User, s.Addr())
	cmd := exec.Command(f.bin, url, dir, "-f", "-o", strings.Join(opts, ","))
	return startMount(cmd, dir, "fuse.ftpsfs")
}

// lockedBuffer collects a subprocess's output safely, keeping the last 64 KiB.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		tail := append([]byte(nil), l.b.Bytes()[l.b.Len()-32<<10:]...)
		l.b.Reset()
		l.b.Write(tail)
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
