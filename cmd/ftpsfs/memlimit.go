package main

import (
	"os"
	"runtime/debug"

	"github.com/ftpsfs/ftpsfs/cache"
)

// maxListings bounds the listing cache by count; cache.DefaultMaxBytes
// bounds it by estimated bytes.
const maxListings = 10000

// memoryHeadroom is what the process needs beside the block cache: the
// cached listings (cache.DefaultMaxBytes), and 48 MiB for buffers in
// flight, listings being loaded and the runtime itself.
const memoryHeadroom = cache.DefaultMaxBytes + 48<<20

// limitMemory keeps the Go heap near cache_size: by default the collector
// lets the heap grow to twice what is live, so a full block cache whose
// blocks are replaced by a long read would otherwise take twice cache_size.
// GOMEMLIMIT, when set, wins.
func limitMemory(cacheSize int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(cacheSize + memoryHeadroom)
}
