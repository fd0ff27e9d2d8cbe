package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// logFileEnv hands the parent's choice of log file to the background
// process, so both agree on where the log goes when syslog is unreachable.
const logFileEnv = "_FTPSFS_LOG_FILE"

// fallbackLogPath is where the background process logs when syslog is not
// reachable (containers, minimal systems without /dev/log), as the README
// says: $XDG_STATE_HOME/ftpsfs/ftpsfs.log when set, else /var/log/ftpsfs.log
// for root and ~/.local/state/ftpsfs/ftpsfs.log for other users. "" when
// there is no such place (no home directory).
func fallbackLogPath(getenv func(string) string, uid int, home string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "ftpsfs", "ftpsfs.log")
	}
	if uid == 0 {
		return "/var/log/ftpsfs.log"
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "state", "ftpsfs", "ftpsfs.log")
}

func defaultFallbackLogPath() string {
	home, _ := os.UserHomeDir()
	return fallbackLogPath(os.Getenv, os.Getuid(), home)
}

// openLogFile opens path for appending, creating its directory (private:
// debug logs name every file read) where that is ours to create.
func openLogFile(path string) (*os.File, error) {
	if dir := filepath.Dir(path); dir != "/var/log" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("log directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// logTarget is the parent's decision, before starting the background
// process, of where that process logs: syslog when it answers, otherwise
// the fallback file. notice is the one line to print once the mount is up
// ("" when syslog answers).
func logTarget() (path, notice string) {
	w, err := dialSyslog()
	if err == nil {
		_ = w.Close()
		return "", ""
	}
	path = defaultFallbackLogPath()
	if path == "" {
		return "", fmt.Sprintf("syslog is not reachable (%s) and there is no home directory: the log is discarded (give log_file=PATH)", userMessage(err))
	}
	// Created now, so the background process's stderr can go there too.
	f, ferr := openLogFile(path)
	if ferr != nil {
		return "", fmt.Sprintf("syslog is not reachable (%s) and %s cannot be written (%s): the log is discarded (give log_file=PATH)",
			userMessage(err), path, userMessage(ferr))
	}
	f.Close()
	return path, fmt.Sprintf("syslog is not reachable (%s); logging to %s", userMessage(err), path)
}

// printNotice prints the logging notice, if any, as one line.
func printNotice(w io.Writer, notice string) {
	if notice != "" {
		fmt.Fprintf(w, "ftpsfs: %s\n", notice)
	}
}
