package main

// The numeric goals, and the commands the server received per item:
// both are read beside each figure, so a row says how fast it had to be and
// what it cost in round trips.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// goal is a numeric target from issue 14: at RTT, ftpsfs's median must be
// at most Secs for Full items (the sizes, fullSizes); this run has N.
type goal struct {
	RTT     time.Duration
	Secs    float64
	Full, N int
}

// goalAt is the row's goal at rtt as a limit in seconds and its label. A
// run with other sizes (-quick) scales the limit to its item count, and the
// label says so: the figure holds only for the sizes.
func (rw row) goalAt(rtt time.Duration) (limit float64, label string, ok bool) {
	for _, g := range rw.Goals {
		if g.RTT != rtt {
			continue
		}
		if g.N == g.Full {
			return g.Secs, "≤ " + seconds(g.Secs), true
		}
		limit = g.Secs * float64(g.N) / float64(g.Full)
		return limit, fmt.Sprintf("≤ %s (%s for %d, scaled to %d)", seconds(limit), seconds(g.Secs), g.Full, g.N), true
	}
	return 0, "", false
}

// mark is the check mark for a condition met or not.
func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// perItem says what one item cost the server, the busiest verbs first:
// "4.1 cmds/dir (LIST 1.0 · EPSV 1.0 · CWD 1.0 · …)".
func (c counts) perItem(items int, per string) string {
	if items <= 0 || per == "" {
		return "—"
	}
	n := float64(items)
	head := fmt.Sprintf("%s cmds/%s", perFigure(float64(c.total())/n), per)
	var verbs []string
	for v, k := range c {
		if k > 0 {
			verbs = append(verbs, v)
		}
	}
	if len(verbs) == 0 {
		return head
	}
	slices.SortFunc(verbs, func(a, b string) int { return cmp.Or(c[b]-c[a], strings.Compare(a, b)) })
	const shown = 4
	var parts []string
	for _, v := range verbs[:min(shown, len(verbs))] {
		parts = append(parts, v+" "+perFigure(float64(c[v])/n))
	}
	if len(verbs) > shown {
		parts = append(parts, "…")
	}
	return head + " (" + strings.Join(parts, " · ") + ")"
}

// perFigure prints a per-item count with one decimal, or two when it is
// small enough that one would round it to 0.0.
func perFigure(v float64) string {
	if v > 0 && v < 0.05 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
