package entryset_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func v4s(s *entryset.Set) []string {
	var out []string
	for _, v := range s.V4 {
		out = append(out, entryset.UnpackV4(v).String())
	}
	return out
}

func v6s(s *entryset.Set) []string {
	var out []string
	for _, v := range s.V6 {
		out = append(out, v.Prefix().String())
	}
	return out
}

func TestZeroBuilder(t *testing.T) {
	var b entryset.Builder
	if b.Len() != 0 {
		t.Fatalf("zero Builder has Len %d", b.Len())
	}
	s := b.Set()
	if s.Len() != 0 || len(s.V4) != 0 || len(s.V6) != 0 || s.Names.Len() != 0 || s.Wildcards.Len() != 0 {
		t.Fatalf("empty Builder built %+v", s)
	}
	var nilSet *entryset.Set
	if nilSet.Len() != 0 {
		t.Fatalf("nil Set has Len %d", nilSet.Len())
	}
	if !s.Equal(&entryset.Set{}) {
		t.Fatalf("empty Set is not Equal to the zero Set")
	}
}

func TestBuilderSortsAndDedups(t *testing.T) {
	var b entryset.Builder
	for _, p := range []string{
		"10.0.0.1/32", "10.0.0.0/8", "1.2.3.4/32", "10.0.0.0/16", "10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32",
		"10.0.0.1/32", "9.255.255.255/32",
	} {
		if !b.AddPrefix(pfx(p)) {
			t.Fatalf("AddPrefix(%s) = false", p)
		}
	}
	for _, p := range []string{"2001:db8::/32", "::/0", "2001:db8::1/128", "2001:db8::/48", "2001:db8::/32", "ffff::/16", "::1/128"} {
		if !b.AddPrefix(pfx(p)) {
			t.Fatalf("AddPrefix(%s) = false", p)
		}
	}
	for _, n := range []string{"b.example", "a.example", "b.example", "a.b.example", "a.example"} {
		b.AddName(n, false)
	}
	for _, n := range []string{"z.example", "y.example", "z.example"} {
		b.AddName(n, true)
	}
	b.AddName("a.example", true) // the same name as a wildcard is a different entry
	if got, want := b.Len(), 9+7+5+4; got != want {
		t.Fatalf("Builder.Len() = %d, want %d (duplicates included)", got, want)
	}
	s := b.Set()

	wantV4 := []string{"0.0.0.0/0", "1.2.3.4/32", "9.255.255.255/32", "10.0.0.0/8", "10.0.0.0/16", "10.0.0.1/32", "255.255.255.255/32"}
	if got := v4s(s); !slices.Equal(got, wantV4) {
		t.Errorf("V4 = %q, want %q", got, wantV4)
	}
	wantV6 := []string{"::/0", "::1/128", "2001:db8::/32", "2001:db8::/48", "2001:db8::1/128", "ffff::/16"}
	if got := v6s(s); !slices.Equal(got, wantV6) {
		t.Errorf("V6 = %q, want %q", got, wantV6)
	}
	if want := []string{"a.b.example", "a.example", "b.example"}; !slices.Equal(s.Names.Strings(), want) {
		t.Errorf("Names = %q, want %q", s.Names, want)
	}
	if want := []string{"a.example", "y.example", "z.example"}; !slices.Equal(s.Wildcards.Strings(), want) {
		t.Errorf("Wildcards = %q, want %q", s.Wildcards, want)
	}
	if got, want := s.Len(), 7+6+3+3; got != want {
		t.Errorf("Set.Len() = %d, want %d", got, want)
	}
}

