package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"

	"github.com/ftpsfs/ftpsfs/pool"
)

// capabilities reports what the mount can do beyond reading and writing:
// whether chmod reaches the server, and whether df shows its free space.
func (c *checker) capabilities(ctx context.Context, p *pool.Pool) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	// The upload prefix keeps the probe file hidden from every mount.
	tmp := path.Join(c.cfg.Root, ".ftpsfs-upload-check-"+hex.EncodeToString(b))
	switch ok, err := p.ProbeChmod(ctx, tmp); {
	case err != nil:
		c.line("chmod", "not tried: could not create a file in "+c.cfg.Root+" ("+userMessage(err)+")")
	case ok:
		c.line("chmod", "ok: SITE CHMOD works; modes are kept when files are replaced")
	default:
		c.line("chmod", "the server refuses SITE CHMOD: chmod fails with EPERM, and replaced files get the server's default mode")
		if !c.cfg.ChmodIgnore {
			c.recommend("chmod=ignore", "programs that insist on chmod (cp -p, rsync -a) then succeed; modes stay as the server sets them")
		}
	}
	n, err := p.Avail(ctx, c.cfg.Root)
	switch {
	case err == nil:
		c.line("free space", fmt.Sprintf("%d MiB (AVBL): df shows it", n>>20))
	case errors.Is(err, errors.ErrUnsupported):
		c.line("free space", "the server does not tell (no AVBL): df shows statfs_size=")
	default:
		c.line("free space", "could not ask: "+userMessage(err))
	}
}
