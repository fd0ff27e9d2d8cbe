package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// row is one line of the results table.
type row struct {
	ID     string // "a", "b cold", …
	Title  string
	Unit   string // "MiB/s" (Bytes per median time), "s", or "MiB" (peak RSS)
	Bytes  int64
	Target string // what ftpsfs must reach, shown beside the ratios
	// Check tells from the commands the server received during the row's
	// first run, which took secs, whether ftpsfs met the target's
	// structural part (nil: no such part).
	Check func(c counts, secs float64) bool
	// Goals are the numeric targets for ftpsfs's median, by RTT.
	Goals []goal
	// Items is how many Per the row handles (200 dirs, 1000 files…): the
	// report divides the server's command counts by it.
	Items int
	Per   string // "dir", "file", "read", "listing"
}

// ms20 is the round trip the goals are set at.
const ms20 = 20 * time.Millisecond

// listings and perFile add up the commands that list a directory and those
// that ask about one file.
func (c counts) listings() int { return c["LIST"] + c["MLSD"] + c["NLST"] }
func (c counts) perFile() int  { return c["SIZE"] + c["MDTM"] + c["MLST"] }

// logins counts what logging in a connection costs (ftpsfs logs in
// connections= of them after mounting, in the background).
func (c counts) logins() int {
	n := 0
	for _, v := range []string{"USER", "PASS", "AUTH", "PBSZ", "PROT", "TYPE", "FEAT", "OPTS", "SYST", "PWD", "NOOP"} {
		n += c[v]
	}
	return n
}

// scenario is one cold measurement: the server's files are re-read into
// memory, the client's caches dropped, a fresh mount made, then the timed
// body runs. Direct clients run their equivalent (nil: there is none).
type scenario struct {
	Letter string // for -scenarios
	Rows   []row
	RSSRow string                  // the (g) row the mount's peak RSS goes to, if any
	Warm   func(*fixture) []string // server-side paths the body touches
	Mount  func(ctx context.Context, fx *fixture, dir string, mt *meter) error
	Curl   func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error
	Lftp   func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error
	// NoRef says why a direct client has no figure, for the notes.
	NoRef map[string]string
}

// meter times the parts of a scenario and counts the commands the server
// received during each.
type meter struct {
	srv     *server
	samples []sample
}

type sample struct {
	Row  string
	Secs float64
	Cmds counts
}

func (mt *meter) measure(rowID string, fn func() error) error {
	off := mt.srv.logOffset()
	start := time.Now()
	if err := fn(); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	mt.samples = append(mt.samples, sample{Row: rowID, Secs: secs, Cmds: mt.srv.commandsSince(off)})
	return nil
}

