package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Client names, in table order.
const (
	cFtpsfs = "ftpsfs"
	cCurl   = "curl"
	cLftp   = "lftp"
	cRclone = "rclone"
)

// mounter is a client that is a filesystem: ftpsfs or rclone mount.
type mounter interface {
	Name() string
	Mount(s *server, work string) (*mount, error)
}

// client is one column of the table.
type client struct {
	Name    string
	mounter mounter // nil for the direct references
	missing string  // why it cannot run ("" when it can)
}

// key names one cell of the results.
type key struct{ Section, Row, Client string }

// cell collects one client's figures for one row over the runs.
type cell struct {
	Secs []float64 // per run
	RSS  []int64   // per run, bytes (rows g)
	Cmds counts    // server commands during the first run
	Err  string    // the first failure; later runs are skipped
	NA   string    // why there is no figure at all
}

// section is one server at one RTT: one table.
type section struct {
	Name   string // "20 ms RTT, vsftpd"
	RTT    time.Duration
	Header []string
	Rows   []row
	// Counted: the server logged the commands it received (see
	// server.countsCommands); otherwise there is no command table.
	Counted bool
}

type results struct {
	sections []*section
	cells    map[key]*cell
	notes    []string
}

func (r *results) cell(k key) *cell {
	c := r.cells[k]
	if c == nil {
		c = &cell{}
		r.cells[k] = c
	}
	return c
}

// runner measures every selected scenario against one server.
type runner struct {
	sec         *section
	res         *results
	srv         *server
	fx          *fixture
	work        string
	clients     []client
	scenarios   []scenario
	runs        int
	stepTimeout time.Duration
	// slow: a client whose first run of a scenario takes longer runs it only
	// once (curl's ranged reads can take minutes); the table shows n=1.
	slow time.Duration
}

func (r *runner) run(ctx context.Context) error {
	curl, err := newCurl(r.srv, r.work)
	if err != nil {
		return err
	}
	lftp := &lftpClient{srv: r.srv, work: r.work}
	// rclone's settings depend on the server: a mounter of its own for each.
	r.clients = slices.Clone(r.clients)
	for i, cl := range r.clients {
		if _, ok := cl.mounter.(*rcloneMounter); ok && cl.missing == "" {
			m := &rcloneMounter{}
			if note := m.prepare(ctx, r.srv, r.work); note != "" {
				r.sec.Header = append(r.sec.Header, note)
				fmt.Fprintln(os.Stderr, note)
			}
			r.clients[i].mounter = m
		}
	}
	defer func() { r.sec.Counted = r.srv.countsCommands() }()
	for _, sc := range r.scenarios {
		failed := map[string]bool{}
		for run := 1; run <= r.runs; run++ {
			for _, cl := range r.clients {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if failed[cl.Name] || !r.applicable(sc, cl) {
					continue
				}
				if run > 1 && r.tooSlow(sc, cl.Name) {
					continue
				}
				if err := r.one(ctx, sc, cl, curl, lftp, run); err != nil {
					failed[cl.Name] = true
					for _, rw := range sc.Rows {
						if c := r.res.cell(key{r.sec.Name, rw.ID, cl.Name}); c.Err == "" {
							c.Err = err.Error()
						}
					}
					r.res.addNote(fmt.Sprintf("%s, %s, %s, run %d: %s", r.sec.Name, sc.Rows[0].ID, cl.Name, run, oneLine(err, 400)))
				}
			}
		}
	}
	return nil
}

// tooSlow reports whether client's first run of sc took longer than r.slow.
func (r *runner) tooSlow(sc scenario, client string) bool {
	total := 0.0
	for _, rw := range sc.Rows {
		if c := r.res.cells[key{r.sec.Name, rw.ID, client}]; c != nil && len(c.Secs) > 0 {
			total += c.Secs[0]
		}
	}
	if total <= r.slow.Seconds() {
		return false
	}
	r.res.addNote(fmt.Sprintf("%s, %s, %s: ran once, its first run took %s (over -slow %v)",
		r.sec.Name, sc.Rows[0].ID, client, seconds(total), r.slow))
	return true
}

// applicable records why cl has no figure for sc, if it has none.
func (r *runner) applicable(sc scenario, cl client) bool {
	na := cl.missing
	if na != "" {
		na = "n/a (not installed)"
	} else if (cl.Name == cCurl && sc.Curl == nil) || (cl.Name == cLftp && sc.Lftp == nil) {
		na = "—"
		if why := sc.NoRef[cl.Name]; why != "" {
			r.res.addNote(fmt.Sprintf("(%s) %s: %s", sc.Letter, cl.Name, why))
		}
	}
	if na == "" {
		return true
	}
	for _, rw := range sc.Rows {
		r.res.cell(key{r.sec.Name, rw.ID, cl.Name}).NA = na
	}
	return false
}

