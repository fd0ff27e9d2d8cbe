package main

// What the report says about the run: machine, versions, network, servers.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func fmtRTT(d time.Duration) string {
	if d == 0 {
		return "0 ms"
	}
	return strings.TrimSuffix(d.String(), "ms") + " ms"
}

func describeServer(s *server) string {
	switch s.Kind {
	case "vsftpd":
		return fmt.Sprintf("vsftpd %s on %s, explicit TLS, require_ssl_reuse=YES, no MLSD (lists with LIST)", vsftpdVersion(), s.Addr())
	}
	return fmt.Sprintf("embedded (ftpserverlib, in its own process) on %s, explicit TLS, TLS session reuse required, MLSD", s.Addr())
}

func vsftpdVersion() string {
	out, _ := exec.Command("dpkg-query", "-W", "-f", "${Version}", "vsftpd").Output()
	return strings.TrimSpace(string(out))
}

// describeLink measures what the delay really does: a TCP connect is one
// round trip, and one stream's throughput shows the delayer is no bottleneck.
func describeLink(l *delayLink, sz sizes) (string, error) {
	rtt, err := l.measureRTT(7)
	if err != nil {
		return "", fmt.Errorf("measure RTT through the delay: %w", err)
	}
	tput, err := l.measureThroughput(min(sz.Big, 256<<20))
	if err != nil {
		return "", fmt.Errorf("measure throughput through the delay: %w", err)
	}
	line := fmt.Sprintf("network: servers in namespace %s at %s, reached from %s through a TUN pair; this program "+
		"delays every packet %v each way (no netem on this kernel). Measured: TCP connect round trip %.1f ms "+
		"(median of 7); one TCP stream %.0f MiB/s", l.NS, l.ServerIP, l.HostIP, l.OneWay, float64(rtt.Microseconds())/1000, tput)
	fmt.Fprintln(os.Stderr, line)
	return line, nil
}

func loopbackRTT() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "?"
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
	for range 7 {
		start := time.Now()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return "?"
		}
		ds = append(ds, time.Since(start))
		c.Close()
	}
	slices.Sort(ds)
	return fmt.Sprintf("%.2f ms (median of 7)", float64(ds[3].Microseconds())/1000)
}

// header describes the run: machine, versions, options, sizes.
func header(cfg *config, bin string, sz sizes, clients []client) []string {
	host, _ := os.Hostname()
	h := []string{
		fmt.Sprintf("%s, %s, %d CPUs, kernel %s", time.Now().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), kernel()),
		fmt.Sprintf("runs per figure: %d (medians; every run is cold: drop_caches, server files re-read into memory, a fresh mount)", cfg.runs),
		fmt.Sprintf("sizes: %s file, %d-entry directory, tree %d × %d, %d × %s files, %d × %s random reads, %s write, cp -r of %d × %s%s",
			human(sz.Big), sz.ListN, sz.TreeDirs, sz.TreeFiles, sz.SmallN, human(int64(sz.SmallSize)),
			sz.RandomN, human(int64(sz.RandomLen)), human(sz.Write), sz.CopyN, human(int64(sz.CopySize)),
			map[bool]string{true: " (-quick)"}[cfg.quick]),
		fmt.Sprintf("ftpsfs: %s (%s), options: defaults%s", toolVersion(bin, "-V"), bin, optsNote(cfg.ftpsfsOpts)),
		"curl: " + toolVersion("curl", "--version") + "; explicit FTPS, --ssl-reqd, one invocation per figure (connections reused)",
	}
	if cfg.letters["h"] {
		h[len(h)-1] += "; (h) with --tls-max 1.2: with TLS 1.3 vsftpd refuses some of its data connections (522 session reuse required) and curl skips those files"
	}
	for _, cl := range clients {
		switch {
		case cl.Name == cLftp && cl.missing == "":
			h = append(h, "lftp: "+toolVersion("lftp", "--version")+"; ftp:ssl-force, ftp:ssl-protect-data")
		case cl.Name == cRclone && cl.missing == "":
			h = append(h, "rclone mount: "+toolVersion("rclone", "version")+"; ftp backend, explicit_tls, defaults plus "+strings.Join(rcloneFlags, " "))
		}
	}
	h = append(h, "ratios are speeds: ftpsfs's figure over the other's (> 1: ftpsfs is faster); best direct = the faster of curl and lftp")
	return h
}

func optsNote(opts []string) string {
	if len(opts) == 0 {
		return " (connections=8, cache_size=256M, dir_cache_ttl=30s)"
	}
	return " + " + strings.Join(opts, ",")
}

// cacheMiB is ftpsfs's cache_size in MiB as the options set it (default 256M).
func cacheMiB(opts []string) int64 {
	for _, o := range opts {
		v, ok := strings.CutPrefix(strings.ReplaceAll(o, "-", "_"), "cache_size=")
		if !ok {
			continue
		}
		mult := int64(1)
		switch {
		case strings.HasSuffix(v, "G"):
			mult, v = 1024, strings.TrimSuffix(v, "G")
		case strings.HasSuffix(v, "M"):
			v = strings.TrimSuffix(v, "M")
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n * mult
		}
	}
	return 256
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
