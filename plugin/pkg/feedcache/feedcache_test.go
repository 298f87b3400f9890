package feedcache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "cache")}
	if _, _, err := d.Load("f"); !errors.Is(err, ErrNone) {
		t.Fatalf("empty cache: %v", err)
	}
	m := Meta{Feed: "f", Source: "http https://x/y", Format: "plain", Fetched: time.Unix(1700000000, 0).UTC(),
		Validators: map[string]string{"etag": `"abc"`}}
	body := []byte("192.0.2.1\nbad.example\n")
	if err := d.Save(m, body); err != nil {
		t.Fatal(err)
	}
	got, b, err := d.Load("f")
	if err != nil || string(b) != string(body) || got.Source != m.Source || got.Validators["etag"] != `"abc"` || !got.Fetched.Equal(m.Fetched) {
		t.Fatalf("load: %+v %q %v", got, b, err)
	}
	// Overwrite, then check no temporary file is left behind.
	if err := d.Save(m, []byte("x\n")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(d.Path)
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
	// Empty bodies are fine.
	if err := d.Save(m, nil); err != nil {
		t.Fatal(err)
	}
	if _, b, err := d.Load("f"); err != nil || len(b) != 0 {
		t.Fatalf("empty body: %q %v", b, err)
	}
}

func TestDamage(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	body := []byte(strings.Repeat("198.51.100.7\n", 100))
	if err := d.Save(Meta{Feed: "f"}, body); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(d.file("f"))
	for name, damage := range map[string]func([]byte) []byte{
		"flipped byte": func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)-5] ^= 1; return c },
		"truncated":    func(b []byte) []byte { return b[:len(b)-7] },
		"extended":     func(b []byte) []byte { return append(append([]byte(nil), b...), "1.2.3.4\n"...) },
		"no header":    func(b []byte) []byte { return body },
		"header only":  func(b []byte) []byte { i := strings.IndexByte(string(b), '\n'); return b[:i+1] },
		"empty":        func(b []byte) []byte { return nil },
		"bad meta":     func(b []byte) []byte { return []byte(strings.Replace(string(b), "{", "[", 1)) },
		"garbage":      func(b []byte) []byte { return []byte("\x00\x01\x02") },
		"bad checksum": func(b []byte) []byte { return []byte(strings.Replace(string(b), magic+" ", magic+" 00", 1)) },
		"bad length":   func(b []byte) []byte { return []byte(strings.Replace(string(b), " 1300\n", " 1301\n", 1)) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(d.file("f"), damage(good), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := d.Load("f"); err == nil || errors.Is(err, ErrNone) {
				t.Fatalf("damaged file loaded: %v", err)
			}
		})
	}
}
