package fusefs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoteCapabilitiesAreChecked keeps the compile-time check in
// cmd/ftpsfs complete: every type the filesystem asserts its Remote to be
// is embedded in FullRemote, which cmd asserts the pool satisfies. An
// optional capability outside it would be turned off without a sound by a
// rename in the pool.
func TestRemoteCapabilitiesAreChecked(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	parsed := map[string]*ast.File{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed[name] = f
	}
	checked := embedded(t, parsed["remote.go"], "FullRemote")
	if len(checked) == 0 {
		t.Fatal("remote.go declares no FullRemote interface with embedded capabilities")
	}
	var remoteAsserts int
	for name, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			ta, ok := n.(*ast.TypeAssertExpr)
			if !ok || ta.Type == nil {
				return true
			}
			typ := types.ExprString(ta.Type)
			at := fset.Position(ta.Pos())
			if x := exprName(ta.X); x != "remote" && !strings.HasSuffix(x, ".remote") {
				return true
			}
			remoteAsserts++
			if !checked[typ] {
				t.Errorf("%s:%d: the remote is asserted to be %s, which FullRemote does not embed: cmd/ftpsfs does not check that the pool provides it", name, at.Line, typ)
			}
			return true
		})
	}
	if remoteAsserts == 0 {
		t.Fatal("found no type assertion on the remote: the test no longer sees them")
	}
}

// embedded returns the names of the interfaces iface embeds in f.
func embedded(t *testing.T, f *ast.File, iface string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if f == nil {
		return out
	}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != iface {
			return true
		}
		it, ok := ts.Type.(*ast.InterfaceType)
		if !ok {
			t.Fatalf("%s is not an interface", iface)
		}
		for _, m := range it.Methods.List {
			if len(m.Names) == 0 {
				out[exprName(m.Type)] = true
			}
		}
		return false
	})
	return out
}

// exprName is the dotted name of an identifier or selector, else "".
func exprName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x := exprName(e.X); x != "" {
			return x + "." + e.Sel.Name
		}
		return e.Sel.Name
	case *ast.CallExpr:
		return exprName(e.Fun) + "()"
	}
	return ""
}
