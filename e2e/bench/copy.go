package main

// Scenario (h): `cp -r` of many small files into the mount, against lftp
// mput and curl -T of the same files. Every client writes into a directory
// of its own under upload/, which clearUploads removes after each run, so
// each run copies into a fresh one.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func copyScenario(sz sizes) scenario {
	return scenario{
		Letter: "h",
		Rows: []row{{ID: "h", Title: fmt.Sprintf("cp -r of %d × %s files into the mount", sz.CopyN, human(int64(sz.CopySize))),
			Unit: "s", Target: "1 STOR per file, no listing per file",
			Check: func(c counts, secs float64) bool {
				return c["STOR"] == sz.CopyN && c.listings() <= 3+2*int(secs/30)
			},
			Items: sz.CopyN, Per: "file", Goals: []goal{{RTT: ms20, Secs: 25, Full: fullSizes.CopyN, N: sz.CopyN}}}},
		Warm: func(fx *fixture) []string { return []string{fx.CopySrc} },
		// cp returns after the last close(): checking the server's disk right
		// after it also checks that close() waited for the server's reply.
		Mount: func(ctx context.Context, fx *fixture, dir string, mt *meter) error {
			err := mt.measure("h", func() error {
				return runTool(ctx, "cp", "-r", fx.CopySrc, filepath.Join(dir, "upload", "cp-mount"))
			})
			return errors.Join(err, fx.checkCopy("cp-mount"))
		},
		Curl: func(ctx context.Context, fx *fixture, c *curlClient, mt *meter) error {
			err := mt.measure("h", func() error { return c.uploadAll(ctx, fx.CopySrc, fx.Copy, "upload/cp-curl/") })
			return errors.Join(err, fx.checkCopy("cp-curl"))
		},
		Lftp: func(ctx context.Context, fx *fixture, l *lftpClient, mt *meter) error {
			err := mt.measure("h", func() error {
				return l.script(ctx, "mkdir upload/cp-lftp", "mput -O upload/cp-lftp "+filepath.Join(fx.CopySrc, "*"))
			})
			return errors.Join(err, fx.checkCopy("cp-lftp"))
		},
	}
}

// uploadAll uploads the files names of dir into remoteDir (ending in /,
// created if missing) on one curl invocation: -T with a {a,b,…} glob sends
// them one after another on one control connection. With TLS 1.3, vsftpd
// (require_ssl_reuse) refuses some of curl's data connections ("522 SSL
// connection failed: session reuse required": about 1 in 10), curl
// reconnects and skips that file, and its exit status is the last
// transfer's; with TLS 1.2 every upload resumes the session.
func (c *curlClient) uploadAll(ctx context.Context, dir string, names []string, remoteDir string) error {
	glob := filepath.Join(dir, "{"+strings.Join(names, ",")+"}")
	return c.run(ctx, nil, "--tls-max", "1.2", "--ftp-create-dirs", "-T", glob, c.url(remoteDir))
}

// checkCopy verifies, on the server's disk, that (h) copied every file into
// upload/name with its size, and the content of the first, middle and last.
func (fx *fixture) checkCopy(name string) error {
	dir := filepath.Join(fx.Root, "upload", name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("copy missing on the server: %w", err)
	}
	if len(ents) != len(fx.Copy) {
		return fmt.Errorf("copy has %d entries on the server, want %d", len(ents), len(fx.Copy))
	}
	for i, f := range fx.Copy {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("copy on the server: %w", err)
		}
		if st.Size() != int64(fx.Sizes.CopySize) {
			return fmt.Errorf("copy of %s is %d bytes on the server, want %d", f, st.Size(), fx.Sizes.CopySize)
		}
		if i != 0 && i != len(fx.Copy)/2 && i != len(fx.Copy)-1 {
			continue
		}
		if err := sameContent(filepath.Join(fx.CopySrc, f), filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("copy of %s: %w", f, err)
		}
	}
	return nil
}

// sameContent compares two files' SHA-256.
func sameContent(want, got string) error {
	sum := func(p string) ([]byte, error) {
		b, err := os.ReadFile(p)
		s := sha256.Sum256(b)
		return s[:], err
	}
	a, err := sum(want)
	if err != nil {
		return err
	}
	b, err := sum(got)
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return errors.New("content differs on the server (SHA-256)")
	}
	return nil
}