func TestAddPrefixMasks(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.77/24", "192.0.2.0/24"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"255.255.255.255/0", "0.0.0.0/0"},
		{"1.2.3.4/32", "1.2.3.4/32"},
		{"1.2.3.4/31", "1.2.3.4/31"},
		{"1.2.3.5/31", "1.2.3.4/31"},
		{"2001:db8:1:2:3:4:5:6/48", "2001:db8:1::/48"},
		{"2001:db8::1/127", "2001:db8::/127"},
		{"ffff:ffff::/1", "8000::/1"},
		{"2c0f:6c0::/28", "2c0f:6c0::/28"},
		{"2c0f:6cf::/28", "2c0f:6c0::/28"},
	}
	for _, tt := range tests {
		var b entryset.Builder
		b.AddPrefix(pfx(tt.in))
		s := b.Set()
		got := append(v4s(s), v6s(s)...)
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("AddPrefix(%s) stored %q, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAddPrefix4In6(t *testing.T) {
	tests := []struct {
		in, want string
		v4       bool
	}{
		{"::ffff:1.2.3.4/128", "1.2.3.4/32", true},
		{"::ffff:1.2.3.4/120", "1.2.3.0/24", true},
		{"::ffff:1.2.3.4/104", "1.0.0.0/8", true},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0", true},
		{"::ffff:1.2.3.4/97", "0.0.0.0/1", true},
		{"::ffff:129.2.3.4/97", "128.0.0.0/1", true},
		// Shorter than /96 the prefix covers more than IPv4 space: it stays IPv6, masked.
		{"::ffff:1.2.3.4/95", "::fffe:0:0/95", false},
		{"::ffff:1.2.3.4/80", "::/80", false},
		// IPv4-compatible (deprecated) and NAT64 addresses are not IPv4-mapped.
		{"::1.2.3.4/128", "::102:304/128", false},
		{"64:ff9b::1.2.3.4/128", "64:ff9b::102:304/128", false},
	}
	for _, tt := range tests {
		var b entryset.Builder
		if !b.AddPrefix(pfx(tt.in)) {
			t.Errorf("AddPrefix(%s) = false", tt.in)
			continue
		}
		s := b.Set()
		if tt.v4 {
			if got := v4s(s); len(got) != 1 || got[0] != tt.want || len(s.V6) != 0 {
				t.Errorf("AddPrefix(%s): V4 %q V6 %q, want V4 %s", tt.in, got, v6s(s), tt.want)
			}
		} else {
			if got := v6s(s); len(got) != 1 || got[0] != tt.want || len(s.V4) != 0 {
				t.Errorf("AddPrefix(%s): V4 %q V6 %q, want V6 %s", tt.in, v4s(s), got, tt.want)
			}
		}
	}

	// An IPv4 address and its mapped form are the same entry.
	var b entryset.Builder
	b.AddAddr(netip.MustParseAddr("192.0.2.1"))
	b.AddAddr(netip.MustParseAddr("::ffff:192.0.2.1"))
	b.AddPrefix(pfx("::ffff:192.0.2.1/128"))
	if s := b.Set(); !slices.Equal(v4s(s), []string{"192.0.2.1/32"}) || len(s.V6) != 0 {
		t.Errorf("an address in its two forms gave V4 %q V6 %q", v4s(s), v6s(s))
	}
}

func TestAddPrefixInvalid(t *testing.T) {
	var b entryset.Builder
	for _, p := range []netip.Prefix{
		{},
		netip.PrefixFrom(netip.Addr{}, 0),
		netip.PrefixFrom(netip.MustParseAddr("1.2.3.4"), 33),
		netip.PrefixFrom(netip.MustParseAddr("1.2.3.4"), -1),
		netip.PrefixFrom(netip.MustParseAddr("::1"), 129),
	} {
		if b.AddPrefix(p) {
			t.Errorf("AddPrefix(%v) = true for an invalid prefix", p)
		}
	}
	if b.AddAddr(netip.Addr{}) {
		t.Errorf("AddAddr(zero Addr) = true")
	}
	if b.Len() != 0 {
		t.Fatalf("invalid prefixes were added: Len %d", b.Len())
	}
}

// TestAddAddrZone: an address with a zone is refused; netip.PrefixFrom would drop the zone and list the
// address on every link.
func TestAddAddrZone(t *testing.T) {
	for _, s := range []string{"fe80::1%eth0", "fe80::1%1", "ff02::1%lo", "::ffff:1.2.3.4%eth0"} {
		var b entryset.Builder
		a := netip.MustParseAddr(s)
		if b.AddAddr(a) {
			t.Errorf("AddAddr(%s) = true, want false for an address with a zone", s)
		}
		if b.Len() != 0 {
			t.Errorf("AddAddr(%s) added %d entries, want none", s, b.Len())
		}
	}
}

func TestAddAddr(t *testing.T) {
	var b entryset.Builder
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "0.0.0.0", "::", "255.255.255.255"} {
		if !b.AddAddr(netip.MustParseAddr(s)) {
			t.Fatalf("AddAddr(%s) = false", s)
		}
	}
	s := b.Set()
	if want := []string{"0.0.0.0/32", "192.0.2.1/32", "255.255.255.255/32"}; !slices.Equal(v4s(s), want) {
		t.Errorf("V4 = %q, want %q", v4s(s), want)
	}
	if want := []string{"::/128", "2001:db8::1/128"}; !slices.Equal(v6s(s), want) {
		t.Errorf("V6 = %q, want %q", v6s(s), want)
	}
}

