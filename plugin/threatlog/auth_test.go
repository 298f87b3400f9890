package threatlog

import (
	"encoding/base64"
	"testing"
)

// The test vector of the README: clients in other languages check their signing against it.
func TestSignVector(t *testing.T) {
	secret, _ := base64.StdEncoding.DecodeString("HiUB9+Qa1ZWjcu4PtXG6NF4mRNdtRwfHN3mniH/VTHY=")
	got := Sign(secret, "POST", "/upload", "1764000000", "gw", "", []byte("hello\n"))
	if want := "ba48fc8cfd1e9457936e722f91f979a1f19b62abab990d9f43233ede8078e4dd"; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
	if s := StringToSign("POST", "/upload", "1764000000", "gw", "", []byte("hello\n")); s != "POST\n/upload\n1764000000\ngw\n\n5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n" {
		t.Errorf("string to sign %q", s)
	}
}

func TestParseSizeDuration(t *testing.T) {
	for s, want := range map[string]int64{"32MiB": 32 << 20, "64K": 64 << 10, "1024": 1024, "1GiB": 1 << 30} {
		if n, err := parseSize(s); err != nil || n != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "x", "-1", "1TiB", "99999999999G"} {
		if _, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) accepted", s)
		}
	}
	if d, err := parseDuration("35d"); err != nil || d.Hours() != 35*24 {
		t.Errorf("35d: %v %v", d, err)
	}
}