func scenarios(sz sizes) []scenario {
	big := fmt.Sprintf("%s file", human(sz.Big))
	return []scenario{{
		Letter: "a",
		Rows: []row{{ID: "a", Title: "sequential read, " + big, Unit: "MiB/s", Bytes: sz.Big, Target: "≥ 0.9",
			Items: 1, Per: "file"}},
		RSSRow: "g a",
		Warm:   func(fx *fixture) []string { return []string{fx.path("big.bin")} },
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			return mt.measure("a", func() error {
				return ddRead(ctx, filepath.Join(dir, "big.bin"), fx.Sizes.Big)
			})
		},
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			return mt.measure("a", func() error { return c.get(ctx, []string{"big.bin"}, 1) })
		},
		Lftp: func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error {
			return mt.measure("a", func() error { return l.script(ctx, "get big.bin -o /dev/null") })
		},
	}, {
		Letter: "b",
		Rows: []row{
			// Two listings: the mount's root (to look up list/) and list/.
			{ID: "b cold", Title: fmt.Sprintf("ls -l, %d entries, cold", sz.ListN), Unit: "s", Target: "1 listing, O(1) RTT",
				Items: 1, Per: "listing",
				Check: func(c counts, _ float64) bool {
					return c.listings() <= 2 && c.perFile() == 0 && c.total()-c.logins() < 40
				}},
			{ID: "b warm", Title: fmt.Sprintf("ls -l, %d entries, warm", sz.ListN), Unit: "s", Target: "no server traffic",
				Items: 1, Per: "listing", Goals: []goal{{RTT: 0, Secs: 0.050, Full: fullSizes.ListN, N: sz.ListN}},
				// The pool's background logins and keep-alives are not the listing's.
				Check: func(c counts, _ float64) bool { return c.total()-c.logins() == 0 }},
		},
		Warm: func(fx *fixture) []string { return []string{fx.path("list")} },
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			ls := func() error {
				n, err := countLines(ctx, "ls", "-l", filepath.Join(dir, "list"))
				if err == nil && n != fx.Sizes.ListN+1 {
					err = fmt.Errorf("ls -l printed %d lines, want %d entries + total", n, fx.Sizes.ListN)
				}
				return err
			}
			if err := mt.measure("b cold", ls); err != nil {
				return err
			}
			return mt.measure("b warm", ls)
		},
		// A direct client has no cache: its warm figure is a second listing.
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			list := func() error { return c.get(ctx, []string{"list/"}, 1) }
			if err := mt.measure("b cold", list); err != nil {
				return err
			}
			return mt.measure("b warm", list)
		},
		Lftp: func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error {
			list := func() error { return l.script(ctx, "ls list/ > /dev/null") }
			if err := mt.measure("b cold", list); err != nil {
				return err
			}
			return mt.measure("b warm", list)
		},
	}, {
		Letter: "c",
		Rows: []row{{ID: "c", Title: fmt.Sprintf("find + stat, %d dirs × %d files", sz.TreeDirs, sz.TreeFiles),
			Unit: "s", Target: "1 listing per dir",
			Items: sz.TreeDirs, Per: "dir", Goals: []goal{{RTT: ms20, Secs: 10, Full: fullSizes.TreeDirs, N: sz.TreeDirs}},
			Check: func(c counts, secs float64) bool {
				return c.listings() <= sz.TreeDirs+2+2*int(secs/30) && c.perFile() == 0
			}}},
		Warm: func(fx *fixture) []string { return []string{fx.path("tree")} },
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			return mt.measure("c", func() error {
				n, err := countLines(ctx, "find", filepath.Join(dir, "tree"), "-type", "f", "-exec", "stat", "-c", "%s %Y", "{}", "+")
				if want := fx.Sizes.TreeDirs * fx.Sizes.TreeFiles; err == nil && n != want {
					err = fmt.Errorf("find + stat found %d files, want %d", n, want)
				}
				return err
			})
		},
		// curl cannot walk a tree; given the directory names, it lists each
		// on one connection: the least an FTP client must do.
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			dirs := append([]string{"tree/"}, suffixAll(fx.TreeDirs, "/")...)
			return mt.measure("c", func() error { return c.get(ctx, dirs, 1) })
		},
		Lftp: func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error {
			return mt.measure("c", func() error { return l.script(ctx, "find -l tree/ > /dev/null") })
		},
	}, {
		Letter: "d",
		Rows: []row{{ID: "d1", Title: fmt.Sprintf("read %d × %s files, one by one", sz.SmallN, human(int64(sz.SmallSize))),
			Unit: "s", Target: "no per-file command", Check: smallFilesCheck(sz),
			Items: sz.SmallN, Per: "file", Goals: []goal{{RTT: ms20, Secs: 30, Full: fullSizes.SmallN, N: sz.SmallN}}}},
		RSSRow: "g d",
		Warm:   func(fx *fixture) []string { return []string{fx.path("small")} },
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			return mt.measure("d1", func() error { return catFiles(ctx, fx, dir, 1) })
		},
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			return mt.measure("d1", func() error { return c.get(ctx, fx.Small, 1) })
		},
		Lftp: func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error {
			return mt.measure("d1", func() error { return lftpMget(ctx, l, 1) })
		},
	}, {
		Letter: "d",
		Rows: []row{{ID: "d8", Title: fmt.Sprintf("read %d × %s files, 8 in parallel", sz.SmallN, human(int64(sz.SmallSize))),
			Unit: "s", Target: "parallel connections", Check: smallFilesCheck(sz),
			Items: sz.SmallN, Per: "file", Goals: []goal{{RTT: ms20, Secs: 10, Full: fullSizes.SmallN, N: sz.SmallN}}}},
		RSSRow: "g d",
		Warm:   func(fx *fixture) []string { return []string{fx.path("small")} },
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			return mt.measure("d8", func() error { return catFiles(ctx, fx, dir, 8) })
		},
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			return mt.measure("d8", func() error { return c.get(ctx, fx.Small, 8) })
		},
		Lftp: func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error {
			return mt.measure("d8", func() error { return lftpMget(ctx, l, 8) })
		},
	}, {
		Letter: "e",
		Rows: []row{{ID: "e", Title: fmt.Sprintf("%d random %s reads in the %s", sz.RandomN, human(int64(sz.RandomLen)), big),
			Unit: "s", Target: "1 ranged transfer each",
			Items: sz.RandomN, Per: "read", Goals: []goal{{RTT: ms20, Secs: 25, Full: fullSizes.RandomN, N: sz.RandomN}},
			Check: func(c counts, _ float64) bool { return c["RETR"] <= sz.RandomN && c.perFile() == 0 }}},
		Warm: func(fx *fixture) []string { return []string{fx.path("big.bin")} },
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			var got [][]byte
			err := mt.measure("e", func() (err error) {
				got, err = preads(filepath.Join(dir, "big.bin"), fx.Offsets, fx.Sizes.RandomLen)
				return err
			})
			if err != nil {
				return err
			}
			return fx.checkPieces(got)
		},
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			return mt.measure("e", func() error { return c.ranges(ctx, "big.bin", fx.Offsets, fx.Sizes.RandomLen) })
		},
		NoRef: map[string]string{"lftp": "lftp has no ranged download"},
	}, {
		Letter: "f",
		Rows: []row{{ID: "f", Title: fmt.Sprintf("write a %s file", human(sz.Write)), Unit: "MiB/s", Bytes: sz.Write, Target: "≥ 0.8",
			Items: 1, Per: "file"}},
		Warm: func(fx *fixture) []string { return []string{fx.UploadSrc} },
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			err := mt.measure("f", func() error {
				return runTool(ctx, "cp", fx.UploadSrc, filepath.Join(dir, "upload", "mount.bin"))
			})
			return errors.Join(err, fx.checkUpload("mount.bin"))
		},
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			err := mt.measure("f", func() error { return c.upload(ctx, fx.UploadSrc, "upload/curl.bin") })
			return errors.Join(err, fx.checkUpload("curl.bin"))
		},
		Lftp: func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error {
			err := mt.measure("f", func() error { return l.script(ctx, "put "+fx.UploadSrc+" -o upload/lftp.bin") })
			return errors.Join(err, fx.checkUpload("lftp.bin"))
		},
	}, copyScenario(sz)}
}

