package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// contentFixture: overlapping lists with duplicates across categories, own entries, and allow entries of
// every kind, those that carve an exception and those that change nothing.
func contentFixture(t *testing.T) (*Policy, *snapshot.Snapshot) {
	lists := []snapshot.List{
		0: {Name: "spam", Category: "spam", Set: set(t, "198.51.100.0/24", "2001:db8::/32", "10.0.0.0/8",
			"spam.example", "dup.example", "dup2.example", "*.bad.example", "*.apex.example", "sub.spam.example")},
		1: {Name: "c2", Category: "botnet", Set: set(t, "198.51.100.0/24", "198.51.100.7", "10.2.0.0/16",
			"c2.example", "dup.example", "www.bad.example", "*.botnet.example")},
		2: {Name: "tor", Category: "tor", Set: set(t, "203.0.113.9", "tor.example", "*.spam.example")},
		3: {Name: "good", Category: "allow", Set: set(t, "198.51.100.200", "10.1.0.0/16", "10.1.2.0/24", "192.0.2.0/24",
			"2001:db8:1::/48", "spam.example", "ok.bad.example", "*.cdn.botnet.example", "*.only-allowed.example",
			"only-allowed.example", "*.ok.cdn.botnet.example")},
		4: {Name: "stale", Category: "spam", Withheld: true},
		5: {Name: "phish", Category: "phish", Set: set(t, "198.51.100.0/25", "10.1.5.0/24", "2001:db8:1:2::/64",
			"*.phish.example", "*.x.cdn.botnet.example", "deep.ok.bad.example", "*.a.b.bad.example")},
		6: {Name: "spam2", Category: "spam", Set: set(t, "dup.example", "10.2.0.0/16")},
	}
	s := snapshot.Build(lists, nil)
	redirect, _ := ParseAction([]string{"redirect", "192.0.2.80"})
	p, err := New(Config{
		Name:    "fw",
		Block:   []int{0, 1, 4, 5, 6},
		Allow:   []int{3},
		Blocked: []string{"192.0.2.0/28", "203.0.113.0/24", "evil.example", "*.phish2.example", "botnet.example", "dup2.example"},
		Allowed: []string{"198.51.100.1", "apex.example", "*.safe.phish.example", "2001:db8::1"},
		Actions: map[string]Action{"spam": {Kind: NoData}, "botnet": redirect, "phish": {Kind: Drop}, CustomList: {Kind: NoData}},
	}, Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

func entryText(e Entry) string {
	what := e.Name
	switch {
	case e.Prefix.IsValid():
		what = e.Prefix.String()
	case e.Sub:
		what = "*." + e.Name
	}
	if !e.Allow {
		what = fmt.Sprintf("%s %s %s", what, e.Hit.Action.Kind, e.Hit.List)
	} else {
		what += " allow"
	}
	if e.Under != nil {
		what = fmt.Sprintf("%s, under %s %s", what, e.Under.Action.Kind, e.Under.List)
	}
	return what
}

func contentOf(p *Policy, s *snapshot.Snapshot) []Entry {
	var out []Entry
	p.Content(s, func(e Entry) bool { out = append(out, e); return true })
	return out
}

// TestContent: the fixture's content, entry by entry.
func TestContent(t *testing.T) {
	p, s := contentFixture(t)
	var got []string
	for _, e := range contentOf(p, s) {
		got = append(got, entryText(e))
	}
	want := []string{
		"10.0.0.0/8 nodata spam",
		"10.1.0.0/16 allow",           // carves out of 10/8; 10.1.2.0/24 inside it adds nothing
		"10.2.0.0/16 nodata spam",     // nodata (spam2, and spam around it) beats redirect (c2); spam has the lower ID
		"198.51.100.0/24 nodata spam", // in spam and c2: the more severe action
		"198.51.100.0/25 drop phish",
		"198.51.100.1/32 allow",        // own allow inside block prefixes
		"198.51.100.7/32 drop phish",   // redirect in c2, but inside phish's drop
		"198.51.100.200/32 allow",      // allow list inside the /24
		"203.0.113.0/24 nodata custom", // 192.0.2.0/28 is inside an allowed /24; tor is not in the policy
		"2001:db8::/32 nodata spam",
		"2001:db8::1/128 allow",
		"2001:db8:1::/48 allow", // 2001:db8:1:2::/64 inside it is left out
		"*.a.b.bad.example drop phish",
		"apex.example allow, under nodata spam", // the apex of a blocking wildcard, allowed exactly
		"*.apex.example nodata spam",
		"*.bad.example nodata spam",
		"botnet.example nodata custom, under redirect c2", // own exact entry at a wildcard's apex: nodata beats redirect
		"*.botnet.example redirect c2",
		"c2.example redirect c2",
		"*.cdn.botnet.example allow", // *.x.cdn.botnet.example (phish) and *.ok.cdn (allow) under it are left out
		"deep.ok.bad.example drop phish, under nodata spam",
		"dup.example nodata spam",    // spam, c2 and spam2: nodata, the lowest ID
		"dup2.example nodata custom", // own entry and spam tie: own first
		"evil.example nodata custom",
		"ok.bad.example allow, under nodata spam", // deep.ok.bad.example is still listed: an exact allow covers no subdomain
		"*.phish.example drop phish",
		"*.phish2.example nodata custom",
		"*.safe.phish.example allow",
		"sub.spam.example nodata spam",                   // *.spam.example is tor's, outside the policy
		"www.bad.example nodata spam, under nodata spam", // in c2 (redirect), under *.bad.example (nodata)
		// Not given: spam.example (allowed exactly), only-allowed.example and its wildcard (nothing to carve).
	}
	if !slices.Equal(got, want) {
		t.Errorf("content:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// resolver applies content entries as RPZ does: the longest prefix, then an exact name, then the deepest
// wildcard above the name.
type resolver struct {
	prefixes     []Entry
	exact, below map[string]Entry
}

func newResolver(t testing.TB, entries []Entry) *resolver {
	r := &resolver{exact: map[string]Entry{}, below: map[string]Entry{}}
	for _, e := range entries {
		switch {
		case e.Prefix.IsValid():
			r.prefixes = append(r.prefixes, e)
		case e.Sub:
			if _, dup := r.below[e.Name]; dup {
				t.Errorf("*.%s twice", e.Name)
			}
			r.below[e.Name] = e
			if _, ok := r.exact[e.Name]; !ok { // an exact entry of the same name came first and wins
				r.exact[e.Name] = e
			}
		default:
			if _, dup := r.exact[e.Name]; dup {
				t.Errorf("%s twice", e.Name)
			}
			r.exact[e.Name] = e
		}
	}
	return r
}

func (r *resolver) addr(a netip.Addr) (Entry, bool) {
	var best Entry
	found := false
	for _, e := range r.prefixes {
		if e.Prefix.Contains(a) && (!found || e.Prefix.Bits() > best.Prefix.Bits()) {
			best, found = e, true
		}
	}
	return best, found
}

func (r *resolver) name(q string) (Entry, bool) {
	if e, ok := r.exact[q]; ok {
		return e, true
	}
	for n := q; ; {
		i := strings.IndexByte(n, '.')
		if i < 0 {
			return Entry{}, false
		}
		n = n[i+1:]
		if e, ok := r.below[n]; ok {
			return e, true
		}
	}
}

// agree checks that the resolver decides q as the firewall does.
func agree(t testing.TB, p *Policy, s *snapshot.Snapshot, q string, v Verdict, e Entry, found bool) bool {
	t.Helper()
	listed := found && !e.Allow
	if listed != v.Listed {
		t.Errorf("%s: content gives %v (found %v), the firewall %+v", q, e, found, v)
		return false
	}
	if !listed {
		return true
	}
	if h := p.Decide(s, v); h.Action.Kind != e.Hit.Action.Kind || h.List != e.Hit.List || h.ListID != e.Hit.ListID || h.Category != e.Hit.Category {
		t.Errorf("%s: content gives %v, Decide %s %s", q, e, h.Action.Kind, h.List)
		return false
	}
	return true
}

// agreeUnder checks that an exact entry's Under is what the firewall decides for a subdomain that no
// entry names.
func agreeUnder(t testing.TB, p *Policy, s *snapshot.Snapshot, e Entry, probe string) bool {
	t.Helper()
	if e.Prefix.IsValid() || e.Sub {
		if e.Under != nil {
			t.Errorf("%v: Under on a prefix or wildcard entry", e)
			return false
		}
		return true
	}
	v := p.MatchName(s, probe+"."+e.Name)
	if v.Listed != (e.Under != nil) {
		t.Errorf("%v: under it the firewall gives %+v", entryText(e), v)
		return false
	}
	if h := p.Decide(s, v); v.Listed && (h.Action.Kind != e.Under.Action.Kind || h.ListID != e.Under.ListID) {
		t.Errorf("%v: under it Decide gives %s %s", entryText(e), h.Action.Kind, h.List)
		return false
	}
	return true
}

// samples are the addresses and names around every entry of the sets: first and last addresses and their
// neighbours, the name, a subdomain, a deeper one and the parents.
func samples(sets ...*entryset.Set) (addrs []netip.Addr, names []string) {
	add := func(p netip.Prefix) {
		first := p.Masked().Addr()
		last := first
		for range first.BitLen() - p.Bits() {
			last = last.Next()
			if !p.Contains(last) {
				last = last.Prev()
				break
			}
		}
		// last is exact only for short host parts; enough as a sample.
		addrs = append(addrs, first, first.Prev(), last, last.Next(), first.Next())
	}
	for _, set := range sets {
		for _, v := range set.V4 {
			add(entryset.UnpackV4(v))
		}
		for _, v := range set.V6 {
			add(v.Prefix())
		}
		for _, n := range slices.Concat(set.Names.Strings(), set.Wildcards.Strings()) {
			names = append(names, n, "x."+n, "a.b."+n)
			for i := strings.IndexByte(n, '.'); i >= 0; i = strings.IndexByte(n, '.') {
				n = n[i+1:]
				names = append(names, n)
			}
		}
	}
	return addrs, names
}

func allSets(p *Policy, s *snapshot.Snapshot) []*entryset.Set {
	sets := []*entryset.Set{p.own.Entries(ownBlock), p.own.Entries(ownAllow)}
	for id := range s.Lists {
		sets = append(sets, s.Entries(id))
	}
	return sets
}

// TestContentAgrees: a resolver that applies the content with RPZ precedence decides every sample as the
// firewall (MatchAddr, MatchName, Decide) does.
func TestContentAgrees(t *testing.T) {
	p, s := contentFixture(t)
	entries := contentOf(p, s)
	r := newResolver(t, entries)
	for _, e := range entries {
		agreeUnder(t, p, s, e, "zz-probe")
	}
	addrs, names := samples(allSets(p, s)...)
	for _, a := range addrs {
		e, ok := r.addr(a)
		agree(t, p, s, a.String(), p.MatchAddr(s, a), e, ok)
	}
	for _, n := range names {
		e, ok := r.name(n)
		agree(t, p, s, n, p.MatchName(s, n), e, ok)
	}
}

// TestContentRandom: random lists over a small space (every address of 10.0.0.0/20 and a few IPv6 ones,
// every name of a small tree), random policies: the content agrees with the firewall everywhere, is in
// order without duplicates, and every allow entry it gives changes a decision.
// randomPolicy builds five lists of random entries and a policy over them with random own entries and
// actions: role says for each list 0 block, 1 allow, anything else neither; an action is drawn from
// kinds for each category ("redirect" gets a block page).
func randomPolicy(t *testing.T, r *rand.Rand, entry func() string, kinds []string, role func() int) (*Policy, *snapshot.Snapshot, Config) {
	t.Helper()
	lists := make([]snapshot.List, 5)
	for i := range lists {
		var es []string
		for range r.IntN(12) {
			es = append(es, entry())
		}
		lists[i] = snapshot.List{Name: fmt.Sprint("l", i), Category: fmt.Sprint("c", i%3), Set: set(t, es...)}
	}
	s := snapshot.Build(lists, nil)
	cfg := Config{Name: "p", Actions: map[string]Action{}}
	for i := range lists {
		switch role() {
		case 0:
			cfg.Block = append(cfg.Block, i)
		case 1:
			cfg.Allow = append(cfg.Allow, i)
		}
	}
	for range r.IntN(4) {
		cfg.Blocked = append(cfg.Blocked, entry())
	}
	for range r.IntN(4) {
		cfg.Allowed = append(cfg.Allowed, entry())
	}
	for _, c := range []string{"c0", "c1", "c2", CustomList} {
		args := []string{kinds[r.IntN(len(kinds))]}
		if args[0] == "redirect" {
			args = append(args, "192.0.2.80")
		}
		a, err := ParseAction(args)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Actions[c] = a
	}
	p, err := New(cfg, Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	return p, s, cfg
}

func TestContentRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	labels := []string{"a", "b", "c"}
	var tree []string
	var grow func(n string, depth int)
	grow = func(n string, depth int) {
		tree = append(tree, n)
		if depth < 3 {
			for _, l := range labels {
				grow(l+"."+n, depth+1)
			}
		}
	}
	grow("example", 0)
	entry := func() string {
		switch r.IntN(3) {
		case 0:
			return fmt.Sprintf("10.0.%d.%d/%d", r.IntN(16), r.IntN(256), 20+r.IntN(13))
		case 1:
			return fmt.Sprintf("2001:db8::%x/%d", r.IntN(256), 120+r.IntN(9))
		}
		n := tree[r.IntN(len(tree))]
		if r.IntN(2) == 0 {
			return "*." + n
		}
		return n
	}
	var all []netip.Addr
	for a := netip.MustParseAddr("10.0.0.0"); a.Less(netip.MustParseAddr("10.0.16.0")); a = a.Next() {
		all = append(all, a)
	}
	for a := netip.MustParseAddr("2001:db8::"); a.Less(netip.MustParseAddr("2001:db8::100")); a = a.Next() {
		all = append(all, a)
	}
	var qnames []string
	for _, n := range tree {
		qnames = append(qnames, n, "z."+n)
	}
	kinds := []string{"nxdomain", "nodata", "drop", "passthru", "log-only"}
	for round := range 300 {
		p, s, cfg := randomPolicy(t, r, entry, kinds, func() int { return r.IntN(3) })
		got := contentOf(p, s)
		for i := 1; i < len(got); i++ {
			if !entryLess(got[i-1], got[i]) {
				t.Fatalf("round %d: %v before %v", round, got[i-1], got[i])
			}
		}
		res := newResolver(t, got)
		ok := true
		for _, e := range got {
			ok = ok && agreeUnder(t, p, s, e, "z")
		}
		for _, a := range all {
			e, found := res.addr(a)
			ok = ok && agree(t, p, s, a.String(), p.MatchAddr(s, a), e, found)
		}
		for _, n := range qnames {
			e, found := res.name(n)
			ok = ok && agree(t, p, s, n, p.MatchName(s, n), e, found)
		}
		if !ok {
			t.Fatalf("round %d: %+v\ncontent: %v", round, cfg, got)
		}
		// Every allow entry is needed: without it, some decision changes.
		for i, e := range got {
			if !e.Allow {
				continue
			}
			without := newResolver(t, slices.Delete(slices.Clone(got), i, i+1))
			changed := false
			for _, a := range all {
				x, fx := res.addr(a)
				y, fy := without.addr(a)
				changed = changed || (fx && !x.Allow) != (fy && !y.Allow)
			}
			for _, n := range qnames {
				x, fx := res.name(n)
				y, fy := without.name(n)
				changed = changed || (fx && !x.Allow) != (fy && !y.Allow)
			}
			if !changed {
				t.Fatalf("round %d: allow entry %v changes nothing\ncontent: %v", round, e, got)
			}
		}
	}
}

// entryLess is Content's order.
func entryLess(a, b Entry) bool {
	pa, pb := a.Prefix.IsValid(), b.Prefix.IsValid()
	switch {
	case pa && pb:
		if a.Prefix.Addr().Is4() != b.Prefix.Addr().Is4() {
			return a.Prefix.Addr().Is4()
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c < 0
		}
		return a.Prefix.Bits() < b.Prefix.Bits()
	case pa != pb:
		return pa
	case a.Name != b.Name:
		return a.Name < b.Name
	}
	return !a.Sub && b.Sub
}

// TestContentStops: Content stops when fn returns false, in each part.
func TestContentStops(t *testing.T) {
	p, s := contentFixture(t)
	n := len(contentOf(p, s))
	for stop := 1; stop <= n; stop++ {
		calls := 0
		p.Content(s, func(Entry) bool { calls++; return calls < stop })
		if calls != stop {
			t.Errorf("stop after %d: %d calls", stop, calls)
		}
	}
}

// TestContentWithheld: a withheld list gives nothing, even with entries left in its set.
func TestContentWithheld(t *testing.T) {
	s := snapshot.Build([]snapshot.List{{Name: "l", Category: "c", Withheld: true}}, nil)
	p, _ := New(Config{Name: "p", Block: []int{0}}, Catalog(s.Lists))
	if got := contentOf(p, s); len(got) != 0 {
		t.Errorf("content of a withheld list: %v", got)
	}
}

// BenchmarkContent: 1M IPv4 prefixes, 100k IPv6 prefixes and 1M names (10% wildcards) over 3 blocking
// lists, with a small allow list; reports ns and allocations per entry given.
func BenchmarkContent(b *testing.B) {
	p, s := benchPolicy(b)
	n := 0
	p.Content(s, func(Entry) bool { n++; return true })
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.Content(s, func(Entry) bool { return true })
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/float64(n), "allocs/entry")
	b.ReportMetric(float64(n), "entries")
}

func benchPolicy(b *testing.B) (*Policy, *snapshot.Snapshot) {
	r := rand.New(rand.NewPCG(1, 2))
	const lists = 3
	bs := make([]entryset.Builder, lists)
	for range 1_000_000 {
		bits := 32
		if r.IntN(10) == 0 {
			bits = 8 + r.IntN(24)
		}
		v := r.Uint32()
		bs[r.IntN(lists)].AddPrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits))
	}
	for range 100_000 {
		var a [16]byte
		a[0], a[1] = 0x20, 0x01
		for i := 2; i < 16; i++ {
			a[i] = byte(r.Uint32())
		}
		bs[r.IntN(lists)].AddPrefix(netip.PrefixFrom(netip.AddrFrom16(a), 32+r.IntN(97)))
	}
	for i := range 1_000_000 {
		bs[r.IntN(lists)].AddName(fmt.Sprintf("h%x.d%d.example", r.Uint32(), i%5000), i%10 == 0)
	}
	var allow entryset.Builder
	for range 1000 {
		v := r.Uint32()
		allow.AddAddr(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
		allow.AddName(fmt.Sprintf("ok%x.example", r.Uint32()), false)
	}
	ls := []snapshot.List{{Name: "allow", Category: "allow", Set: allow.Set()}}
	for i := range bs {
		ls = append(ls, snapshot.List{Name: fmt.Sprint("l", i), Category: fmt.Sprint("c", i), Set: bs[i].Set()})
	}
	s := snapshot.Build(ls, nil)
	p, err := New(Config{Name: "p", Block: []int{1, 2, 3}, Allow: []int{0}, Blocked: []string{"evil.example"}}, Catalog(s.Lists))
	if err != nil {
		b.Fatal(err)
	}
	return p, s
}
