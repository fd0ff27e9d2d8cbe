package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// table is rendered twice: aligned text for the terminal, markdown for -out.
type table struct {
	header []string
	rows   [][]string
}

func (t table) text(w io.Writer) {
	width := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			pad := width[i] - utf8.RuneCountInString(c)
			if i == 0 {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString("  " + strings.Repeat(" ", pad) + c) // figures right-aligned
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.header)
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}

func (t table) markdown(w io.Writer) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.header, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(t.header)))
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

// report turns the results into tables.
type report struct {
	res      *results
	clients  []client
	cacheMiB int64 // ftpsfs's cache_size, for the RSS target
}

// figureTable is one section's results: a figure per client, then ratios.
// Ratios are speeds (> 1: ftpsfs is faster), whatever the unit.
func (rp report) figureTable(sec *section) table {
	t := table{header: []string{"scenario"}}
	for _, cl := range rp.clients {
		name := cl.Name
		if cl.mounter != nil && cl.Name != cFtpsfs {
			name += " mount"
		}
		t.header = append(t.header, name)
	}
	t.header = append(t.header, "ftpsfs/best direct", "ftpsfs/rclone", "target")
	for _, rw := range sec.Rows {
		r := []string{rw.ID + ": " + rw.Title + " (" + rw.Unit + ")"}
		for _, cl := range rp.clients {
			r = append(r, rp.figure(sec, rw, cl.Name))
		}
		ratio := func(other ...string) string {
			f, ok := rp.median(sec, rw, cFtpsfs)
			best, okb := 0.0, false
			for _, o := range other {
				if v, ok := rp.median(sec, rw, o); ok && (!okb || v < best) {
					best, okb = v, true
				}
			}
			if !ok || !okb || rw.Unit == "MiB" {
				return "—"
			}
			return fmt.Sprintf("%.2f", best/f) // times: the faster one's time over ftpsfs's
		}
		direct, peer := ratio(cCurl, cLftp), ratio(cRclone)
		target := rw.Target
		if rw.Unit == "MiB" {
			target = fmt.Sprintf("≤ %d MiB (cache_size + 64 MiB)", rp.cacheMiB+64)
		}
		r = append(r, direct+rp.verdict(sec, rw, direct), peer, rp.target(sec, rw, target))
		t.rows = append(t.rows, r)
	}
	return t
}

// target is the row's target column: the structural target and the issue's
// numeric goal at this RTT, then whether ftpsfs met each, the first from the
// server's command counts in the first run, the second from the median:
// "1 listing per dir; ≤ 10 s — server: ✓, time: ✗".
func (rp report) target(sec *section, rw row, target string) string {
	limit, label, hasGoal := rw.goalAt(sec.RTT)
	if hasGoal {
		target += "; " + label
	}
	var checks []string
	if c := rp.res.cells[key{sec.Name, rw.ID, cFtpsfs}]; rw.Check != nil && sec.Counted && c != nil && len(c.Secs) > 0 {
		checks = append(checks, "server: "+mark(rw.Check(c.Cmds, c.Secs[0])))
	}
	if v, ok := rp.median(sec, rw, cFtpsfs); hasGoal && ok {
		checks = append(checks, "time: "+mark(v <= limit))
	}
	if len(checks) == 0 {
		return target
	}
	return target + " — " + strings.Join(checks, ", ")
}

// verdict marks the ratios and sizes the issue sets a number for.
func (rp report) verdict(sec *section, rw row, ratio string) string {
	var need float64
	switch rw.ID {
	case "a":
		need = 0.9
	case "f":
		need = 0.8
	case "g a", "g d":
		c := rp.res.cells[key{sec.Name, rw.ID, cFtpsfs}]
		if c == nil || len(c.RSS) == 0 {
			return ""
		}
		if slices.Max(c.RSS)>>20 <= rp.cacheMiB+64 {
			return " (RSS ok)"
		}
		return " (RSS over)"
	default:
		return ""
	}
	var v float64
	if _, err := fmt.Sscanf(ratio, "%g", &v); err != nil {
		return ""
	}
	if v >= need {
		return " ✓"
	}
	return " ✗"
}

