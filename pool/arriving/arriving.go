// Package arriving carries, in a context, where a listing's entries go
// while the listing is still arriving: the pool offers each entry it has
// parsed exactly (pool/listpartial.go), and the listing cache keeps them so
// that a lookup of one name need not wait for the whole listing. It is a
// context value so that it travels from the cache's load through the
// filesystem's load function into the pool without either knowing the
// other (like package priority).
package arriving

import (
	"context"
	"io/fs"
)

// Sink receives a listing's entries as they arrive. Arrived offers an
// entry that will be in the finished listing exactly as given, unless it is
// later withdrawn: Withdrawn says the listing named it again (a name given
// twice: one of the lines may be forged by a name holding a line break),
// so the finished listing's entry may differ and the early one must no
// longer be used. Both are called from the goroutine reading the listing,
// in the listing's order, and must be quick.
type Sink interface {
	Arrived(fi fs.FileInfo)
	Withdrawn(name string)
}

type key struct{}

// WithSink returns ctx carrying s, for a listing made under it.
func WithSink(ctx context.Context, s Sink) context.Context {
	return context.WithValue(ctx, key{}, s)
}

// SinkFrom is the sink ctx carries, or nil.
func SinkFrom(ctx context.Context) Sink {
	s, _ := ctx.Value(key{}).(Sink)
	return s
}
