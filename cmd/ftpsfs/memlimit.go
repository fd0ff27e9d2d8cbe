package main

import (
	"os"
	"runtime/debug"
)

// memoryHeadroom is what the process needs beside the block cache: buffers
// in flight, listings, the runtime itself.
const memoryHeadroom = 48 << 20

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
