package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/ftpsfs/ftpsfs/pool/arriving"
)

// drip is a load that offers entries through the context's sink when
// told, and ends when release is closed.
type drip struct {
	offer   chan fs.FileInfo
	offered chan struct{}
	release chan struct{}
	started chan struct{}
}

func newDrip() *drip {
	return &drip{offer: make(chan fs.FileInfo), offered: make(chan struct{}), release: make(chan struct{}), started: make(chan struct{}, 1)}
}

func (d *drip) load(ctx context.Context) ([]fs.FileInfo, error) {
	sink := arriving.SinkFrom(ctx)
	if sink == nil {
		return nil, errors.New("no sink in the load's context")
	}
	d.started <- struct{}{}
	var all []fs.FileInfo
	for {
		select {
		case fi := <-d.offer:
			sink.Arrived(fi)
			all = append(all, fi)
			d.offered <- struct{}{}
		case <-d.release:
			return all, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// give has the load offer fi, and returns once it has.
func (d *drip) give(fi fs.FileInfo) {
	d.offer <- fi
	<-d.offered
}

// startDrip starts a load of "/d" (a Get in the background) and waits for
// it to run.
func startDrip(t *testing.T, d *Dirs) (*drip, <-chan error) {
	t.Helper()
	l := newDrip()
	done := make(chan error, 1)
	go func() {
		_, err := d.Get(context.Background(), "/d", l.load)
		done <- err
	}()
	<-l.started
	return l, done
}

// TestArrivingEntriesAnswerLookups: entries given by a listing still
// arriving are found by LookupArriving; others are not (yet); after the
// load ends the arriving entries are no longer consulted.
func TestArrivingEntriesAnswerLookups(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	l, done := startDrip(t, d)
	if _, ok := d.LookupArriving("/d", "a"); ok {
		t.Fatal("a found before it arrived")
	}
	l.give(fileInfo{name: "a", size: 7})
	fi, ok := d.LookupArriving("/d", "a")
	if !ok || fi.Size() != 7 {
		t.Fatalf("a while arriving: %v %v", fi, ok)
	}
	if _, ok := d.LookupArriving("/d", "b"); ok {
		t.Error("b found although it has not arrived")
	}
	close(l.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := d.LookupArriving("/d", "a"); ok {
		t.Error("arriving entries consulted after the load ended")
	}
}

// TestArrivingEntriesDroppedByLocalChange: after Update or Invalidate of a
// directory whose listing still arrives, its arriving entries are not
// served (a local create, remove or rename must win), nor are later ones.
func TestArrivingEntriesDroppedByLocalChange(t *testing.T) {
	for name, change := range map[string]func(d *Dirs){
		"Update":         func(d *Dirs) { d.Update("/d", func(m map[string]fs.FileInfo) { delete(m, "a") }) },
		"Invalidate":     func(d *Dirs) { d.Invalidate("/d") },
		"InvalidateTree": func(d *Dirs) { d.InvalidateTree("/") },
		"Purge":          func(d *Dirs) { d.Purge() },
	} {
		t.Run(name, func(t *testing.T) {
			d := NewDirs(time.Minute, 10, nil)
			l, done := startDrip(t, d)
			l.give(fileInfo{name: "a"})
			f := d.inflight["/d"]
			change(d)
			if _, ok := d.LookupArriving("/d", "a"); ok {
				t.Error("a served from a disowned load")
			}
			if fi, ok, _ := f.arriving.lookup("a"); ok {
				t.Errorf("disowned load's arrivals still hold %v", fi)
			}
			l.give(fileInfo{name: "b"})
			if fi, ok, _ := f.arriving.lookup("b"); ok {
				t.Errorf("disowned load's arrivals took %v", fi)
			}
			close(l.release)
			<-done
		})
	}
}

// TestGetArriving: a caller wanting one name gets it once it arrives
// (after patience), gets the listing when that ends first, and for a name
// that never arrives waits for the listing's end.
func TestGetArriving(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	l, done := startDrip(t, d)
	type res struct {
		l   *Listing
		err error
	}
	ask := func(name string) <-chan res {
		ch := make(chan res, 1)
		go func() {
			l, err := d.GetArriving(context.Background(), "/d", name, 0, l.load)
			ch <- res{l, err}
		}()
		return ch
	}
	a, missing := ask("a"), ask("missing")
	time.Sleep(20 * time.Millisecond) // both waiting; nothing arrived
	l.give(fileInfo{name: "other"})
	l.give(fileInfo{name: "a", size: 3})
	select {
	case r := <-a:
		fi, ok := r.l.Lookup("a")
		if r.err != nil || !r.l.Partial || !ok || fi.Size() != 3 || len(r.l.Names) != 1 {
			t.Errorf("a: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a not answered once it arrived")
	}
	select {
	case r := <-missing:
		t.Fatalf("missing answered before the listing ended: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	close(l.release)
	r := <-missing
	if r.err != nil || r.l == nil || r.l.Partial {
		t.Fatalf("missing: %+v", r)
	}
	if _, ok := r.l.Lookup("missing"); ok {
		t.Error("missing in the listing")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Cached now: answered from the listing.
	got, err := d.GetArriving(context.Background(), "/d", "a", 0, l.load)
	if err != nil || got == nil || got.Partial {
		t.Errorf("after the load: %v %v", got, err)
	}
}

// TestGetArrivingCallerDeadline: a caller whose context ends stops
// waiting, and being the last waiter stops the load.
func TestGetArrivingCallerDeadline(t *testing.T) {
	d := NewDirs(time.Minute, 10, nil)
	l := newDrip()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := d.GetArriving(ctx, "/d", "a", 0, l.load)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetArriving past its deadline: %v", err)
	}
	d.mu.Lock()
	n := len(d.inflight)
	d.mu.Unlock()
	if n != 0 {
		t.Error("the load nobody waits for is still in flight")
	}
}

// TestArrivalsAreCapped: a load keeps at most maxArrivals entries early
// (they are outside the listing budget); a name beyond the cap is not
// offered, so its lookup waits for the listing, while one kept is still
// answered and replaced. Before, every entry of a listing was kept.
func TestArrivalsAreCapped(t *testing.T) {
	a := newArrivals()
	for i := range maxArrivals + 100 {
		a.Arrived(fileInfo{name: fmt.Sprintf("f%d", i)})
	}
	if n := len(a.entries); n != maxArrivals {
		t.Fatalf("%d arrivals kept, want at most %d", n, maxArrivals)
	}
	if _, ok, more := a.lookup(fmt.Sprintf("f%d", maxArrivals)); ok || more == nil {
		t.Errorf("a name beyond the cap was offered (ok %v), or its lookup cannot wait (more %v)", ok, more)
	}
	a.Arrived(fileInfo{name: "f0", size: 7})
	if fi, ok, _ := a.lookup("f0"); !ok || fi.Size() != 7 {
		t.Errorf("a kept name given again: %v, %v; want the new entry", fi, ok)
	}
}
