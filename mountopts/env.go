package mountopts

import (
	"io/fs"
	"os"
)

// Env is the outside world as the credential lookup sees it, so tests can use
// an in-memory map instead of real files and variables. A nil field behaves as
// an empty environment or a missing file.
type Env struct {
	Getenv   func(string) string
	HomeDir  string
	ReadFile func(string) ([]byte, error)
	Stat     func(string) (fs.FileInfo, error)
}

// OSEnv is the real process environment and file system.
func OSEnv() Env {
	home, _ := os.UserHomeDir() // no home: no ~/.netrc, which is not an error
	return Env{Getenv: os.Getenv, HomeDir: home, ReadFile: os.ReadFile, Stat: os.Stat}
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

func (e Env) readFile(name string) ([]byte, error) {
	if e.ReadFile == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return e.ReadFile(name)
}

func (e Env) stat(name string) (fs.FileInfo, error) {
	if e.Stat == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return e.Stat(name)
}
