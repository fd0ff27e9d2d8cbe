package mountopts

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestFingerprintForms(t *testing.T) {
	fp := sha256.Sum256([]byte("server certificate"))
	upper := strings.ToUpper(hex.EncodeToString(fp[:]))
	colons := FormatFingerprint(fp)[len("SHA256:"):]
	b64 := base64.StdEncoding.EncodeToString(fp[:])
	raw := base64.RawStdEncoding.EncodeToString(fp[:])

	if got := FormatFingerprint(fp); got != "SHA256:"+colons || len(colons) != 95 || colons != strings.ToUpper(colons) {
		t.Fatalf("FormatFingerprint = %q", got)
	}
	good := []string{
		FormatFingerprint(fp),
		colons,
		strings.ToLower(colons),
		"sha256:" + strings.ToLower(colons),
		"Sha256:" + colons,
		upper,
		strings.ToLower(upper),
		"SHA256:" + upper,
		b64,
		raw,
		"SHA256:" + raw, // as ssh-keygen -l prints it
		"sha256:" + b64,
	}
	for _, s := range good {
		got, err := parseFingerprint(s)
		if err != nil || got != fp {
			t.Errorf("parseFingerprint(%q) = %x, %v", s, got, err)
		}
	}

	bad := []string{
		"",
		"SHA256:",
		"SHA1:" + upper,
		upper[:62],
		upper + "00",
		colons[:len(colons)-3],              // 31 bytes
		colons + ":00",                      // 33 bytes
		strings.Replace(colons, ":", "", 1), // one separator missing
		strings.Replace(colons, ":", "-", -1),
		strings.Repeat("zz", 32),
		base64.RawStdEncoding.EncodeToString(fp[:31]),
		base64.StdEncoding.EncodeToString(append(fp[:], 0)),
		" " + upper,
	}
	for _, s := range bad {
		if got, err := parseFingerprint(s); err == nil {
			t.Errorf("parseFingerprint(%q) = %x, want error", s, got)
		}
	}
}

func TestFingerprintOption(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	c, err := Parse(testURL, []string{"fingerprint=" + FormatFingerprint(a), "fingerprint=" + hex.EncodeToString(b[:])}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Fingerprints) != 2 || c.Fingerprints[0] != a || c.Fingerprints[1] != b {
		t.Errorf("fingerprints %x", c.Fingerprints)
	}
	_, err = Parse(testURL, []string{"fingerprint=" + strings.Repeat("AB:", 31) + "A"}, Env{})
	checkErr(t, err, "for fingerprint: want SHA256:AB:CD:… (32 colon-separated hex bytes)")
}
