package priority

import (
	"context"
	"testing"
)

func TestForegroundByDefault(t *testing.T) {
	ctx := context.Background()
	if IsBackground(ctx) {
		t.Fatal("a plain context reads as background")
	}
	if Promoted(ctx) != nil {
		t.Fatal("a plain context has a promotion channel")
	}
	Promote(ctx) // must not panic
}

func TestPromoteEndsBackground(t *testing.T) {
	bg := Background(context.Background())
	child, cancel := context.WithCancel(bg)
	defer cancel()
	if !IsBackground(bg) || !IsBackground(child) {
		t.Fatal("background context or its child reads as foreground")
	}
	ch := Promoted(child)
	select {
	case <-ch:
		t.Fatal("promoted before Promote")
	default:
	}
	Promote(child)
	Promote(bg) // twice is fine
	select {
	case <-ch:
	default:
		t.Fatal("Promote did not close the channel")
	}
	if IsBackground(bg) || IsBackground(child) {
		t.Fatal("still background after Promote")
	}
}

func TestWithoutCancelKeepsClass(t *testing.T) {
	bg := Background(context.Background())
	if !IsBackground(context.WithoutCancel(bg)) {
		t.Fatal("a detached load lost its class")
	}
}

func TestEachBackgroundIsItsOwn(t *testing.T) {
	a := Background(context.Background())
	b := Background(a)
	Promote(b)
	if !IsBackground(a) {
		t.Fatal("promoting a nested background promoted its parent")
	}
}
