package snapshot

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// set builds an entry set from prefixes and names ("*.x" for x with subdomains).
func set(entries ...string) *entryset.Set {
	var b entryset.Builder
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			b.AddPrefix(p)
		} else if a, err := netip.ParseAddr(e); err == nil {
			b.AddAddr(a)
		} else if len(e) > 2 && e[:2] == "*." {
			b.AddName(e[2:], true)
		} else {
			b.AddName(e, false)
		}
	}
	return b.Set()
}

// checkLists fails the test unless got holds exactly the lists of want.
func checkLists(t *testing.T, q any, got []int, want map[int]bool) {
	t.Helper()
	ok := len(got) == len(want)
	for _, l := range got {
		ok = ok && want[l]
	}
	if !ok {
		t.Fatalf("%v: lists %v, want %v", q, got, want)
	}
}

func ids(s *Snapshot, id SetID) []int {
	var out []int
	s.Set(id).Each(func(i int) { out = append(out, i) })
	return out
}

func TestCoveringPrefixes(t *testing.T) {
	s := Build([]List{
		{Name: "a", Set: set("10.0.0.0/8", "2001:db8::/32")},
		{Name: "b", Set: set("10.1.0.0/16", "10.3.0.0/16", "2001:db8:1::/48")},
		{Name: "c", Set: set("10.1.2.3", "10.2.0.0/16", "2001:db8:1::1", "2001:db8:1:0:8000::/65")},
		{Name: "d", Set: set("0.0.0.0/0")},
	}, nil)
	for _, tc := range []struct {
		addr string
		want []int
	}{
		{"10.1.2.3", []int{0, 1, 2, 3}},
		{"10.1.9.9", []int{0, 1, 3}},
		{"10.2.0.1", []int{0, 2, 3}}, // a sibling after 10.1/16's children must not inherit b
		{"10.3.0.1", []int{0, 1, 3}},
		{"10.4.0.1", []int{0, 3}},
		{"11.0.0.1", []int{3}},
		{"::ffff:10.1.2.3", []int{0, 1, 2, 3}}, // IPv4-mapped is IPv4
		{"2001:db8:1::1", []int{0, 1, 2}},
		{"2001:db8:1::2", []int{0, 1}},
		{"2001:db8:1:0:8000::1", []int{0, 1, 2}},
		{"2001:db8:2::1", []int{0}},
		{"2001:db9::1", nil},
	} {
		if got := ids(s, s.LookupAddr(netip.MustParseAddr(tc.addr))); !slices.Equal(got, tc.want) {
			t.Errorf("%s: lists %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	s := Build([]List{
		{Name: "exact", Set: set("bad.example", "x.evil.example")},
		{Name: "wild", Set: set("*.evil.example", "*.deep.a.b.example")},
		{Name: "wild2", Set: set("*.x.evil.example", "*.example")},
	}, nil)
	for _, tc := range []struct {
		name string
		want []int
	}{
		{"bad.example", []int{0, 2}},
		{"a.bad.example", []int{2}}, // exact entries do not cover subdomains; *.example does
		{"evil.example", []int{1, 2}},
		{"a.evil.example", []int{1, 2}},
		{"x.evil.example", []int{0, 1, 2}},
		{"y.x.evil.example", []int{1, 2}},
		{"b.example", []int{2}},
		{"example", []int{2}}, // *.name lists the name itself too
		{"a.b.example", []int{2}},
		{"z.deep.a.b.example", []int{1, 2}},
		{"other.org", nil},
	} {
		if got := ids(s, s.LookupName(tc.name)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: lists %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestNamesAgainstModel compares name lookups on random, deeply nested names over 70 lists (two words
// per set), some listed by several lists, with a brute-force union over every entry that covers the name.
func TestNamesAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const nLists = 70
	labels := []string{"a", "b", "c", "xn--bcher-kva", "d-1", "_e"}
	randName := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = labels[r.IntN(len(labels))]
		}
		return strings.Join(parts, ".")
	}
	type entry struct {
		name string
		sub  bool
		list int
	}
	var model []entry
	builders := make([]entryset.Builder, nLists)
	for range 4000 {
		e := entry{randName(2 + r.IntN(5)), r.IntN(3) == 0, r.IntN(nLists)}
		builders[e.list].AddName(e.name, e.sub)
		model = append(model, e)
	}
	lists := make([]List, nLists)
	for i := range lists {
		lists[i] = List{Name: "l", Set: builders[i].Set()}
	}
	s := Build(lists, nil)
	if s.Names() == 0 || s.Names() >= len(model) {
		t.Fatalf("%d distinct names of %d entries: the model should repeat some", s.Names(), len(model))
	}
	for range 20000 {
		q := randName(1 + r.IntN(8))
		if r.IntN(2) == 0 {
			q = model[r.IntN(len(model))].name
		}
		want := map[int]bool{}
		for _, m := range model {
			if m.name == q || m.sub && strings.HasSuffix(q, "."+m.name) {
				want[m.list] = true
			}
		}
		checkLists(t, q, ids(s, s.LookupName(q)), want)
	}
}

func TestInterning(t *testing.T) {
	var prefixes []string
	for i := range 1000 {
		prefixes = append(prefixes, netip.AddrFrom4([4]byte{1, 2, byte(i >> 8), byte(i)}).String())
	}
	s := Build([]List{{Name: "a", Set: set(prefixes...)}, {Name: "b", Set: set(prefixes[:10]...)}}, nil)
	// empty, {a}, {a,b}: a thousand entries share three sets.
	if s.Sets() != 3 {
		t.Errorf("%d sets, want 3", s.Sets())
	}
}

// TestManyLists uses more lists than one word holds.
func TestManyLists(t *testing.T) {
	lists := make([]List, 130)
	for i := range lists {
		lists[i] = List{Name: "l", Set: set()}
	}
	lists[0].Set = set("192.0.2.0/24")
	lists[129].Set = set("192.0.2.1", "*.example")
	lists[64].Set = set("a.example")
	s := Build(lists, nil)
	if got := ids(s, s.LookupAddr(netip.MustParseAddr("192.0.2.1"))); !slices.Equal(got, []int{0, 129}) {
		t.Errorf("192.0.2.1: %v", got)
	}
	if got := ids(s, s.LookupName("a.example")); !slices.Equal(got, []int{64, 129}) {
		t.Errorf("a.example: %v", got)
	}
}

// TestAgainstModel compares lookups on random data with a brute-force union over every covering entry.
func TestAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const nLists = 70
	type entry struct {
		p    netip.Prefix
		list int
	}
	var model []entry
	builders := make([]entryset.Builder, nLists)
	for range 3000 {
		var a [16]byte
		// Few distinct high bits so that prefixes nest often.
		a[0], a[1], a[2], a[3] = byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))
		var p netip.Prefix
		if r.IntN(2) == 0 {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte(a[:4])), r.IntN(33)).Masked()
		} else {
			for i := 4; i < 16; i++ {
				a[i] = byte(r.IntN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom16(a), r.IntN(129)).Masked()
		}
		l := r.IntN(nLists)
		builders[l].AddPrefix(p)
		model = append(model, entry{p, l})
	}
	lists := make([]List, nLists)
	for i := range lists {
		lists[i] = List{Name: "l", Set: builders[i].Set()}
	}
	s := Build(lists, nil)
	for range 20000 {
		e := model[r.IntN(len(model))]
		a := e.p.Addr()
		// Randomise the host bits so the query is anywhere in (or near) the prefix.
		b := a.AsSlice()
		for i := e.p.Bits()/8 + 1; i < len(b); i++ {
			b[i] = byte(r.IntN(256))
		}
		q, _ := netip.AddrFromSlice(b)
		want := map[int]bool{}
		for _, m := range model {
			if m.p.Contains(q) {
				want[m.list] = true
			}
		}
		checkLists(t, q, ids(s, s.LookupAddr(q)), want)
	}
}

