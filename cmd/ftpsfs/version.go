package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// fuseModule is the FUSE library whose version --version reports, as sshfs -V
// reports libfuse's.
const fuseModule = "github.com/hanwen/go-fuse/v2"

// printVersion writes ftpsfs's version, the Go release it was built with and
// the go-fuse version, one per line.
func printVersion(w io.Writer) {
	v, fuse := version, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		// go install …@vX stamps the module version; make sets main.version.
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, m := range bi.Deps {
			if m.Path == fuseModule {
				fuse = m.Version
				if r := m.Replace; r != nil { // a go.mod replace: say what really was built
					fuse += " (replaced by " + cmp.Or(r.Version, r.Path) + ")"
				}
			}
		}
	}
	fmt.Fprintf(w, "ftpsfs %s\n", v)
	fmt.Fprintf(w, "Go %s\n", runtime.Version())
	fmt.Fprintf(w, "go-fuse %s\n", fuse)
}
