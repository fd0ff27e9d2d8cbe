package main

import (
	"strings"
	"testing"
	"time"
)

func TestGoalAtMatchesOnlyItsRTT(t *testing.T) {
	rw := row{Goals: []goal{{RTT: ms20, Secs: 10, Full: 200, N: 200}}}
	if _, _, ok := rw.goalAt(0); ok {
		t.Error("a 20 ms goal applied at 0 ms")
	}
	if _, _, ok := rw.goalAt(100 * time.Millisecond); ok {
		t.Error("a 20 ms goal applied at 100 ms")
	}
	limit, label, ok := rw.goalAt(ms20)
	if !ok || limit != 10 || label != "≤ 10.00 s" {
		t.Errorf("goalAt(20ms) = %v, %q, %v; want 10, \"≤ 10.00 s\", true", limit, label, ok)
	}
}

func TestGoalAtScalesToOtherSizes(t *testing.T) {
	rw := row{Goals: []goal{{RTT: ms20, Secs: 30, Full: 1000, N: 100}}}
	limit, label, ok := rw.goalAt(ms20)
	if !ok || limit != 3 {
		t.Fatalf("goalAt = %v, %v; want 3 s (30 s × 100/1000)", limit, ok)
	}
	if !strings.Contains(label, "scaled") || !strings.Contains(label, "30.00 s for 1000") {
		t.Errorf("label %q does not say the goal was scaled from the issue's", label)
	}
}

func TestTargetColumnShowsGoalAndBothChecks(t *testing.T) {
	rw := row{ID: "c", Unit: "s", Target: "1 listing per dir",
		Check: func(c counts, _ float64) bool { return c.listings() <= 200 },
		Goals: []goal{{RTT: ms20, Secs: 10, Full: 200, N: 200}}}
	res := &results{cells: map[key]*cell{}}
	sec := &section{Name: "20 ms RTT, vsftpd", RTT: ms20, Rows: []row{rw}, Counted: true}
	c := res.cell(key{sec.Name, "c", cFtpsfs})
	c.Secs, c.Cmds = []float64{12, 8, 9}, counts{"LIST": 200}
	rp := report{res: res}
	if got, want := rp.target(sec, rw, rw.Target), "1 listing per dir; ≤ 10.00 s — server: ✓, time: ✓"; got != want {
		t.Errorf("median 9 s: target = %q, want %q", got, want)
	}
	c.Secs, c.Cmds = []float64{12, 11, 9}, counts{"LIST": 201}
	if got, want := rp.target(sec, rw, rw.Target), "1 listing per dir; ≤ 10.00 s — server: ✗, time: ✗"; got != want {
		t.Errorf("median 11 s: target = %q, want %q", got, want)
	}
	sec0 := &section{Name: "0 ms RTT, vsftpd", RTT: 0, Rows: []row{rw}}
	if got := rp.target(sec0, rw, rw.Target); got != "1 listing per dir" {
		t.Errorf("no goal at 0 ms and no counts: target = %q, want the bare target", got)
	}
}

func TestPerItem(t *testing.T) {
	for _, tc := range []struct {
		c     counts
		items int
		per   string
		want  string
	}{
		{counts{"LIST": 200, "EPSV": 200, "CWD": 200, "PWD": 2}, 200, "dir",
			"3.0 cmds/dir (CWD 1.0 · EPSV 1.0 · LIST 1.0 · PWD 0.01)"},
		{counts{"RETR": 100, "EPSV": 100, "TYPE": 8, "PASS": 8, "USER": 8}, 100, "file",
			"2.2 cmds/file (EPSV 1.0 · RETR 1.0 · PASS 0.1 · TYPE 0.1 · …)"},
		{counts{}, 1, "listing", "0.0 cmds/listing"},
		{counts{"RETR": 1}, 0, "file", "—"},
	} {
		if got := tc.c.perItem(tc.items, tc.per); got != tc.want {
			t.Errorf("perItem(%v, %d, %q) = %q, want %q", tc.c, tc.items, tc.per, got, tc.want)
		}
	}
}

func TestScenarioLetters(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		if !cfg.letters[l] {
			t.Errorf("scenario %s is not run by default", l)
		}
	}
	if _, err := parseFlags([]string{"-scenarios", "i"}); err == nil {
		t.Error("-scenarios i accepted")
	}
	var ids []string
	for _, sc := range scenarios(quickSizes) {
		for _, rw := range sc.Rows {
			ids = append(ids, rw.ID)
			if rw.Items < 1 || rw.Per == "" {
				t.Errorf("row %s has no item count for its commands per item", rw.ID)
			}
		}
	}
	if ids[len(ids)-1] != "h" {
		t.Errorf("rows %v: want h last", ids)
	}
}

// The mount logs its connections in after mounting, in the background: those
// commands during a warm listing are not the listing's.
func TestWarmListingCheckIgnoresBackgroundLogins(t *testing.T) {
	var check func(counts, float64) bool
	for _, sc := range scenarios(quickSizes) {
		for _, rw := range sc.Rows {
			if rw.ID == "b warm" {
				check = rw.Check
			}
		}
	}
	if check == nil {
		t.Fatal("no b warm row")
	}
	if !check(counts{"USER": 2, "PASS": 2, "AUTH": 2, "PBSZ": 2, "PROT": 2, "TYPE": 2, "FEAT": 2, "NOOP": 2}, 0.03) {
		t.Error("background logins failed the warm listing's check")
	}
	if check(counts{"CWD": 1, "EPSV": 1, "LIST": 1}, 0.03) {
		t.Error("a listing passed the warm listing's check")
	}
}
