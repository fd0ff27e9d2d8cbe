package mountopts

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"0", 0, true},
		{"512K", 512 << 10, true},
		{"512k", 512 << 10, true},
		{"256M", 256 << 20, true},
		{"256MB", 256 << 20, true},
		{"64MiB", 64 << 20, true},
		{"64mib", 64 << 20, true},
		{"1G", 1 << 30, true},
		{"1GiB", 1 << 30, true},
		{"2T", 2 << 40, true},
		{"100B", 100, true},
		{"8388607T", 8388607 << 40, true},
		{"8388608T", 0, false}, // overflows int64
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"M", 0, false},
		{"MiB", 0, false},
		{"64iB", 0, false},
		{"-1M", 0, false},
		{"+1M", 0, false},
		{"1.5G", 0, false},
		{"1 G", 0, false},
		{"1P", 0, false},
		{"1KK", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{256 << 20: "256M", 1 << 30: "1G", 1536 << 10: "1536K", 1000: "1000", 0: "0"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		if n == 0 {
			continue
		}
		if back, err := parseSize(formatSize(n)); err != nil || back != n {
			t.Errorf("parseSize(formatSize(%d)) = %d, %v", n, back, err)
		}
	}
}
