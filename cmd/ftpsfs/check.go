package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/ftpsfs/ftpsfs/mountopts"
	"github.com/ftpsfs/ftpsfs/pool"
)

// check connects as a mount would, lists the start directory, and says
// whether that would work.
func check(cfg *mountopts.Config, stdout io.Writer) (int, error) {
	log := slog.New(slog.DiscardHandler)
	p, err := pool.New(poolConfig(cfg, log))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	fmt.Fprintf(stdout, "server:      %s:%d (%s)\n", cfg.Host, cfg.Port, cfg.TLS)
	fmt.Fprintf(stdout, "user:        %s (password from %s)\n", cfg.User, sourceName(cfg.PasswordSource))
	if err := p.Check(ctx, cfg.Root); err != nil {
		return 0, err
	}
	fmt.Fprintln(stdout, "login:       ok")
	entries, err := p.List(ctx, cfg.Root)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(stdout, "listing:     %s: %d entries\n", cfg.Root, len(entries))
	if cfg.TLS != mountopts.TLSNone {
		resumed := "yes"
		if p.Metrics.ResumeMisses.Load() > 0 {
			resumed = "no (servers that require session reuse will refuse transfers)"
		}
		fmt.Fprintf(stdout, "tls resumed: %s\n", resumed)
	}
	fmt.Fprintln(stdout, "result:      a mount would work")
	return exitOK, nil
}

func sourceName(s string) string {
	if s == "" {
		return "the parent process"
	}
	return s
}