func TestPackV4RoundTrip(t *testing.T) {
	for _, s := range []string{"0.0.0.0/0", "0.0.0.0/32", "255.255.255.255/32", "10.0.0.0/8", "192.0.2.128/25", "128.0.0.0/1"} {
		p := pfx(s)
		v := entryset.PackV4(p)
		if got := entryset.UnpackV4(v); got != p {
			t.Errorf("UnpackV4(PackV4(%s)) = %s", s, got)
		}
		if int(v&0xff) != p.Bits() {
			t.Errorf("PackV4(%s) low byte = %d, want the length %d", s, v&0xff, p.Bits())
		}
		a := p.Addr().As4()
		if v>>8 != uint64(a[0])<<24|uint64(a[1])<<16|uint64(a[2])<<8|uint64(a[3]) {
			t.Errorf("PackV4(%s) = %#x, address not in the high bits", s, v)
		}
	}
	// Order of packed values: by address, then by length.
	a, b, c := entryset.PackV4(pfx("10.0.0.0/8")), entryset.PackV4(pfx("10.0.0.0/9")), entryset.PackV4(pfx("10.0.0.1/32"))
	if !(a < b && b < c) {
		t.Errorf("packed order wrong: %#x %#x %#x", a, b, c)
	}

	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		var a4 [4]byte
		u := r.Uint32()
		a4[0], a4[1], a4[2], a4[3] = byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
		p := netip.PrefixFrom(netip.AddrFrom4(a4), r.IntN(33)).Masked()
		if got := entryset.UnpackV4(entryset.PackV4(p)); got != p {
			t.Fatalf("UnpackV4(PackV4(%s)) = %s", p, got)
		}
	}
}

func TestPackV6RoundTrip(t *testing.T) {
	for _, s := range []string{"::/0", "::/128", "::1/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "2001:db8::/32",
		"2001:db8:0:0:8000::/65", "8000::/1", "2c0f:6c0::/28"} {
		p := pfx(s)
		v := entryset.PackV6(p)
		if got := v.Prefix(); got != p {
			t.Errorf("PackV6(%s).Prefix() = %s", s, got)
		}
		if int(v.Bits) != p.Bits() {
			t.Errorf("PackV6(%s).Bits = %d", s, v.Bits)
		}
	}
	v := entryset.PackV6(pfx("2001:db8:1:2:3:4:5:6/128"))
	if v.Hi != 0x20010db800010002 || v.Lo != 0x0003000400050006 {
		t.Errorf("PackV6 halves = %#x %#x", v.Hi, v.Lo)
	}

	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		var a [16]byte
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		addr := netip.AddrFrom16(a)
		p := netip.PrefixFrom(addr, r.IntN(129)).Masked()
		if got := entryset.PackV6(p).Prefix(); got != p {
			t.Fatalf("PackV6(%s).Prefix() = %s", p, got)
		}
	}
}

func TestV6Compare(t *testing.T) {
	order := []string{"::/0", "::/1", "::/128", "::1/128", "::1:0:0:0/80", "0:0:0:1::/64", "2001:db8::/32", "2001:db8::/33",
		"2001:db8::1/128", "2001:db8:8000::/33", "8000::/1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"}
	var vs []entryset.V6
	for _, s := range order {
		vs = append(vs, entryset.PackV6(pfx(s)))
	}
	for i := range vs {
		if c := vs[i].Compare(vs[i]); c != 0 {
			t.Errorf("%s.Compare(itself) = %d", order[i], c)
		}
		for j := i + 1; j < len(vs); j++ {
			if c := vs[i].Compare(vs[j]); c >= 0 {
				t.Errorf("%s.Compare(%s) = %d, want < 0", order[i], order[j], c)
			}
			if c := vs[j].Compare(vs[i]); c <= 0 {
				t.Errorf("%s.Compare(%s) = %d, want > 0", order[j], order[i], c)
			}
		}
	}
}

