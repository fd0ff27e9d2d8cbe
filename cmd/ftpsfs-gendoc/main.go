// Command ftpsfs-gendoc writes the ftpsfs man page and bash completion from
// the option table in mountopts (the one the parser and --help use), so that
// neither can drift from what ftpsfs accepts. make runs it:
//
//	go run ./cmd/ftpsfs-gendoc -man bin/ftpsfs.1 -completion bin/ftpsfs.bash -version V -date 2026-12-01
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	man := flag.String("man", "", "write the man page to `FILE`")
	completion := flag.String("completion", "", "write the bash completion script to `FILE`")
	version := flag.String("version", "dev", "ftpsfs version for the man page footer")
	date := flag.String("date", time.Now().UTC().Format(time.DateOnly), "date for the man page footer, YYYY-MM-DD")
	flag.Parse()
	if flag.NArg() > 0 || (*man == "" && *completion == "") {
		fmt.Fprintln(os.Stderr, "usage: ftpsfs-gendoc [-man FILE] [-completion FILE] [-version V] [-date YYYY-MM-DD]")
		os.Exit(2)
	}
	if *man != "" {
		if err := writeFile(*man, func(w io.Writer) error { return writeMan(w, *version, *date) }); err != nil {
			fail(err)
		}
	}
	if *completion != "" {
		if err := writeFile(*completion, writeCompletion); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "ftpsfs-gendoc: %v\n", err)
	os.Exit(1)
}

// writeFile renders into memory and then renames a complete file into place,
// so a failed run never leaves a truncated file that make takes as current.
func writeFile(path string, render func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	return os.Rename(tmp.Name(), path)
}
