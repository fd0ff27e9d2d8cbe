package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The machines this runs on have no sch_netem, so `tc netem` cannot add
// latency. Instead the servers run in a network namespace of their own,
// joined to the host by two TUN devices (one on each side) rather than a veth
// pair; this process copies every IP packet from one TUN to the other after a
// fixed delay. Because whole packets are delayed, everything pays the round
// trip: TCP handshakes, TLS handshakes, FTP replies, data and ACKs, on the
// control and every data connection alike, for every client.

// delayLink is a namespace behind a packet delayer.
type delayLink struct {
	NS       string // network namespace name (ip netns)
	HostIP   string // this side's address
	ServerIP string // the namespace's address: servers listen there
	OneWay   time.Duration

	hostTun, nsTun *os.File
	hostDev        string
	wg             sync.WaitGroup
	closeOnce      sync.Once
	dropped        atomic.Int64 // packets dropped on a full queue
}

const (
	// tunMTU is an ordinary Ethernet MTU, so that TCP's segment size, initial
	// window and slow start are those of a real network. The devices still
	// carry up to 64 KiB per packet: with IFF_VNET_HDR and TSO offload the
	// kernel hands over whole GSO super-packets (one header says how to cut
	// them), which keeps the copy loop far from being the bottleneck.
	tunMTU = 1500
	// tunBuf holds the largest GSO packet plus its virtio_net_hdr.
	tunBuf = 10 + 65535 + 1024
	// tunQueue bounds the packets in flight per direction (memory: tunQueue ×
	// packet size); at 10 ms that is 300 MB/s of bare 1500-byte packets and
	// far more in super-packets: more than the host's TCP windows ever fill.
	tunQueue = 2048
)

// newDelayLink creates namespace ns with its loopback up, a TUN pair
// hostIP ⇄ serverIP, and starts delaying packets by oneWay in each direction.
func newDelayLink(ns string, subnet int, oneWay time.Duration) (*delayLink, error) {
	l := &delayLink{
		NS: ns, OneWay: oneWay,
		HostIP:   fmt.Sprintf("10.213.%d.1", subnet),
		ServerIP: fmt.Sprintf("10.213.%d.2", subnet),
		hostDev:  fmt.Sprintf("fbh%d", os.Getpid()),
	}
	nsDev := fmt.Sprintf("fbn%d", os.Getpid())
	if err := runCmd("ip", "netns", "add", ns); err != nil {
		return nil, err
	}
	var err error
	if l.hostTun, err = openTun(l.hostDev); err != nil {
		l.Close()
		return nil, fmt.Errorf("host TUN: %w", err)
	}
	err = inNetns(ns, func() error {
		var err error
		l.nsTun, err = openTun(nsDev)
		return err
	})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("namespace TUN: %w", err)
	}
	steps := [][]string{
		{"ip", "addr", "add", l.HostIP, "peer", l.ServerIP, "dev", l.hostDev},
		{"ip", "link", "set", l.hostDev, "mtu", strconv.Itoa(tunMTU), "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", l.ServerIP, "peer", l.HostIP, "dev", nsDev},
		{"ip", "-n", ns, "link", "set", nsDev, "mtu", strconv.Itoa(tunMTU), "up"},
	}
	for _, s := range steps {
		if err := runCmd(s[0], s[1:]...); err != nil {
			l.Close()
			return nil, err
		}
	}
	l.wg.Add(2)
	go l.forward(l.hostTun, l.nsTun)
	go l.forward(l.nsTun, l.hostTun)
	return l, nil
}

type packet struct {
	data []byte
	due  time.Time
}

// forward copies packets from src to dst, each oneWay after it was read.
// A reader queues them stamped with their due time; a writer sends each when
// due. The delay is constant, so the order is kept.
func (l *delayLink) forward(src, dst *os.File) {
	defer l.wg.Done()
	q := make(chan packet, tunQueue)
	go func() {
		defer close(q)
		buf := make([]byte, tunBuf)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return // closed
			}
			p := packet{data: slices.Clone(buf[:n]), due: time.Now().Add(l.OneWay)}
			select {
			case q <- p:
			default:
				// Full: a real link's queue would drop the packet; TCP recovers.
				l.dropped.Add(1)
			}
		}
	}()
	for p := range q {
		if d := time.Until(p.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(p.data); err != nil && errors.Is(err, os.ErrClosed) {
			for range q {
			}
			return
		}
	}
}