func TestEqual(t *testing.T) {
	build := func(prefixes []string, names, wild []string) *entryset.Set {
		var b entryset.Builder
		for _, p := range prefixes {
			b.AddPrefix(pfx(p))
		}
		for _, n := range names {
			b.AddName(n, false)
		}
		for _, n := range wild {
			b.AddName(n, true)
		}
		return b.Set()
	}
	a := build([]string{"1.2.3.4/32", "2001:db8::/32"}, []string{"a.example"}, []string{"b.example"})
	same := build([]string{"2001:db8::1/32", "1.2.3.4/32", "1.2.3.4/32"}, []string{"a.example", "a.example"}, []string{"b.example"})
	if !a.Equal(same) || !same.Equal(a) {
		t.Errorf("sets with the same entries in another order, with duplicates, are not Equal")
	}
	if !a.Equal(a) {
		t.Errorf("a set is not Equal to itself")
	}
	for name, o := range map[string]*entryset.Set{
		"V4":        build([]string{"1.2.3.5/32", "2001:db8::/32"}, []string{"a.example"}, []string{"b.example"}),
		"V4 length": build([]string{"1.2.3.4/31", "2001:db8::/32"}, []string{"a.example"}, []string{"b.example"}),
		"V6":        build([]string{"1.2.3.4/32", "2001:db8::/31"}, []string{"a.example"}, []string{"b.example"}),
		"name":      build([]string{"1.2.3.4/32", "2001:db8::/32"}, []string{"c.example"}, []string{"b.example"}),
		"wildcard":  build([]string{"1.2.3.4/32", "2001:db8::/32"}, []string{"a.example"}, []string{"a.example"}),
		"swapped":   build([]string{"1.2.3.4/32", "2001:db8::/32"}, []string{"b.example"}, []string{"a.example"}),
		"extra":     build([]string{"1.2.3.4/32", "2001:db8::/32"}, []string{"a.example", "c.example"}, []string{"b.example"}),
		"empty":     {},
	} {
		if a.Equal(o) || o.Equal(a) {
			t.Errorf("%s: sets with different entries are Equal", name)
		}
	}
	// nil slices and empty slices hold the same (no) entries.
	if !(&entryset.Set{V4: []uint64{}}).Equal(&entryset.Set{}) {
		t.Errorf("an empty slice and a nil slice differ")
	}
}