// smallFilesCheck: one RETR per file and nothing else per file.
// smallFilesCheck allows one more listing per dir_cache_ttl (30 s by
// default) the run lasted: the cache expires, and re-listing is right.
func smallFilesCheck(sz sizes) func(counts, float64) bool {
	return func(c counts, secs float64) bool {
		return c["RETR"] == sz.SmallN && c.perFile() == 0 && c.listings() <= 2+2*int(secs/30)
	}
}

// rssRows are the (g) rows, filled from the mounts of (a) and (d).
func rssRows() []row {
	return []row{
		{ID: "g a", Title: "peak RSS during (a)", Unit: "MiB", Target: "≤ cache_size + 64 MiB"},
		{ID: "g d", Title: "peak RSS during (d)", Unit: "MiB", Target: "≤ cache_size + 64 MiB"},
	}
}

func (fx *fixture) path(rel string) string { return filepath.Join(fx.Root, rel) }

// checkUpload verifies, on the server's disk, that an upload arrived whole.
func (fx *fixture) checkUpload(name string) error {
	st, err := os.Stat(filepath.Join(fx.Root, "upload", name))
	if err != nil {
		return fmt.Errorf("upload missing on the server: %w", err)
	}
	if st.Size() != fx.Sizes.Write {
		return fmt.Errorf("upload is %d bytes on the server, want %d", st.Size(), fx.Sizes.Write)
	}
	return nil
}
