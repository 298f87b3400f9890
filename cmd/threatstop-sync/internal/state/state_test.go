package state

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if s, err := Load(path); s != nil || err != nil {
		t.Fatalf("missing file: %v %v", s, err)
	}
	z := zone.New("p.rpz.test", 42)
	for _, r := range []string{"24.0.2.0.192.rpz-ip CNAME .", "evil.example CNAME .", "@ NS ns1.test."} {
		rec, err := zone.ParseRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		z.Records[rec] = struct{}{}
	}
	applied := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	if err := Save(path, FromZone(z, applied)); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil || s.Serial != 42 || s.Zone != "p.rpz.test." || !slices.Equal(s.Applied, applied) {
		t.Fatalf("loaded %+v %v", s, err)
	}
	back, err := s.ZoneOf()
	if err != nil || !slices.Equal(back.Sorted(), z.Sorted()) {
		t.Fatalf("zone %v %v", back.Sorted(), err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}

	// A write that fails leaves the old file and no temporary file.
	before, _ := os.ReadFile(path)
	boom := errors.New("boom")
	if err := WriteFile(path, 0o600, func(w *bufio.Writer) error { w.WriteString("half"); return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if string(before) != string(after) || len(entries) != 1 {
		t.Fatalf("a failed write left %d files, content changed: %v", len(entries), string(before) != string(after))
	}

	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Error("a broken state file loaded")
	}
}

// BenchmarkSaveLoad: a state of 1M records written and read back.
func BenchmarkSaveLoad(b *testing.B) {
	z := zone.New("p.rpz.test", 1)
	for i := range 1 << 20 {
		z.Records[zone.Record{Owner: fmt.Sprintf("32.%d.%d.%d.11.rpz-ip", i&255, i>>8&255, i>>16&255), Type: dns.TypeCNAME, Data: "."}] = struct{}{}
	}
	s := FromZone(z, nil)
	path := filepath.Join(b.TempDir(), "state.json")
	for b.Loop() {
		if err := Save(path, s); err != nil {
			b.Fatal(err)
		}
		l, err := Load(path)
		if err != nil || len(l.Records) != len(z.Records) {
			b.Fatal(err)
		}
		if _, err := l.ZoneOf(); err != nil {
			b.Fatal(err)
		}
	}
}