// TestSetNamesDoNotAliasInput checks that the built Set holds its own copy of the names: the values are
// the same, and no name points into the memory of the string the names were cut from, so a kept Set does
// not pin a parser's input.
func TestSetNamesDoNotAliasInput(t *testing.T) {
	input := strings.Repeat("x", 100) + "\nb.example\na.example\nc.example\nb.example\n"
	var b entryset.Builder
	var want []string
	for _, line := range strings.Split(input, "\n")[1:] {
		if line == "" {
			continue
		}
		b.AddName(line, false)
		b.AddName(line, true)
		want = append(want, line)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	s := b.Set()
	if !slices.Equal(s.Names.Strings(), want) || !slices.Equal(s.Wildcards.Strings(), want) {
		t.Fatalf("Names %q Wildcards %q, want %q", s.Names, s.Wildcards, want)
	}
	lo := uintptr(unsafe.Pointer(unsafe.StringData(input)))
	hi := lo + uintptr(len(input))
	for _, list := range [][]string{s.Names.Strings(), s.Wildcards.Strings()} {
		for _, n := range list {
			p := uintptr(unsafe.Pointer(unsafe.StringData(n)))
			if p >= lo && p < hi {
				t.Errorf("name %q points into the input string", n)
			}
		}
	}
	// Slices are clipped: appending to them must not write into shared memory.
	if cap(s.V4) != len(s.V4) || cap(s.V6) != len(s.V6) {
		t.Errorf("Set slices are not clipped")
	}
}

func TestBuilderReset(t *testing.T) {
	var b entryset.Builder
	b.AddAddr(netip.MustParseAddr("1.2.3.4"))
	b.AddName("a.example", false)
	first := b.Set()
	if b.Len() != 0 {
		t.Fatalf("Builder.Len() = %d after Set, want 0", b.Len())
	}
	// The first Set is unaffected by what a reused Builder does next.
	b.AddAddr(netip.MustParseAddr("5.6.7.8"))
	b.AddName("b.example", false)
	second := b.Set()
	if got := v4s(first); !slices.Equal(got, []string{"1.2.3.4/32"}) || !slices.Equal(first.Names.Strings(), []string{"a.example"}) {
		t.Errorf("first Set changed: %q %q", got, first.Names)
	}
	if got := v4s(second); !slices.Equal(got, []string{"5.6.7.8/32"}) || !slices.Equal(second.Names.Strings(), []string{"b.example"}) {
		t.Errorf("second Set: %q %q", got, second.Names)
	}
}

// TestRandomSetsAreSortedAndUnique builds sets from random prefixes with many duplicates and checks the
// invariants the snapshot compiler relies on.
func TestRandomSetsAreSortedAndUnique(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var b entryset.Builder
	want4 := map[netip.Prefix]bool{}
	want6 := map[netip.Prefix]bool{}
	for range 5000 {
		if r.IntN(2) == 0 {
			a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(4)), byte(r.IntN(256))})
			p := netip.PrefixFrom(a, 16+r.IntN(17))
			b.AddPrefix(p)
			want4[p.Masked()] = true
		} else {
			var a [16]byte
			a[0], a[1], a[15] = 0x20, 0x01, byte(r.IntN(8))
			a[7] = byte(r.IntN(4))
			p := netip.PrefixFrom(netip.AddrFrom16(a), 48+r.IntN(81))
			b.AddPrefix(p)
			want6[p.Masked()] = true
		}
	}
	s := b.Set()
	if len(s.V4) != len(want4) || len(s.V6) != len(want6) {
		t.Fatalf("got %d V4 and %d V6, want %d and %d", len(s.V4), len(s.V6), len(want4), len(want6))
	}
	for i, v := range s.V4 {
		if i > 0 && s.V4[i-1] >= v {
			t.Fatalf("V4 not strictly ascending at %d", i)
		}
		if !want4[entryset.UnpackV4(v)] {
			t.Fatalf("unexpected V4 %s", entryset.UnpackV4(v))
		}
	}
	for i, v := range s.V6 {
		if i > 0 && s.V6[i-1].Compare(v) >= 0 {
			t.Fatalf("V6 not strictly ascending at %d", i)
		}
		if !want6[v.Prefix()] {
			t.Fatalf("unexpected V6 %s", v.Prefix())
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"a.example", "ab.example", "b.example", "xn--bcher-kva.example"}
	n := entryset.NamesOf(want...)
	if n.Len() != len(want) || !slices.Equal(n.Strings(), want) {
		t.Fatalf("Strings = %q, want %q", n.Strings(), want)
	}
	for i, w := range want {
		if n.At(i) != w {
			t.Errorf("At(%d) = %q, want %q", i, n.At(i), w)
		}
		if j, ok := n.Search(w); !ok || j != i {
			t.Errorf("Search(%q) = %d %v, want %d true", w, j, ok, i)
		}
	}
	for _, tc := range []struct {
		name string
		at   int
	}{{"", 0}, {"a", 0}, {"aa.example", 1}, {"c.example", 3}, {"zz", 4}} {
		if j, ok := n.Search(tc.name); ok || j != tc.at {
			t.Errorf("Search(%q) = %d %v, want %d false", tc.name, j, ok, tc.at)
		}
	}
	if !n.Equal(entryset.NamesOf(want...)) || n.Equal(entryset.NamesOf(want[:3]...)) ||
		n.Equal(entryset.NamesOf("a.exampleab.example", "b.example", "xn--bcher-kva.example")) {
		t.Error("Equal compares the names, not only their bytes")
	}
	if got := n.Longest(); got != len("xn--bcher-kva.example") {
		t.Errorf("Longest = %d, want %d", got, len("xn--bcher-kva.example"))
	}
	if got := entryset.NamesOf("a.longer.example", "b.example").Longest(); got != len("a.longer.example") {
		t.Errorf("Longest of a first name longer than the last = %d", got)
	}
	var empty entryset.Names
	if empty.Len() != 0 || len(empty.Strings()) != 0 || empty.Bytes() != 0 || empty.Longest() != 0 {
		t.Error("the zero Names is not empty")
	}
	if _, ok := empty.Search("a.example"); ok {
		t.Error("found a name in the empty Names")
	}
}

// TestBuilderNamesBytes checks that a Set keeps each distinct name's bytes once and four bytes per name.
func TestBuilderNamesBytes(t *testing.T) {
	var b entryset.Builder
	for i := range 1000 {
		name := fmt.Sprintf("h%03d.example", i%500) // every name twice
		b.AddName(name, false)
		b.AddName(name, true)
	}
	s := b.Set()
	if s.Names.Len() != 500 || s.Wildcards.Len() != 500 {
		t.Fatalf("%d names, %d wildcards, want 500 each", s.Names.Len(), s.Wildcards.Len())
	}
	if got, want := s.Names.Bytes(), 500*(len("h000.example")+4); got != want {
		t.Errorf("Names hold %d bytes, want %d", got, want)
	}
}

// BenchmarkLongest: what the State build pays per set of a policy whose content changed, to know whether
// any name is too long for its RPZ zone (1M names).
func BenchmarkLongest(b *testing.B) {
	names := make([]string, 1_000_000)
	for i := range names {
		names[i] = fmt.Sprintf("host%07d.example.com", i)
	}
	n := entryset.NamesOf(names...)
	b.ResetTimer()
	for b.Loop() {
		if n.Longest() != len(names[0]) {
			b.Fatal("wrong")
		}
	}
}
