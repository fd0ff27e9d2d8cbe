package pool

import (
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/jlaffaye/ftp"
)

// A listing that fails for a reason of its own (here: larger than
// max_listing) while the slow-listing watch cuts it, because its server
// holds the final reply and every slow slot is taken. Before the fix the
// failure was taken for the cut: the listing waited for a slot (until its
// timeout here, since the slot's holder drips for longer) to run again.
func TestListingFailureAtTheSlowCutStands(t *testing.T) {
	var big atomic.Int32
	h := startHostile(t, func(h *hostile) {
		h.list = func(dir string, w net.Conn) error {
			if dir == "/big" {
				big.Add(1)
				for i := range 50 {
					if listLine(w, i) != nil {
						break
					}
				}
				time.Sleep(1500 * time.Millisecond) // the final reply waits
				return nil
			}
			return endless(500*time.Millisecond)(dir, w) // under max_listing for longer than its context
		}
	})
	// Two connections: one slow slot, which the dripping listing takes.
	p := h.pool(func(c *Config) { c.MaxConns = 2; c.MaxListing = 10; c.Timeout = 10 * time.Second })
	p.slowAfter = 200 * time.Millisecond

	var wg sync.WaitGroup
	wg.Add(1)
	dripCtx := ctxFor(t, 4*time.Second)
	go func() {
		defer wg.Done()
		_, _ = p.List(dripCtx, "/drip")
	}()
	defer wg.Wait()
	if !waitFor(2*time.Second, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.slowListings == 1
	}) {
		t.Fatal("the dripping listing never took the slow slot")
	}

	_, err := p.List(ctxFor(t, 3*time.Second), "/big")
	if !errors.Is(err, ErrListingTooLarge) {
		t.Errorf("List /big: %v, want ErrListingTooLarge", err)
	}
	if n := big.Load(); n != 1 {
		t.Errorf("/big listed %d times, want once", n)
	}
	if n := p.Metrics.SlowListingsStopped.Load(); n != 1 {
		t.Errorf("%d listings stopped by the watch, want 1 (/big; else this test did not test the cut)", n)
	}
}

func TestCutError(t *testing.T) {
	for _, c := range []struct {
		err error
		cut bool
	}{
		{&net.OpError{Op: "read", Err: net.ErrClosed}, true},
		{errors.Join(&net.OpError{Op: "read", Err: net.ErrClosed}, &net.OpError{Op: "read", Err: net.ErrClosed}), true},
		{errors.Join(&textproto.Error{Code: 550, Msg: "no such directory"}, net.ErrClosed), false},
		{&ReplyError{Op: "LIST", Code: 550, Msg: "no"}, false},
		{errors.Join(ErrListingTooLarge, net.ErrClosed), false},
		{ErrReplyTooLarge, false},
	} {
		if got := cutError(c.err); got != c.cut {
			t.Errorf("cutError(%v) = %v, want %v", c.err, got, c.cut)
		}
	}
}

// Before the fix a listed name was a slice of its whole listing line
// (jlaffaye/ftp's parsers cut it out), so each cached entry kept its line
// alive, uncounted by the cache's estimate.
func TestListedNamesDoNotHoldTheirLine(t *testing.T) {
	line := "type=file;size=1;modify=20200101000000;unix.mode=0644; name.txt"
	name := line[strings.IndexByte(line, ' ')+1:]
	ls := "lrwxrwxrwx    1 1000     1000            6 Jan 01 00:00 link -> target"
	link, target := ls[strings.Index(ls, "link"):][:4], ls[strings.Index(ls, "target"):]
	out := convertEntries([]*ftp.Entry{
		{Name: name, Type: ftp.EntryTypeFile},
		{Name: link, Type: ftp.EntryTypeLink, Target: target},
	}, newListingSniffer(true, 0), true)
	if len(out) != 2 || out[0].Name() != "name.txt" || out[1].Name() != "link" {
		t.Fatalf("converted %v", out)
	}
	if unsafe.StringData(out[0].Name()) == unsafe.StringData(name) {
		t.Error("a file's name shares its listing line's memory")
	}
	if unsafe.StringData(out[1].Name()) == unsafe.StringData(link) {
		t.Error("a link's name shares its listing line's memory")
	}
	if got := out[1].(*fileInfo).LinkTarget(); got != "target" || unsafe.StringData(got) == unsafe.StringData(target) {
		t.Errorf("link target %q shares its listing line's memory (or is wrong)", got)
	}
}