func TestEmpty(t *testing.T) {
	s := Build(nil, nil)
	if s.LookupAddr(netip.MustParseAddr("1.2.3.4")) != 0 || s.LookupName("a.example") != 0 {
		t.Error("empty snapshot lists something")
	}
	if !s.Set(0).Empty() {
		t.Error("set 0 is not empty")
	}
}

// TestNilSet: a feed that never loaded is an empty list, not a crash.
func TestNilSet(t *testing.T) {
	s := Build([]List{{Name: "never-loaded"}, {Name: "b", Set: set("192.0.2.0/24", "a.example")}}, nil)
	if got := ids(s, s.LookupAddr(netip.MustParseAddr("192.0.2.1"))); !slices.Equal(got, []int{1}) {
		t.Errorf("192.0.2.1: %v", got)
	}
	if s.Lists[0].Entries != 0 {
		t.Errorf("never-loaded list has %d entries", s.Lists[0].Entries)
	}
}

// TestReuseParts: a snapshot built over a previous one takes over the parts whose entries did not change,
// and answers exactly as a snapshot built from nothing.
func TestReuseParts(t *testing.T) {
	v4a, v4b := set("10.0.0.0/8", "45.1.2.3"), set("10.0.0.0/8", "45.1.2.4", "46.0.0.0/16")
	v6 := set("2a00::/16", "2a00:1::1")
	names := set("bad.example", "*.evil.example")
	lists := func(v4 *entryset.Set) []List {
		return []List{{Name: "v4", Set: v4}, {Name: "v6", Set: v6}, {Name: "names", Set: names}, {Name: "empty"}}
	}
	prev := Build(lists(v4a), nil)
	next := Build(lists(v4b), prev)
	fresh := Build(lists(v4b), nil)
	if next.parts[partV4] == prev.parts[partV4] {
		t.Error("the IPv4 part was taken over although its entries changed")
	}
	if next.parts[partV6] != prev.parts[partV6] || next.parts[partNames] != prev.parts[partNames] {
		t.Error("unchanged parts were built again")
	}
	for _, q := range []string{"10.1.1.1", "45.1.2.3", "45.1.2.4", "46.0.1.1", "2a00::5", "2a00:1::1", "11.0.0.1"} {
		a := netip.MustParseAddr(q)
		if got, want := ids(next, next.LookupAddr(a)), ids(fresh, fresh.LookupAddr(a)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, a fresh build says %v", q, got, want)
		}
	}
	for _, q := range []string{"bad.example", "x.evil.example", "evil.example", "other.example"} {
		if got, want := ids(next, next.LookupName(q)), ids(fresh, fresh.LookupName(q)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, a fresh build says %v", q, got, want)
		}
	}
	// Another number of lists: nothing is taken over.
	more := Build(append(lists(v4b), List{Name: "x"}), next)
	for k := range numParts {
		if more.parts[k] == next.parts[k] {
			t.Errorf("part %d taken over across a change of the lists", k)
		}
	}
}
