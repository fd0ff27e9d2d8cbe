package e2e

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// debMaintainer is what the test passes to make deb, so that it needs no git
// identity on the machine.
const debMaintainer = "ftpsfs e2e test <root@localhost>"

// debFiles are the files the package must hold, with their modes; every
// directory is drwxr-xr-x and everything is owned by root.
var debFiles = map[string]string{
	"usr/bin/ftpsfs":                               "-rwxr-xr-x",
	"usr/share/man/man1/ftpsfs.1.gz":               "-rw-r--r--",
	"usr/share/bash-completion/completions/ftpsfs": "-rw-r--r--",
	"usr/share/doc/ftpsfs/copyright":               "-rw-r--r--",
	"usr/share/doc/ftpsfs/changelog.Debian.gz":     "-rw-r--r--",
	"usr/share/lintian/overrides/ftpsfs":           "-rw-r--r--",
}

// TestDeb builds the package with make deb and checks its control fields and
// contents; then, as root, installs it with dpkg, mounts the embedded server
// with mount -t fuse.ftpsfs through the packaged /usr/bin/ftpsfs, and removes
// the package again, checking that none of its files is left.
func TestDeb(t *testing.T) {
	for _, tool := range []struct{ name, pkg string }{
		{"dpkg-deb", "dpkg"}, {"dpkg-query", "dpkg"}, {"make", "make"}, {"man", "man-db"}, {"bash", "bash"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Fatalf("%s not found: apt-get install %s", tool.name, tool.pkg)
		}
	}
	dir := t.TempDir()
	out, err := debRun(5*time.Minute, nil, "make", "--no-print-directory", "-C", "..", "deb",
		"BINDIR="+dir, "DEBDIR="+dir, "DEB_MAINTAINER="+debMaintainer)
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "ftpsfs_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb wrote %q into %s, want one ftpsfs_*.deb\n%s", debs, dir, out)
	}
	deb := debs[0]
	fields := checkControl(t, deb)
	extracted := checkContents(t, deb, dir, fields["Version"])
	if t.Failed() {
		return
	}
	installAndMount(t, deb, extracted)
}

