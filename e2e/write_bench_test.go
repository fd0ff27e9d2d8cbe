package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkSequentialWrite compares writing a 256 MiB file through the mount
// (cp, including the upload on close) with uploading the same file directly
// to the same vsftpd with curl, in one run:
//
//	go test -run '^$' -bench SequentialWrite -benchtime 3x ./e2e/
func BenchmarkSequentialWrite(b *testing.B) {
	root := filepath.Join(b.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	s := startVsftpd(b, root, false)
	m := mountForeground(b, s.URL, s.Env, s.Opts...)
	src := filepath.Join(b.TempDir(), "src.bin")
	f, _ := os.Create(src)
	const size = 256 << 20
	buf := make([]byte, 1<<20)
	for i := 0; i < size/len(buf); i++ {
		_, _ = rand.Read(buf)
		_, _ = f.Write(buf)
	}
	f.Close()
	netrc := filepath.Join(b.TempDir(), "netrc")
	user, rest, _ := strings.Cut(strings.TrimPrefix(s.URL, "ftpes://"), "@")
	host := strings.TrimSuffix(rest, "/")
	_ = os.WriteFile(netrc, []byte(fmt.Sprintf("machine 127.0.0.1 login %s password %s\n", user, s.Pass)), 0o600)

	var mount, direct time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if out, err := exec.Command("cp", src, filepath.Join(m.Dir, "through-mount.bin")).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v %s", err, out)
		}
		mount += time.Since(start)
		start = time.Now()
		cmd := exec.Command("curl", "-sS", "--ssl-reqd", "--insecure", "--netrc-file", netrc, "-T", src, "ftp://"+host+"/direct.bin")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("curl -T: %v %s", err, out)
		}
		direct += time.Since(start)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / (1 << 20) }
	b.ReportMetric(mbps(mount), "mount-MiB/s")
	b.ReportMetric(mbps(direct), "curl-MiB/s")
	b.ReportMetric(mbps(mount)/mbps(direct), "ratio")
}

// BenchmarkSequentialRead compares reading a 512 MiB file through the mount
// (cat, cold caches) with downloading it directly with curl from the same
// vsftpd, in one run:
//
//	go test -run '^$' -bench SequentialRead -benchtime 3x ./e2e/
func BenchmarkSequentialRead(b *testing.B) {
	root := filepath.Join(b.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		b.Fatal(err)
	}
	const size = 512 << 20
	f, _ := os.Create(filepath.Join(root, "big.bin"))
	buf := make([]byte, 1<<20)
	for i := 0; i < size/len(buf); i++ {
		_, _ = rand.Read(buf)
		_, _ = f.Write(buf)
	}
	f.Close()
	s := startVsftpd(b, root, false)
	netrc := filepath.Join(b.TempDir(), "netrc")
	user, rest, _ := strings.Cut(strings.TrimPrefix(s.URL, "ftpes://"), "@")
	host := strings.TrimSuffix(rest, "/")
	_ = os.WriteFile(netrc, []byte(fmt.Sprintf("machine 127.0.0.1 login %s password %s\n", user, s.Pass)), 0o600)

	var mount, direct time.Duration
	for i := 0; i < b.N; i++ {
		m := mountForeground(b, s.URL, s.Env, s.Opts...) // fresh mount: cold block cache
		_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
		start := time.Now()
		if out, err := exec.Command("sh", "-c", "cat '"+filepath.Join(m.Dir, "big.bin")+"' > /dev/null").CombinedOutput(); err != nil {
			b.Fatalf("cat: %v %s", err, out)
		}
		mount += time.Since(start)
		m.unmount(b)
		start = time.Now()
		cmd := exec.Command("curl", "-sS", "--ssl-reqd", "--insecure", "--netrc-file", netrc, "-o", "/dev/null", "ftp://"+host+"/big.bin")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("curl: %v %s", err, out)
		}
		direct += time.Since(start)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / (1 << 20) }
	b.ReportMetric(mbps(mount), "mount-MiB/s")
	b.ReportMetric(mbps(direct), "curl-MiB/s")
	b.ReportMetric(mbps(mount)/mbps(direct), "ratio")
}