// Dropped is the number of packets dropped because the queue was full.
func (l *delayLink) Dropped() int64 { return l.dropped.Load() }

// Close stops forwarding, removes both TUN devices (they vanish with their
// file descriptors) and deletes the namespace.
func (l *delayLink) Close() {
	l.closeOnce.Do(func() {
		l.drain(5 * time.Second)
		if l.hostTun != nil {
			l.hostTun.Close()
		}
		if l.nsTun != nil {
			l.nsTun.Close()
		}
		l.wg.Wait()
		_ = runCmd("ip", "netns", "del", l.NS)
	})
}

// drain waits until this side has no TCP connection to the namespace left
// (but TIME_WAIT), at most d: a connection still closing when the namespace
// goes would retransmit its FIN into the void for minutes.
func (l *delayLink) drain(d time.Duration) {
	ip := net.ParseIP(l.ServerIP).To4()
	if ip == nil {
		return
	}
	// /proc/net/tcp prints addresses as the hex of the in-memory (network
	// order) word, read as a little-endian integer.
	remote := fmt.Sprintf("%02X%02X%02X%02X:", ip[3], ip[2], ip[1], ip[0])
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			return
		}
		open := false
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasPrefix(f[2], remote) && f[3] != "06" { // 06: TIME_WAIT
				open = true
				break
			}
		}
		if !open {
			return
		}
	}
}

// Listen opens a TCP listener inside the namespace.
func (l *delayLink) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(l.NS, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// inNetns runs fn on an OS thread that has joined namespace ns. Sockets and
// devices fn creates belong to ns, and so do processes it starts (a child
// inherits its forking thread's namespace). The thread is never handed back
// to the Go scheduler: the goroutine exits locked, so the runtime ends it.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if sysSetns == 0 {
			errc <- fmt.Errorf("setns: unknown system call number on %s", runtime.GOARCH)
			return
		}
		if _, _, e := syscall.Syscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			errc <- fmt.Errorf("setns %s: %w", ns, e)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// openTun creates TUN device name in the calling thread's namespace; it
// disappears when the file is closed. Each read or write is one IP packet
// (IFF_NO_PI) behind a virtio_net_hdr (IFF_VNET_HDR) that carries the GSO
// and checksum-offload state: copied verbatim from one device to the other,
// a super-packet crosses as one and the receiving stack treats it as GRO'd.
func openTun(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr struct {
		name  [16]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], name)
	ifr.flags = syscall.IFF_TUN | syscall.IFF_NO_PI | syscall.IFF_VNET_HDR
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TUNSETIFF, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, e)
	}
	const tunFCsum, tunFTSO4, tunFTSO6 = 0x01, 0x02, 0x04 // linux/if_tun.h
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6); e != 0 {
		syscall.Close(fd)
		return nil, fmt.Errorf("TUNSETOFFLOAD %s: %w", name, e)
	}
	// Non-blocking, so os.File uses the poller and Close ends a pending Read.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "tun:"+name), nil
}

// measureRTT dials a listener inside the namespace n times and returns the
// median TCP connect time: SYN out, SYN-ACK back, so one round trip.
func (l *delayLink) measureRTT(n int) (time.Duration, error) {
	ln, err := l.Listen(net.JoinHostPort(l.ServerIP, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var ds []time.Duration
	for range n {
		start := time.Now()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
		c.Close()
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// measureThroughput sends size bytes from the namespace to this side on one
// TCP connection and returns MiB/s: what one stream gets through the delay.
func (l *delayLink) measureThroughput(size int64) (float64, error) {
	ln, err := l.Listen(net.JoinHostPort(l.ServerIP, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for sent := int64(0); sent < size; sent += int64(len(buf)) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	buf := make([]byte, 1<<20)
	var got int64
	for got < size {
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			break
		}
	}
	return float64(got) / time.Since(start).Seconds() / (1 << 20), nil
}

// removeStaleNamespaces deletes namespaces left by earlier runs that were
// killed (SIGKILL leaves them; Ctrl-C does not), whose process is gone.
func removeStaleNamespaces() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		pid, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(pid); err == nil && syscall.Kill(n, 0) == nil {
			continue
		}
		_ = runCmd("ip", "netns", "del", e.Name())
	}
}

const nsPrefix = "ftpsfs-bench-"

func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sysSetns is setns(2); the syscall package does not name it.
var sysSetns = map[string]uintptr{"amd64": 308, "arm64": 268, "riscv64": 268, "386": 346, "arm": 375}[runtime.GOARCH]
