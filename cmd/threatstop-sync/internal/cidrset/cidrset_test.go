package cidrset

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func prefixes(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		out = append(out, netip.MustParsePrefix(f))
	}
	return out
}

func join(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

func TestBuildAndSubtract(t *testing.T) {
	for _, tc := range []struct {
		name         string
		is6          bool
		block, allow string
		want         string
	}{
		{"empty", false, "", "", ""},
		{"adjacent halves merge", false, "10.0.0.0/25 10.0.0.128/25", "", "10.0.0.0/24"},
		{"overlap swallowed", false, "10.0.0.0/16 10.0.5.0/24 10.0.0.1/32", "", "10.0.0.0/16"},
		{"adjacent but not aligned stay two", false, "10.0.1.0/24 10.0.2.0/24", "", "10.0.1.0/24 10.0.2.0/24"},
		{"four quarters", false, "10.0.0.192/26 10.0.0.0/26 10.0.0.128/26 10.0.0.64/26", "", "10.0.0.0/24"},
		{"a /32 allowed out of a /24", false, "192.0.2.0/24", "192.0.2.1/32",
			"192.0.2.0/32 192.0.2.2/31 192.0.2.4/30 192.0.2.8/29 192.0.2.16/28 192.0.2.32/27 192.0.2.64/26 192.0.2.128/25"},
		{"allow covers block", false, "192.0.2.0/25", "192.0.2.0/24", ""},
		{"allow at the edges", false, "192.0.2.0/24", "192.0.2.0/32 192.0.2.255/32",
			"192.0.2.1/32 192.0.2.2/31 192.0.2.4/30 192.0.2.8/29 192.0.2.16/28 192.0.2.32/27 192.0.2.64/26 192.0.2.128/26 192.0.2.192/27 192.0.2.224/28 192.0.2.240/29 192.0.2.248/30 192.0.2.252/31 192.0.2.254/32"},
		{"allow elsewhere", false, "192.0.2.0/24", "198.51.100.0/24", "192.0.2.0/24"},
		{"allow spanning two blocks", false, "10.0.0.0/24 10.0.2.0/24", "10.0.0.128/25 10.0.1.0/24 10.0.2.0/25", "10.0.0.0/25 10.0.2.128/25"},
		{"whole space", false, "0.0.0.0/1 128.0.0.0/1", "", "0.0.0.0/0"},
		{"top of the space", false, "255.255.255.255/32 255.255.255.254/32", "", "255.255.255.254/31"},
		{"other family ignored", false, "10.0.0.0/8 2001:db8::/32", "", "10.0.0.0/8"},
		{"ipv6 merge", true, "2001:db8::/33 2001:db8:8000::/33", "", "2001:db8::/32"},
		{"ipv6 allow /128 out of /126", true, "2001:db8::/126", "2001:db8::2/128", "2001:db8::/127 2001:db8::3/128"},
		{"ipv6 across the 64-bit boundary", true, "2001:db8:0:0:ffff:ffff:ffff:ffff/128 2001:db8:0:1::/128", "", "2001:db8::ffff:ffff:ffff:ffff/128 2001:db8:0:1::/128"},
		{"ipv6 whole space", true, "::/1 8000::/1", "", "::/0"},
		{"ipv6 top", true, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.is6, prefixes(t, tc.block)).Subtract(Build(tc.is6, prefixes(t, tc.allow)))
			if s := join(got.Prefixes()); s != tc.want {
				t.Errorf("got  %s\nwant %s", s, tc.want)
			}
			if n := got.PrefixCount(); n != len(got.Prefixes()) {
				t.Errorf("PrefixCount %d, Prefixes %d", n, len(got.Prefixes()))
			}
		})
	}
}

func TestDiff(t *testing.T) {
	old := Build(false, prefixes(t, "10.0.0.0/24 10.0.2.0/24 10.0.4.0/24"))
	cur := Build(false, prefixes(t, "10.0.0.0/24 10.0.2.0/25 10.0.6.0/24 10.0.3.0/24"))
	gone, added := Diff(old, cur)
	str := func(rs []Range) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.First.String()+"-"+r.Last.String())
		}
		return strings.Join(s, " ")
	}
	if g, w := str(gone), "10.0.2.0-10.0.2.255 10.0.4.0-10.0.4.255"; g != w {
		t.Errorf("gone %s, want %s", g, w)
	}
	if g, w := str(added), "10.0.2.0-10.0.2.127 10.0.3.0-10.0.3.255 10.0.6.0-10.0.6.255"; g != w {
		t.Errorf("added %s, want %s", g, w)
	}
	if g, a := Diff(cur, cur); g != nil || a != nil {
		t.Errorf("diff of a set with itself: %v %v", g, a)
	}
}

