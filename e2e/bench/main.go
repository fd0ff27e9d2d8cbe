// Command bench measures ftpsfs against direct FTPS clients (curl, lftp) and
// against rclone mount, on servers it starts itself (vsftpd and the embedded
// server), on loopback and behind a 20 ms round trip. `make bench` runs it;
// see -h. It prints one table per RTT and server with the ratios, issue
// 14's goals met or not, the commands each server received (also per item)
// and peak RSS, and writes the same as markdown to -out. It measures and
// never asserts: a bench is not a test.
//
// It needs root (vsftpd runs by hand, FUSE mounts, drop_caches, a network
// namespace) and installs lftp and rclone with apt-get when they are missing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type config struct {
	rtts        []time.Duration
	runs        int
	letters     map[string]bool
	servers     []string
	rclone      bool
	direct      bool // curl and lftp are measured too
	quick       bool
	out         string
	ftpsfs      string
	ftpsfsOpts  []string
	timeout     time.Duration
	stepTimeout time.Duration
	slow        time.Duration
}

func main() {
	if conf := os.Getenv(embeddedEnv); conf != "" {
		if err := serveEmbedded(conf); err != nil {
			fmt.Fprintln(os.Stderr, "bench embedded server:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	handleSignals(cancel)
	err = run(ctx, cfg)
	cancel()
	atExit.runAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	rtt := fs.String("rtt", "0,20ms", "round-trip times to measure at, comma-separated (0 = loopback; others add half each way)")
	runs := fs.Int("runs", 3, "runs per figure; the table shows medians")
	scen := fs.String("scenarios", "a,b,c,d,e,f,g,h", "scenarios to run: a read, b ls -l, c find+stat, d small files, e random reads, f write, g peak RSS (during a and d), h cp -r of small files")
	servers := fs.String("servers", "vsftpd,embedded", "servers to start")
	peers := fs.String("peers", "rclone", `other filesystems to compare with: "rclone", or "none"`)
	direct := fs.Bool("direct", true, "also measure the direct clients curl and lftp (-direct=false: ftpsfs and -peers only)")
	quick := fs.Bool("quick", false, "small sizes (64 MiB file, 2,000 entries, 100 files…) for a fast sanity run")
	out := fs.String("out", "", "also write the results as markdown to this file (default /tmp/ftpsfs-bench-results.md)")
	bin := fs.String("ftpsfs", "bin/ftpsfs", "the ftpsfs binary to mount with (make bench builds it)")
	opts := fs.String("o", "", "extra ftpsfs -o options, e.g. connections=8,cache_size=512M")
	timeout := fs.Duration("timeout", 5*time.Hour, "stop everything after this long")
	stepTimeout := fs.Duration("step-timeout", 20*time.Minute, "limit for one run of one scenario by one client")
	slow := fs.Duration("slow", 2*time.Minute, "a client whose first run of a scenario takes longer runs it only once")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := &config{runs: *runs, direct: *direct, quick: *quick, out: *out, ftpsfs: *bin, timeout: *timeout,
		stepTimeout: *stepTimeout, slow: *slow, letters: map[string]bool{}}
	if cfg.runs < 1 {
		return nil, errors.New("-runs must be at least 1")
	}
	for _, s := range splitList(*rtt) {
		d, err := time.ParseDuration(s)
		if s == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return nil, fmt.Errorf("-rtt: bad duration %q", s)
		}
		cfg.rtts = append(cfg.rtts, d)
	}
	for _, s := range splitList(*scen) {
		if len(s) != 1 || s[0] < 'a' || s[0] > 'h' {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (a to h)", s)
		}
		cfg.letters[s] = true
	}
	for _, s := range splitList(*servers) {
		if s != "vsftpd" && s != "embedded" {
			return nil, fmt.Errorf("-servers: unknown server %q (vsftpd, embedded)", s)
		}
		cfg.servers = append(cfg.servers, s)
	}
	switch *peers {
	case "rclone":
		cfg.rclone = true
	case "none", "":
	default:
		return nil, fmt.Errorf("-peers: unknown peer %q (rclone, none)", *peers)
	}
	cfg.ftpsfsOpts = splitList(*opts)
	if cfg.out == "" {
		cfg.out = filepath.Join(os.TempDir(), "ftpsfs-bench-results.md")
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// bench is one run of the whole benchmark.
type bench struct {
	cfg       *config
	res       *results
	fx        *fixture
	work      string // temporary directory: fixture, mount points, client files
	clients   []client
	scenarios []scenario
	rows      []row // every table's rows: the scenarios' and (g)
}

func run(ctx context.Context, cfg *config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: vsftpd runs by hand, FUSE mounts, drop_caches and a network namespace (sudo make bench)")
	}
	bin, err := filepath.Abs(cfg.ftpsfs)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (make bench builds it)", cfg.ftpsfs, err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		return errors.New("curl is missing: apt-get install -y curl")
	}
	removeStaleNamespaces()

	b := &bench{cfg: cfg, res: &results{cells: map[key]*cell{}}}
	b.clients = []client{{Name: cFtpsfs, mounter: ftpsfsMounter{bin: bin, opts: cfg.ftpsfsOpts}}}
	if cfg.direct {
		b.clients = append(b.clients, client{Name: cCurl}, client{Name: cLftp})
	}
	if cfg.rclone {
		b.clients = append(b.clients, client{Name: cRclone, mounter: &rcloneMounter{}})
	}
	for i, cl := range b.clients {
		if cl.Name == cFtpsfs || cl.Name == cCurl { // built by make; checked above
			continue
		}
		if why := ensureTool(cl.Name, cl.Name); why != "" { // program and package share the name
			fmt.Fprintln(os.Stderr, why)
			b.clients[i].missing = why
			b.res.addNote(cl.Name + ": " + why)
		}
	}

	sz := fullSizes
	if cfg.quick {
		sz = quickSizes
	}
	for _, sc := range scenarios(sz) {
		if cfg.letters[sc.Letter] {
			b.scenarios = append(b.scenarios, sc)
			b.rows = append(b.rows, sc.Rows...)
		}
	}
	if cfg.letters["g"] {
		b.rows = append(b.rows, rssRows()...)
	}

	if b.work, err = os.MkdirTemp("", "ftpsfs-bench-"); err != nil {
		return err
	}
	atExit.add("remove "+b.work, func() { _ = os.RemoveAll(b.work) })
	fmt.Fprintf(os.Stderr, "writing the fixture in %s …\n", b.work)
	if b.fx, err = makeFixture(b.work, sz); err != nil {
		return fmt.Errorf("fixture: %w", err)
	}
	preamble := header(cfg, bin, sz, b.clients)
	for _, rtt := range cfg.rtts {
		if err = b.atRTT(ctx, rtt); err != nil {
			break
		}
	}
	// Whatever was measured is reported, also after an error or Ctrl-C.
	rp := report{res: b.res, clients: b.clients, cacheMiB: cacheMiB(cfg.ftpsfsOpts)}
	rp.write(os.Stdout, false, preamble)
	if f, ferr := os.Create(cfg.out); ferr == nil {
		rp.write(f, true, preamble)
		f.Close()
		fmt.Printf("\nmarkdown: %s\n", cfg.out)
	} else {
		fmt.Fprintln(os.Stderr, "bench:", ferr)
	}
	return err
}

// atRTT measures every server at one round-trip time: on loopback for 0,
// otherwise behind a delay link made for the purpose and removed after.
func (b *bench) atRTT(ctx context.Context, rtt time.Duration) error {
	if rtt == 0 {
		info := "network: servers on 127.0.0.1 (loopback), no added delay; TCP connect round trip " + loopbackRTT()
		return b.onServers(ctx, rtt, nil, info)
	}
	ns := nsPrefix + strconv.Itoa(os.Getpid())
	link, err := newDelayLink(ns, os.Getpid()%250, rtt/2)
	if err != nil {
		return fmt.Errorf("delay (%v RTT): %w", rtt, err)
	}
	undo := atExit.add("delete namespace "+ns, link.Close)
	defer undo.Run()
	info, err := describeLink(link, b.fx.Sizes)
	if err != nil {
		return err
	}
	err = b.onServers(ctx, rtt, link, info)
	if n := link.Dropped(); n > 0 {
		b.res.addNote(fmt.Sprintf("delay at %v RTT: %d packets dropped on a full queue", rtt, n))
	}
	return err
}

// onServers measures every scenario on each server in turn.
func (b *bench) onServers(ctx context.Context, rtt time.Duration, link *delayLink, netHeader string) error {
	for _, kind := range b.cfg.servers {
		srv, err := startServer(kind, b.fx.Root, link)
		if err != nil {
			b.res.addNote(fmt.Sprintf("%s at %v RTT did not start: %v", kind, rtt, err))
			continue
		}
		undo := atExit.add("stop "+kind, func() { _ = srv.Close() })
		sec := &section{Name: fmt.Sprintf("%v RTT, %s", fmtRTT(rtt), kind), RTT: rtt, Rows: b.rows,
			Header: []string{netHeader, "server: " + describeServer(srv)}}
		b.res.sections = append(b.res.sections, sec)
		work, err := os.MkdirTemp(b.work, kind+"-")
		if err == nil {
			r := &runner{sec: sec, res: b.res, srv: srv, fx: b.fx, work: work, clients: b.clients,
				scenarios: b.scenarios, runs: b.cfg.runs, stepTimeout: b.cfg.stepTimeout, slow: b.cfg.slow}
			err = r.run(ctx)
		}
		undo.Run()
		if err != nil {
			return err
		}
	}
	return nil
}