// one is one cold run of one scenario by one client.
func (r *runner) one(ctx context.Context, sc scenario, cl client, curl *curlClient, lftp *lftpClient, run int) error {
	ctx, cancel := context.WithTimeout(ctx, r.stepTimeout)
	defer cancel()
	defer func() { _ = r.fx.clearUploads() }()
	if err := dropCaches(); err != nil {
		return fmt.Errorf("drop caches: %w", err)
	}
	if err := warmServer(sc.Warm(r.fx)...); err != nil {
		return fmt.Errorf("warm the server's files: %w", err)
	}
	mt := &meter{srv: r.srv}
	var rss int64
	var err error
	switch {
	case cl.mounter != nil:
		rss, err = r.onMount(ctx, sc, cl.mounter, mt)
	case cl.Name == cCurl:
		err = sc.Curl(ctx, r.fx, curl, mt)
	case cl.Name == cLftp:
		err = sc.Lftp(ctx, r.fx, lftp, mt)
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("%w (step timeout %v)", err, r.stepTimeout)
	}
	for _, s := range mt.samples {
		c := r.res.cell(key{r.sec.Name, s.Row, cl.Name})
		c.Secs = append(c.Secs, s.Secs)
		if run == 1 {
			c.Cmds = s.Cmds
		}
		cmds := "(commands not counted)"
		if r.srv.countsCommands() {
			cmds = s.Cmds.String()
			if rw, ok := r.row(s.Row); ok && rw.Items > 1 {
				cmds += "; " + s.Cmds.perItem(rw.Items, rw.Per)
			}
		}
		r.progress(s.Row, run, cl.Name, r.figure(s), cmds)
	}
	if rss > 0 && sc.RSSRow != "" {
		c := r.res.cell(key{r.sec.Name, sc.RSSRow, cl.Name})
		c.RSS = append(c.RSS, rss)
	}
	return err
}

// onMount mounts afresh, runs the scenario on the mount, and unmounts; it
// returns the mount process's peak RSS.
func (r *runner) onMount(ctx context.Context, sc scenario, mo mounter, mt *meter) (int64, error) {
	m, err := mo.Mount(r.srv, r.work)
	if err != nil {
		return 0, err
	}
	undo := atExit.add("unmount "+m.Dir, func() { m.Unmount(); _ = os.Remove(m.Dir) })
	err = sc.Mount(ctx, r.fx, m.Dir, mt)
	rss, _ := m.PeakRSS()
	undo.Run()
	if err != nil {
		if out := strings.TrimSpace(m.Output()); out != "" {
			err = fmt.Errorf("%w; %s said: %s", err, mo.Name(), lastLines(out, 4))
		}
	}
	return rss, err
}

func (r *runner) figure(s sample) string {
	if rw, ok := r.row(s.Row); ok && rw.Unit == "MiB/s" {
		return fmt.Sprintf("%.1f MiB/s", float64(rw.Bytes)/s.Secs/(1<<20))
	}
	return fmt.Sprintf("%.3f s", s.Secs)
}

func (r *runner) row(id string) (row, bool) {
	for _, rw := range r.sec.Rows {
		if rw.ID == id {
			return rw, true
		}
	}
	return row{}, false
}

func (r *runner) progress(rowID string, run int, client, figure, cmds string) {
	fmt.Fprintf(os.Stderr, "%-22s %-7s run %d/%d  %-7s %14s   %s\n",
		r.sec.Name, rowID, run, r.runs, client, figure, cmds)
}

// String lists the counts, the verbs the issue asks about first.
func (c counts) String() string {
	if len(c) == 0 {
		return "no commands"
	}
	var parts []string
	seen := map[string]bool{}
	for _, v := range countedVerbs {
		seen[v] = true
		if c[v] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, c[v]))
		}
	}
	var rest []string
	for v, n := range c {
		if !seen[v] {
			rest = append(rest, fmt.Sprintf("%s %d", v, n))
		}
	}
	sort.Strings(rest)
	return strings.Join(append(parts, rest...), " · ")
}

// countedVerbs are the columns of the command table: listings, per-file
// metadata, transfers, data connections and logins.
var countedVerbs = []string{"LIST", "MLSD", "NLST", "RETR", "STOR", "MKD", "SIZE", "MDTM", "MLST", "CWD", "EPSV", "PASV", "PASS", "NOOP"}

func (r *results) addNote(n string) {
	for _, x := range r.notes {
		if x == n {
			return
		}
	}
	r.notes = append(r.notes, n)
}

// oneLine shortens an error for the notes: one line, at most n bytes.
func oneLine(err error, n int) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > n {
		s = s[:n] + " …"
	}
	return s
}
