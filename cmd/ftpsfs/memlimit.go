package main

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"github.com/ftpsfs/ftpsfs/cache"
)

// maxListings bounds the listing cache by count; cache.DefaultMaxBytes
// bounds it by estimated bytes.
const maxListings = 10000

// memoryHeadroom is what the process needs beside the two caches: buffers
// in flight, listings being received, the runtime itself.
const memoryHeadroom = 48 << 20

// limitMemory keeps the Go heap near what the caches hold: by default the
// collector lets the heap grow to twice what is live, so a full block
// cache whose blocks are replaced by a long read would otherwise take
// twice cache_size. Cached listings (up to cache.DefaultMaxBytes) come on
// top of cache_size, so the limit follows their estimated bytes, checked
// every second until ctx ends: a fixed limit would leave the collector
// running without end once listings fill the headroom. GOMEMLIMIT, when
// set, wins.
func limitMemory(ctx context.Context, cacheSize int64, dirs *cache.Dirs) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	set := func() { debug.SetMemoryLimit(cacheSize + memoryHeadroom + dirs.Stats().Bytes) }
	set()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				set()
			}
		}
	}()
}
