// Command ftpsfs-testserver runs the embedded FTPS test server in the
// foreground, for `make demo` and for trying ftpsfs by hand:
//
//	ftpsfs-testserver -root /tmp/demo -sample -password-file /tmp/demo.pw -ready-file /tmp/demo.ready
//
// It prints the URL to mount and the fingerprint= option that pins the
// server's self-signed certificate, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ftpsfs/ftpsfs/e2e/testserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftpsfs-testserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("ftpsfs-testserver", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", "", "directory to serve (required; created if missing)")
	listen := flags.String("listen", "127.0.0.1:2121", "control address")
	implicit := flags.Bool("implicit", false, "implicit TLS (ftps://) instead of explicit (ftpes://)")
	user := flags.String("user", "test", "user name")
	passwordFile := flags.String("password-file", "", "write the generated password to this file (mode 0600) instead of printing it")
	sample := flags.Bool("sample", false, "populate the root with a few sample files")
	readyFile := flags.String("ready-file", "", `write "URL FINGERPRINT" to this file once listening`)
	verbose := flags.Bool("v", false, "log server activity to stderr")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *root == "" || flags.NArg() > 0 {
		flags.Usage()
		return errors.New("-root DIR is required and no arguments are taken")
	}
	if err := os.MkdirAll(*root, 0o755); err != nil {
		return err
	}
	if *sample {
		if err := writeSamples(*root); err != nil {
			return fmt.Errorf("sample files: %w", err)
		}
	}
	password := rand.Text() // 26 base32 characters, 130 bits
	if *passwordFile != "" {
		if err := writeFile(*passwordFile, []byte(password+"\n"), 0o600); err != nil {
			return err
		}
	}
	// A stale ready file would tell a waiting Makefile we are up already.
	if *readyFile != "" {
		_ = os.Remove(*readyFile)
	}

	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := testserver.StartEmbedded(testserver.EmbeddedOptions{
		Root: *root, User: *user, Password: password, Implicit: *implicit,
		Listen: *listen, RequireReuse: true, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	scheme := "ftpes"
	if *implicit {
		scheme = "ftps"
	}
	url := fmt.Sprintf("%s://%s@%s/", scheme, *user, srv.Addr)
	fingerprint := testserver.FingerprintOption(srv.Opts.Cert.Fingerprint)
	fmt.Fprintln(stdout, url)
	fmt.Fprintf(stdout, "fingerprint=%s\n", fingerprint)
	if *passwordFile == "" {
		fmt.Fprintf(stdout, "password=%s\n", password)
	}
	if *readyFile != "" {
		if err := writeFile(*readyFile, []byte(url+" "+fingerprint+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}

	<-ctx.Done()
	return srv.Close()
}

// writeFile replaces path atomically, so a reader polling for it never sees
// it half written.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeSamples gives a demo something to look at: text, a binary file big
// enough to take several reads, and a name that needs quoting and UTF-8.
func writeSamples(root string) error {
	readme := "This directory is served by ftpsfs-testserver.\n" +
		"Every program reads it through the mount as if it were local.\n"
	if err := os.WriteFile(filepath.Join(root, "README.txt"), []byte(readme), 0o644); err != nil {
		return err
	}
	random := make([]byte, 1<<20)
	_, _ = rand.Read(random)
	if err := os.WriteFile(filepath.Join(root, "random-1MiB.bin"), random, 0o644); err != nil {
		return err
	}
	sub := filepath.Join(root, "subdir")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(sub, "résumé notes.txt"), []byte("a name with a space and an é\n"), 0o644)
}