// checkControl checks the control fields and the file name, and returns the fields.
func checkControl(t *testing.T, deb string) map[string]string {
	t.Helper()
	out, err := debRun(time.Minute, nil, "dpkg-deb", "--field", deb)
	if err != nil {
		t.Fatalf("dpkg-deb --field: %v: %s", err, out)
	}
	fields := map[string]string{}
	key := ""
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if strings.HasPrefix(line, " ") { // a continuation line
			fields[key] += "\n" + line
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Errorf("control line %q is not a field", line)
			continue
		}
		key, fields[k] = k, strings.TrimSpace(v)
	}
	arch, err := debRun(time.Minute, nil, "dpkg", "--print-architecture")
	if err != nil {
		t.Fatalf("dpkg --print-architecture: %v: %s", err, arch)
	}
	want := map[string]string{
		"Package":      "ftpsfs",
		"Architecture": strings.TrimSpace(arch),
		"Depends":      "fuse3", // a static binary: no libc dependency
		"Maintainer":   debMaintainer,
		"Section":      "utils",
		"Priority":     "optional",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("control field %s: %q, want %q", k, fields[k], v)
		}
	}
	if !regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*-1$`).MatchString(fields["Version"]) {
		t.Errorf("Version %q is not a Debian version (digit first, revision -1)", fields["Version"])
	}
	if n, err := strconv.Atoi(fields["Installed-Size"]); err != nil || n < 1000 {
		t.Errorf("Installed-Size %q, want the KiB of an ftpsfs binary", fields["Installed-Size"])
	}
	if d := fields["Description"]; !strings.Contains(d, "FTPS") || !strings.Contains(d, "\n ") {
		t.Errorf("Description %q lacks a synopsis or a long description", d)
	}
	if name := "ftpsfs_" + fields["Version"] + "_" + fields["Architecture"] + ".deb"; filepath.Base(deb) != name {
		t.Errorf("package file %s, want %s", filepath.Base(deb), name)
	}
	return fields
}

// checkContents checks the file list, modes and owners, extracts the package
// and checks each file; it returns the directory it extracted into.
func checkContents(t *testing.T, deb, buildDir, version string) string {
	t.Helper()
	out, err := debRun(time.Minute, nil, "dpkg-deb", "--contents", deb)
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v: %s", err, out)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Fields(line) // mode owner size date time path
		if len(f) != 6 {
			t.Errorf("unexpected entry %q", line)
			continue
		}
		mode, owner, path := f[0], f[1], strings.TrimSuffix(strings.TrimPrefix(f[5], "./"), "/")
		if owner != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", path, owner)
		}
		want, isFile := debFiles[path]
		switch {
		case isFile && mode != want:
			t.Errorf("%s has mode %s, want %s", path, mode, want)
		case !isFile && mode != "drwxr-xr-x":
			t.Errorf("unexpected %s %s in the package", mode, path)
		}
		seen[path] = true
	}
	for path := range debFiles {
		if !seen[path] {
			t.Errorf("the package lacks %s", path)
		}
	}

	x := filepath.Join(buildDir, "x")
	if out, err := debRun(time.Minute, nil, "dpkg-deb", "--extract", deb, x); err != nil {
		t.Fatalf("dpkg-deb --extract: %v: %s", err, out)
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(filepath.Join(x, path))
		if err != nil {
			t.Error(err)
		}
		return b
	}

	bin := filepath.Join(x, "usr/bin/ftpsfs")
	checkStatic(t, bin)
	vout, err := debRun(time.Minute, nil, bin, "--version")
	if err != nil || !strings.HasPrefix(vout, "ftpsfs ") || !strings.Contains(vout, "\ngo-fuse v2.") {
		t.Errorf("usr/bin/ftpsfs --version: %v: %q", err, vout)
	}
	binVersion, _, _ := strings.Cut(strings.TrimPrefix(vout, "ftpsfs "), "\n")

	// The man page and the completion are the generated ones; gzip -n
	// stores no name or time (lintian and reproducible builds ask for it).
	man := read("usr/share/man/man1/ftpsfs.1.gz")
	if len(man) > 8 && (man[3]&0x08 != 0 || !bytes.Equal(man[4:8], []byte{0, 0, 0, 0})) {
		t.Error("ftpsfs.1.gz holds a file name or time: not gzip -n")
	}
	if page, want := gunzip(t, man), read("../ftpsfs.1"); !bytes.Equal(page, want) {
		t.Error("the packaged man page is not bin/ftpsfs.1 as make generated it")
	}
	manOut, err := debRun(time.Minute, []string{"MANWIDTH=80", "LC_ALL=C.UTF-8"}, "man", "--warnings", "-l", filepath.Join(x, "usr/share/man/man1/ftpsfs.1.gz"))
	if err != nil || !strings.Contains(manOut, "fuse.ftpsfs") {
		t.Errorf("man -l of the packaged page: %v: %.500s", err, manOut)
	}
	if !bytes.Equal(read("usr/share/bash-completion/completions/ftpsfs"), read("../ftpsfs.bash")) {
		t.Error("the packaged completion is not bin/ftpsfs.bash as make generated it")
	}
	if out, err := debRun(time.Minute, nil, "bash", "-n", filepath.Join(x, "usr/share/bash-completion/completions/ftpsfs")); err != nil {
		t.Errorf("bash -n of the completion: %v: %s", err, out)
	}

	copyright := string(read("usr/share/doc/ftpsfs/copyright"))
	for _, want := range []string{
		"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
		"\nCopyright: 2026 The ftpsfs authors\nLicense: MIT\n", "\nLicense: MIT\n Permission is hereby granted",
	} {
		if !strings.Contains(copyright, want) {
			t.Errorf("copyright lacks %q", want)
		}
	}
	changelog := string(gunzip(t, read("usr/share/doc/ftpsfs/changelog.Debian.gz")))
	if !strings.HasPrefix(changelog, "ftpsfs ("+version+") unstable; urgency=medium\n") ||
		!strings.Contains(changelog, "ftpsfs "+binVersion+" ") || !strings.Contains(changelog, "\n -- "+debMaintainer+"  ") {
		t.Errorf("changelog.Debian for %s (binary %s): %q", version, binVersion, changelog)
	}
	return x
}

// checkStatic checks that the binary needs no shared library, which is why
// the package depends on fuse3 only.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("usr/bin/ftpsfs: %v", err)
		return
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			libs = append(libs, "a dynamic loader")
		}
	}
	if len(libs) > 0 {
		t.Errorf("usr/bin/ftpsfs is not static: it needs %q", libs)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Errorf("gunzip: %v", err)
		return nil
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("gunzip: %v", err)
	}
	return out
}

// installAndMount installs the package, mounts through mount(8) with it,
// reads a file, unmounts and removes the package. It removes the package on
// every path out, and refuses to start if a file of the package exists that
// dpkg did not install from package ftpsfs (dpkg would overwrite it, and the
// removal would delete it).
func installAndMount(t *testing.T, deb, extracted string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Fatal("installing the package with dpkg -i needs root (make test runs as root)")
	}
	requireMountFuse(t)
	for path := range debFiles {
		if _, err := os.Lstat("/" + path); err == nil {
			if owner := dpkgOwner("/" + path); owner != "ftpsfs" {
				t.Fatalf("/%s exists and was not installed by dpkg from package ftpsfs (dpkg -S: %q): move it away; this test installs the package and removes it again", path, owner)
			}
		}
	}
	if st := dpkgStatus(); st != "" {
		t.Logf("package ftpsfs is already %s; the test replaces it and removes it at the end", st)
	}

	srv, pin := startSmall(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(srv.Opts.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	// Registered after the server and the mount point: runs before both go.
	t.Cleanup(func() {
		if isMounted(mnt) {
			_, _ = debRun(time.Minute, nil, "umount", "-l", mnt)
		}
		if dpkgStatus() != "" {
			if out, err := debRun(2*time.Minute, nil, "dpkg", "--purge", "ftpsfs"); err != nil {
				t.Errorf("cleanup: dpkg --purge ftpsfs: %v: %s", err, out)
			}
		}
	})
	if out, err := debRun(2*time.Minute, nil, "dpkg", "-i", deb); err != nil {
		t.Fatalf("dpkg -i %s: %v: %s", deb, err, out)
	}
	for path := range debFiles {
		if _, err := os.Stat("/" + path); err != nil && !dpkgExcluded("/"+path) {
			t.Errorf("after dpkg -i: %v", err)
		}
	}

	// mount.fuse3 runs "ftpsfs" from PATH; without /usr/local/bin in it,
	// only the packaged /usr/bin/ftpsfs can answer.
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	url := "ftpes://test@" + srv.Addr + "/"
	if out, err := debRun(time.Minute, env, "mount", "-t", "fuse.ftpsfs", url, mnt, "-o", pin+",password_file="+pwFile); err != nil {
		t.Fatalf("mount -t fuse.ftpsfs: %v: %s", err, out)
	}
	if pid := daemonPIDAnyArgs(mnt); pid == 0 {
		t.Error("no ftpsfs process serves the mount")
	} else if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); exe != "/usr/bin/ftpsfs" {
		t.Errorf("the mount is served by %q, want the packaged /usr/bin/ftpsfs", exe)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "hello.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("reading hello.txt through the mount: %q, %v", b, err)
	}
	umountAndWait(t, mnt)

	if out, err := debRun(2*time.Minute, nil, "dpkg", "-r", "ftpsfs"); err != nil {
		t.Fatalf("dpkg -r ftpsfs: %v: %s", err, out)
	}
	if out, err := debRun(2*time.Minute, nil, "dpkg", "--purge", "ftpsfs"); err != nil {
		t.Fatalf("dpkg --purge ftpsfs: %v: %s", err, out)
	}
	for _, path := range append(slices.Collect(maps.Keys(debFiles)), "usr/share/doc/ftpsfs") {
		if _, err := os.Lstat("/" + path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/%s is left after dpkg -r and --purge", path)
		}
	}
	if st := dpkgStatus(); st != "" {
		t.Errorf("after dpkg --purge, dpkg still knows package ftpsfs: %s", st)
	}
}

// debRun is runFor (which kills a hung command) with extra environment,
// set through env(1); it returns the combined output and the error.
func debRun(d time.Duration, env []string, name string, args ...string) (string, error) {
	r := runFor(d, "env", slices.Concat(env, []string{name}, args)...)
	return r.out, r.err
}

// dpkgOwner returns the package dpkg says installed path, or what it said.
func dpkgOwner(path string) string {
	out, err := exec.Command("dpkg-query", "--search", path).CombinedOutput()
	pkg, _, ok := strings.Cut(string(out), ": ")
	if err != nil || !ok {
		return strings.TrimSpace(string(out))
	}
	return pkg
}

// dpkgStatus is dpkg's status of package ftpsfs ("installed",
// "config-files", …), "" when dpkg does not know it.
func dpkgStatus() string {
	out, err := exec.Command("dpkg-query", "--show", "--showformat=${db:Status-Status}", "ftpsfs").Output()
	if err != nil || string(out) == "not-installed" {
		return ""
	}
	return string(out)
}

// dpkgExcluded reports whether dpkg's path-exclude options (container images
// drop /usr/share/doc and man pages) keep path from being installed. The last
// matching path-exclude or path-include decides; patterns are fnmatch(3)
// without FNM_PATHNAME, so * matches / too (fnmatch here knows * and ?, all
// that such configurations use).
func dpkgExcluded(path string) bool {
	files, _ := filepath.Glob("/etc/dpkg/dpkg.cfg.d/*")
	excluded := false
	for _, f := range append([]string{"/etc/dpkg/dpkg.cfg"}, files...) {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			opt, pat, ok := strings.Cut(strings.TrimSpace(line), " ")
			if !ok {
				opt, pat, _ = strings.Cut(strings.TrimSpace(line), "=")
			}
			if (opt == "path-exclude" || opt == "path-include") && fnmatch(strings.TrimSpace(pat), path) {
				excluded = opt == "path-exclude"
			}
		}
	}
	return excluded
}

func fnmatch(pattern, name string) bool {
	var re strings.Builder
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	ok, _ := regexp.MatchString("^"+re.String()+"$", name)
	return ok
}
