package guard

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

func set(entries ...string) *entryset.Set {
	var b entryset.Builder
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			b.AddPrefix(p)
		} else if a, err := netip.ParseAddr(e); err == nil {
			b.AddAddr(a)
		} else {
			b.AddName(e, false)
		}
	}
	return b.Set()
}

func prefixes(s *entryset.Set) []string {
	var out []string
	for _, v := range s.V4 {
		out = append(out, entryset.UnpackV4(v).String())
	}
	for _, v := range s.V6 {
		out = append(out, v.Prefix().String())
	}
	return out
}

func TestApply(t *testing.T) {
	in := set(
		"0.0.0.0/8", "1.10.16.0/20", "10.0.0.0/8", "10.1.2.3", "100.0.0.0/8", "127.0.0.1", "169.254.1.1",
		"172.16.5.0/24", "192.0.2.1", "192.168.1.101", "198.18.0.0/15", "203.0.113.0/24", "224.0.0.0/3",
		"247.16.181.135", "255.255.255.255", "8.0.0.0/7", "9.0.0.0/8", "62.60.226.0/24",
		"::1", "fe80::1", "ff02::1", "fd00::/48", "2001:db8::1", "2a00::/12", "2a00:4c80::/29",
		"bad.example",
	)
	out, d := Default().Apply(in)
	want := []string{
		"1.10.16.0/20", "9.0.0.0/8", "62.60.226.0/24",
		// 100.0.0.0/8 less 100.64.0.0/10:
		"100.0.0.0/10", "100.128.0.0/9",
		"2a00:4c80::/29",
	}
	slices.Sort(want)
	got := prefixes(out)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kept %v\nwant %v", got, want)
	}
	if !slices.Equal(out.Names.Strings(), []string{"bad.example"}) {
		t.Errorf("names %v", out.Names)
	}
	wantCount := map[string]int{
		// 0/8, 127.0.0.1, 169.254.1.1, 192.0.2.1, 198.18/15, 203.0.113/24, 247.16.181.135,
		// 255.255.255.255, ::1, fe80::1, ff02::1, 2001:db8::1
		Reserved: 12,
		Private:  6, // 10/8, 10.1.2.3, 100/8 (trimmed), 172.16.5/24, 192.168.1.101, fd00::/48
		Broad:    3, // 224/3 (broadness is checked first), 8/7, 2a00::/12
	}
	for why, n := range wantCount {
		if d.Count[why] != n {
			t.Errorf("%s: %d dropped, want %d (%v)", why, d.Count[why], n, d.Count)
		}
	}
	if len(d.Samples) != maxSamples {
		t.Errorf("%d samples", len(d.Samples))
	}
}

func TestKeepPrivate(t *testing.T) {
	g := Default()
	g.KeepPrivate = true
	out, d := g.Apply(set("10.0.0.0/8", "192.168.1.101", "fd00::/48", "127.0.0.1"))
	if got := prefixes(out); !slices.Equal(got, []string{"10.0.0.0/8", "192.168.1.101/32", "fd00::/48"}) {
		t.Errorf("kept %v", got)
	}
	if d.Count[Reserved] != 1 || d.Count[Private] != 0 {
		t.Errorf("dropped %v", d.Count)
	}
}

func TestMinBits(t *testing.T) {
	g := Guard{MinBits4: 16, MinBits6: 32}
	out, d := g.Apply(set("1.0.0.0/8", "1.2.0.0/16", "2a00::/29", "2a00::/32"))
	if got := prefixes(out); !slices.Equal(got, []string{"1.2.0.0/16", "2a00::/32"}) || d.Count[Broad] != 2 {
		t.Errorf("kept %v dropped %v", got, d.Count)
	}
}

func TestNothingDroppedKeepsSet(t *testing.T) {
	in := set("1.2.3.4", "2a00::1", "a.example")
	if out, d := Default().Apply(in); out != in || d.Total() != 0 {
		t.Error("a clean set was copied")
	}
}

// TestSubtractAgainstModel: for random prefixes, an address is covered by the kept parts exactly when it
// was covered by the prefix and is outside every protected range.
func TestSubtractAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	g := Guard{MinBits4: 0, MinBits6: 0}
	for range 300 {
		first := []byte{0, 10, 100, 127, 169, 172, 192, 198, 203, 224, 240, 255}[r.IntN(12)]
		a := netip.AddrFrom4([4]byte{first, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		p := netip.PrefixFrom(a, r.IntN(25)).Masked()
		out, _ := g.Apply(set(p.String()))
		var kept []netip.Prefix
		for _, v := range out.V4 {
			kept = append(kept, entryset.UnpackV4(v))
		}
		for range 200 {
			b := p.Addr().As4()
			for i := p.Bits() / 8; i < 4; i++ {
				b[i] = byte(r.IntN(256))
			}
			q := netip.AddrFrom4(b)
			want := p.Contains(q)
			for _, pr := range ranges {
				if pr.p.Contains(q) {
					want = false
				}
			}
			got := false
			for _, k := range kept {
				if k.Contains(q) {
					got = true
				}
			}
			if got != want {
				t.Fatalf("%s: %s covered=%v, want %v (kept %v)", p, q, got, want, kept)
			}
		}
	}
}