// median is the median time in seconds (or peak RSS in bytes for rows g).
func (rp report) median(sec *section, rw row, client string) (float64, bool) {
	c := rp.res.cells[key{sec.Name, rw.ID, client}]
	if c == nil || c.Err != "" {
		return 0, false
	}
	if rw.Unit == "MiB" {
		if len(c.RSS) == 0 {
			return 0, false
		}
		return float64(slices.Max(c.RSS)), true
	}
	if len(c.Secs) == 0 {
		return 0, false
	}
	s := slices.Sorted(slices.Values(c.Secs))
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func (rp report) figure(sec *section, rw row, client string) string {
	c := rp.res.cells[key{sec.Name, rw.ID, client}]
	switch {
	case c == nil:
		return "—"
	case c.NA != "":
		return c.NA
	case c.Err != "":
		return "failed (see notes)"
	}
	v, ok := rp.median(sec, rw, client)
	if !ok {
		return "—"
	}
	n := len(c.Secs)
	switch rw.Unit {
	case "MiB/s":
		return fmt.Sprintf("%.1f (n=%d)", float64(rw.Bytes)/v/(1<<20), n)
	case "MiB":
		return fmt.Sprintf("%d", int64(v)>>20)
	}
	return fmt.Sprintf("%s (n=%d)", seconds(v), n)
}

func seconds(v float64) string {
	switch {
	case v < 0.01:
		return fmt.Sprintf("%.2f ms", v*1000)
	case v < 1:
		return fmt.Sprintf("%.0f ms", v*1000)
	case v < 100:
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.0f s", v)
}

// commandTable lists, for each row and client, the commands the server
// received during the first run, so "one listing, no per-entry command" and
// "warm: no server traffic" are read off the server, not assumed.
func (rp report) commandTable(sec *section) table {
	used := map[string]bool{}
	var cellsInOrder []struct {
		rw  row
		cl  string
		cmd counts
	}
	for _, rw := range sec.Rows {
		for _, cl := range rp.clients {
			c := rp.res.cells[key{sec.Name, rw.ID, cl.Name}]
			if c == nil || len(c.Secs) == 0 {
				continue
			}
			for v, n := range c.Cmds {
				if n > 0 {
					used[v] = true
				}
			}
			cellsInOrder = append(cellsInOrder, struct {
				rw  row
				cl  string
				cmd counts
			}{rw, cl.Name, c.Cmds})
		}
	}
	var cols []string
	for _, v := range countedVerbs {
		if used[v] {
			cols = append(cols, v)
		}
	}
	t := table{header: append(append([]string{"scenario", "client"}, cols...), "other", "total", "per item")}
	for _, x := range cellsInOrder {
		r := []string{x.rw.ID, x.cl}
		other := x.cmd.total()
		for _, v := range cols {
			r = append(r, fmt.Sprint(x.cmd[v]))
			other -= x.cmd[v]
		}
		t.rows = append(t.rows, append(r, fmt.Sprint(other), fmt.Sprint(x.cmd.total()), x.cmd.perItem(x.rw.Items, x.rw.Per)))
	}
	return t
}

// write prints every section: its header lines, the figures, the commands.
func (rp report) write(w io.Writer, md bool, preamble []string) {
	render := func(t table) {
		if md {
			t.markdown(w)
		} else {
			t.text(w)
		}
	}
	heading := func(level int, s string) {
		if md {
			fmt.Fprintf(w, "\n%s %s\n\n", strings.Repeat("#", level), s)
		} else {
			fmt.Fprintf(w, "\n== %s ==\n\n", s)
		}
	}
	bullet := func(s string) {
		if md {
			fmt.Fprintf(w, "- %s\n", s)
		} else {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	heading(1, "ftpsfs benchmark (make bench)")
	for _, p := range preamble {
		bullet(p)
	}
	for _, sec := range rp.res.sections {
		heading(2, sec.Name)
		for _, h := range sec.Header {
			bullet(h)
		}
		fmt.Fprintln(w)
		render(rp.figureTable(sec))
		fmt.Fprintln(w)
		switch {
		case !sec.Counted:
			bullet("commands not counted: ftpserverlib logs commands only for clients in debug mode, which " +
				"e2e/testserver does not switch on (ClientContext.SetDebug(true) in its ClientConnected would)")
		case md:
			fmt.Fprintln(w, "Commands the server received (first run of each):")
			fmt.Fprintln(w)
			render(rp.commandTable(sec))
		default:
			fmt.Fprintln(w, "  commands the server received (first run of each):")
			render(rp.commandTable(sec))
		}
	}
	if len(rp.res.notes) > 0 {
		heading(2, "Notes")
		for _, n := range rp.res.notes {
			bullet(n)
		}
	}
}

// human prints a size the way the issue does: 1 GiB, 64 KiB.
func human(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}
