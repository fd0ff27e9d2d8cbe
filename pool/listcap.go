package pool

import (
	"bytes"
	"fmt"
	"io"
)

// listingCap enforces max_listing while a listing arrives: it counts the
// lines and bytes of the data connection, so an endless or huge listing is
// cut at the cap instead of being read, parsed and held whole.
type listingCap struct {
	max              int   // max_listing, for the message
	maxLines, lines  int64 // entries, plus the few lines that are none ("total", ".", "..")
	maxBytes, nbytes int64
}

// listingBytesPerEntry is the average line length the byte cap allows
// (MLSD lines with every fact and a long name are some 200 bytes): it
// bounds the memory of lines too long to count, or entries with long names.
const listingBytesPerEntry = 512

// minListingBytes keeps a small max_listing from refusing a few long lines.
const minListingBytes = 1 << 20

func newListingCap(maxEntries int) listingCap {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxListing
	}
	return listingCap{max: maxEntries, maxLines: int64(maxEntries) + 3,
		maxBytes: max(int64(maxEntries)*listingBytesPerEntry, minListingBytes)}
}

// add counts b and reports an error wrapping ErrListingTooLarge once the
// listing is past the cap.
func (c *listingCap) add(b []byte) error {
	c.nbytes += int64(len(b))
	c.lines += int64(bytes.Count(b, []byte{'\n'}))
	switch {
	case c.lines > c.maxLines:
		return fmt.Errorf("%w: more than %d entries (max_listing=%d)", ErrListingTooLarge, c.max, c.max)
	case c.nbytes > c.maxBytes:
		return fmt.Errorf("%w: more than %d MiB for at most %d entries (max_listing=%d)", ErrListingTooLarge, c.maxBytes>>20, c.max, c.max)
	}
	return nil
}

// capReader is a listing's data stream, failing once past its cap.
type capReader struct {
	r   io.Reader
	cap listingCap
	err error
}

func (c *capReader) Read(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(b)
	if c.err = c.cap.add(b[:n]); c.err != nil {
		return 0, c.err
	}
	return n, err
}