// model is the reference: a set of IPv4 addresses inside a small space.
func model(ps []netip.Prefix) map[uint32]bool {
	m := map[uint32]bool{}
	for _, p := range ps {
		a := p.Masked().Addr().As4()
		first := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		for i := uint32(0); i < 1<<(32-p.Bits()); i++ {
			m[first+i] = true
		}
	}
	return m
}

// checkInvariants: the result covers exactly model(block) minus model(allow), its prefixes are disjoint,
// sorted, and minimal (no two of them can be merged into one prefix).
func checkInvariants(t *testing.T, block, allow []netip.Prefix) {
	t.Helper()
	got := Build(false, block).Subtract(Build(false, allow))
	want := model(block)
	for a := range model(allow) {
		delete(want, a)
	}
	ps := got.Prefixes()
	have := model(ps)
	if len(have) != len(want) {
		t.Fatalf("block %v allow %v: %d addresses, want %d (%v)", block, allow, len(have), len(want), ps)
	}
	for a := range want {
		if !have[a] {
			t.Fatalf("block %v allow %v: address %d missing from %v", block, allow, a, ps)
		}
	}
	for i := 1; i < len(ps); i++ {
		if ps[i-1].Addr().Compare(ps[i].Addr()) >= 0 || ps[i-1].Overlaps(ps[i]) {
			t.Fatalf("not sorted and disjoint: %v", ps)
		}
		// Minimal: two neighbours that are the halves of one prefix would have been one.
		a, b := ps[i-1], ps[i]
		if a.Bits() == b.Bits() && a.Bits() > 0 {
			if parent, _ := a.Addr().Prefix(a.Bits() - 1); parent.Contains(b.Addr()) {
				t.Fatalf("not minimal: %s and %s are one prefix", a, b)
			}
		}
	}
	for a := range want {
		if !got.Contains(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})) {
			t.Fatalf("Contains(%d) false", a)
		}
	}
}

// small draws prefixes inside 10.0.0.0/22, so the model stays small.
func small(r *rand.Rand, n int) []netip.Prefix {
	var out []netip.Prefix
	for range n {
		bits := 22 + r.IntN(11)
		v := 10<<24 | r.Uint32N(1<<10)
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		p, _ := a.Prefix(bits)
		out = append(out, p)
	}
	return out
}

func TestInvariantsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkInvariants(t, small(r, 1+r.IntN(12)), small(r, r.IntN(6)))
		})
	}
}

// FuzzAggregate checks the aggregation invariants on prefixes drawn from the fuzzer's bytes.
func FuzzAggregate(f *testing.F) {
	f.Add([]byte{0, 24, 1, 32, 2, 26}, []byte{5, 30})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, b, a []byte) {
		decode := func(data []byte) []netip.Prefix {
			var out []netip.Prefix
			for i := 0; i+1 < len(data) && len(out) < 16; i += 2 {
				v := 10<<24 | uint32(data[i])<<2 | uint32(data[i+1]>>6)
				addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
				p, _ := addr.Prefix(22 + int(data[i+1]&0x3f)%11)
				out = append(out, p)
			}
			return out
		}
		checkInvariants(t, decode(b), decode(a))
	})
}

func TestRangePrefix(t *testing.T) {
	for _, tc := range []struct {
		first, last string
		want        string
	}{
		{"10.0.0.0", "10.0.0.255", "10.0.0.0/24"},
		{"10.0.0.1", "10.0.0.1", "10.0.0.1/32"},
		{"10.0.1.0", "10.0.2.255", ""},
		{"2001:db8::", "2001:db8::ffff", "2001:db8::/112"},
	} {
		p, ok := Range{netip.MustParseAddr(tc.first), netip.MustParseAddr(tc.last)}.Prefix()
		if got := map[bool]string{true: p.String(), false: ""}[ok]; got != tc.want {
			t.Errorf("%s-%s: %q, want %q", tc.first, tc.last, got, tc.want)
		}
	}
}

// BenchmarkBuild: 1M random IPv4 prefixes merged and split into the minimal list.
func BenchmarkBuild(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	ps := make([]netip.Prefix, 1_000_000)
	for i := range ps {
		v := r.Uint32()
		p, _ := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).Prefix(20 + r.IntN(13))
		ps[i] = p
	}
	b.ReportAllocs()
	for b.Loop() {
		s := Build(false, slices.Clone(ps))
		_ = s.PrefixCount()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ps)), "ns/prefix")
}
