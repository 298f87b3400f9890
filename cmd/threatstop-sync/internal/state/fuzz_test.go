package state

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

// FuzzDecode reads a damaged or crafted state file: an error or a state, never both; a state written back
// reads the same; and the zone it holds, when its records read, writes back as the same zone.
func FuzzDecode(f *testing.F) {
	z := zone.New("p.rpz.test", 42)
	for _, r := range []string{"24.0.2.0.192.rpz-ip CNAME .", "evil.example CNAME .", "@ NS ns1.test."} {
		rec, err := zone.ParseRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		z.Records[rec] = struct{}{}
	}
	s := FromZone(z, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	s.Version, s.Updated, s.Server = Version, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), "192.0.2.53:53"
	b, err := json.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"version":1,"zone":"x.","serial":1,"applied":null,"records":["a CNAME .","a CNAME ."]}`))
	f.Add([]byte(`{"version":1,"zone":"X","records":["a NOTATYPE .","nospace"],"applied":["10.0.0.1/8"]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1} trailing`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decode(bytes.NewReader(data))
		if err != nil {
			if s != nil {
				t.Fatalf("an error (%v) with a state", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(s); err != nil {
			t.Fatalf("read %+v but cannot write it back: %v", s, err)
		}
		back, err := decode(&buf)
		if err != nil || !back.Updated.Equal(s.Updated) {
			t.Fatalf("written back: %+v %v", back, err)
		}
		back.Updated = s.Updated
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("written back reads\n%+v\nnot\n%+v", back, s)
		}
		z, err := s.ZoneOf()
		if err != nil {
			return
		}
		z2, err := FromZone(z, s.Applied).ZoneOf()
		if err != nil || z2.Origin != z.Origin || z2.Serial != z.Serial || !slices.Equal(z2.Sorted(), z.Sorted()) {
			t.Fatalf("the zone written back reads %v %v, not %v", z2, err, z.Sorted())
		}
	})
}
