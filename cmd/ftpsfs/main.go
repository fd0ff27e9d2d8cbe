// Command ftpsfs mounts a remote FTPS server as a local directory.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ftpsfs/ftpsfs/mountopts"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitFailure = 1 // the server, the network or the mount failed
	exitUsage   = 2 // bad command line, URL or option
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks errors in what the user typed.
type usageError struct{ error }

func run(argv []string, stdout, stderr io.Writer) int {
	code, err := dispatch(argv, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ftpsfs: %s\n", userMessage(err))
		if errors.As(err, new(usageError)) {
			return exitUsage
		}
		return exitFailure
	}
	return code
}

func dispatch(argv []string, stdout, stderr io.Writer) (int, error) {
	args, err := mountopts.ParseArgs(argv)
	if err != nil {
		return 0, usageError{err}
	}
	if args.Help {
		printHelp(stdout)
		return exitOK, nil
	}
	if args.Version {
		printVersion(stdout)
		return exitOK, nil
	}
	if args.Subcommand == "umount" {
		return unmountCommand(args.MountPoint)
	}
	cfg, err := mountopts.Parse(args.URL, args.Options, mountopts.OSEnv())
	if err != nil {
		return 0, usageError{err}
	}
	cfg.Foreground = cfg.Foreground || args.Foreground || args.Debug
	cfg.Debug = cfg.Debug || args.Debug
	if inDaemon() {
		if err := receivePassword(cfg); err != nil {
			return 0, err
		}
	} else {
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "ftpsfs: warning: %s\n", w)
		}
	}
	if args.Subcommand != "check" {
		// Before asking for a password: a typo in the mount point should
		// not cost typing it.
		if err := checkMountPoint(args.MountPoint); err != nil {
			return 0, err
		}
	}
	if cfg.PasswordSource == "" && cfg.Password == "" && !inDaemon() {
		if err := askPassword(cfg, os.Stdin, stderr); err != nil {
			return 0, err
		}
	}
	if cfg.PasswordSource == "" && cfg.Password == "" {
		return 0, usageError{fmt.Errorf("no password for %s@%s: give one with -o password_file=PATH, the FTPSFS_PASSWORD environment variable or a ~/.netrc entry, or run ftpsfs at a terminal to be asked", cfg.User, cfg.Host)}
	}
	if args.Subcommand == "check" {
		return check(cfg, args.Options, stdout)
	}
	if !cfg.Foreground && !inDaemon() {
		return exitOK, mountInBackground(argv, args.URL, cfg, stderr)
	}
	if inDaemon() && cfg.LogFile == "" {
		cfg.LogFile = os.Getenv(logFileEnv)
	}
	return serve(args.MountPoint, cfg, stderr)
}

// mountInBackground starts the background process and waits until it has
// mounted. Without log_file= it first decides where that process logs, and
// says so once the mount is up when syslog is not there to take the log.
func mountInBackground(argv []string, url string, cfg *mountopts.Config, stderr io.Writer) error {
	var env []string
	notice := ""
	if cfg.LogFile == "" {
		var path string
		path, notice = logTarget()
		if path != "" {
			cfg.LogFile = path
			env = append(env, logFileEnv+"="+path)
		}
	}
	if err := daemonize(childArgs(argv, url, cfg.FSName), env, cfg, stderr); err != nil {
		return err
	}
	printNotice(stderr, notice)
	return nil
}

// childArgs is the command line of the background process: the URL without
// any password (it gets the password on a pipe), so ps never shows it.
func childArgs(argv []string, url, safeURL string) []string {
	out := append([]string(nil), argv...)
	for i, a := range out {
		if a == url {
			out[i] = safeURL
			break
		}
	}
	return out
}
