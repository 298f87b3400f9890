package rpz

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

const origin = "fw.rpz.example."

func TestPrefixOwner(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"0.0.0.0/0", "0.0.0.0.0.rpz-ip"},
		{"128.0.0.0/1", "1.0.0.0.128.rpz-ip"},
		{"10.0.0.0/8", "8.0.0.0.10.rpz-ip"},
		{"172.16.0.0/12", "12.0.0.16.172.rpz-ip"},
		{"192.0.2.0/24", "24.0.2.0.192.rpz-ip"},
		{"192.0.2.128/25", "25.128.2.0.192.rpz-ip"},
		{"198.51.100.7/32", "32.7.100.51.198.rpz-ip"},
		{"192.0.2.255/24", "24.0.2.0.192.rpz-ip"}, // host bits cleared
		{"2001:db8::1/128", "128.1.zz.db8.2001.rpz-ip"},
		{"2001:db8::/32", "32.zz.db8.2001.rpz-ip"},
		{"2001:db8::/48", "48.zz.db8.2001.rpz-ip"},
		{"::1/128", "128.1.zz.rpz-ip"},
		{"::/128", "128.zz.rpz-ip"},
		{"::/0", "0.zz.rpz-ip"},
		{"8000::/1", "1.zz.8000.rpz-ip"},
		{"fe80::/10", "10.zz.fe80.rpz-ip"},
		{"2001:db8:0:0:1:0:0:1/128", "128.1.0.0.1.zz.db8.2001.rpz-ip"},  // equal runs: the first
		{"2001:0:0:1:0:0:0:1/128", "128.1.zz.1.0.0.2001.rpz-ip"},        // the longer run, though later
		{"2001:db8:0:1:2:3:4:5/128", "128.5.4.3.2.1.0.db8.2001.rpz-ip"}, // a single zero group stays
		{"2001:db8:1:2:3:4:5:6/128", "128.6.5.4.3.2.1.db8.2001.rpz-ip"}, // no zero group
		{"2001:DB8:ABCD:12::/64", "64.zz.12.abcd.db8.2001.rpz-ip"},      // lowercase, no leading zeros
		{"2001:db8:0:0:1::/80", "80.zz.1.0.0.db8.2001.rpz-ip"},          // a run of 3 beats one of 2
		{"0:0:1::1/128", "128.1.zz.1.0.0.rpz-ip"},                       // the run of 4 beats the leading 2
		{"1:0:0:2:3:4:0:0/128", "128.0.0.4.3.2.zz.1.rpz-ip"},            // equal runs, the first
		{"1:2:3:4:5:6:7:0/128", "128.0.7.6.5.4.3.2.1.rpz-ip"},           // a trailing single zero
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "128.ffff.ffff.ffff.ffff.ffff.ffff.ffff.ffff.rpz-ip"},
	} {
		if got := PrefixOwner(netip.MustParsePrefix(tc.prefix), origin); got != tc.want+"."+origin {
			t.Errorf("%s: %s, want %s.%s", tc.prefix, got, tc.want, origin)
		}
	}
	// Every IPv4 length, against the feed parser.
	a := netip.MustParseAddr("203.0.113.77")
	for bits := 1; bits <= 32; bits++ {
		p := netip.PrefixFrom(a, bits).Masked()
		if got := parseOwner(t, PrefixOwner(p, origin)); got != p {
			t.Errorf("/%d: %s reads back as %s", bits, PrefixOwner(p, origin), got)
		}
	}
}

// parseOwner reads an rpz-ip owner back with the feed parser.
func parseOwner(t *testing.T, owner string) netip.Prefix {
	t.Helper()
	set, st := parse(t, "$ORIGIN "+origin+"\n"+owner+" CNAME .\n")
	if st.Invalid > 0 || set.Len() != 1 {
		t.Fatalf("%s: %+v", owner, st)
	}
	if len(set.V4) == 1 {
		return entryset.UnpackV4(set.V4[0])
	}
	return set.V6[0].Prefix()
}

func parse(t *testing.T, zone string) (*entryset.Set, format.Stats) {
	t.Helper()
	parser, err := format.New("rpz", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b entryset.Builder
	var st format.Stats
	parser.Parse(zone, &b, &st)
	return b.Set(), st
}

func TestOwnerOrigin(t *testing.T) {
	for _, tc := range []struct{ origin, want string }{
		{"fw.rpz.example.", "evil.example.fw.rpz.example."},
		{"fw.rpz.example", "evil.example.fw.rpz.example."},
		{".", "evil.example."},
		{"", "evil.example."},
	} {
		if got := Owner(policy.Entry{Name: "evil.example"}, tc.origin); got != tc.want {
			t.Errorf("origin %q: %s, want %s", tc.origin, got, tc.want)
		}
	}
	if got := Owner(policy.Entry{Prefix: netip.MustParsePrefix("192.0.2.0/24")}, "."); got != "24.0.2.0.192.rpz-ip." {
		t.Errorf("prefix under the root: %s", got)
	}
}

// text is the records in zone-file form, one a line.
func text(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestRecords(t *testing.T) {
	redirect, _ := policy.ParseAction([]string{"redirect", "192.0.2.80", "2001:db8::80"})
	hit := func(k policy.ActionKind) policy.Hit { return policy.Hit{Action: policy.Action{Kind: k}} }
	for _, tc := range []struct {
		e    policy.Entry
		want string
	}{
		{policy.Entry{Name: "evil.example", Hit: hit(policy.NXDomain)}, "evil.example.fw.rpz.example.\t300\tIN\tCNAME\t.\n"},
		{policy.Entry{Name: "evil.example", Hit: hit(policy.NoData)}, "evil.example.fw.rpz.example.\t300\tIN\tCNAME\t*.\n"},
		{policy.Entry{Name: "evil.example", Hit: hit(policy.Drop)}, "evil.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-drop.\n"},
		{policy.Entry{Name: "evil.example", Hit: hit(policy.Passthru)}, "evil.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-passthru.\n"},
		{policy.Entry{Name: "evil.example", Hit: hit(policy.LogOnly)}, "evil.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-passthru.\n"},
		{policy.Entry{Name: "ok.example", Allow: true}, "ok.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-passthru.\n"},
		{policy.Entry{Name: "evil.example", Hit: policy.Hit{Action: redirect}},
			"evil.example.fw.rpz.example.\t300\tIN\tA\t192.0.2.80\nevil.example.fw.rpz.example.\t300\tIN\tAAAA\t2001:db8::80\n"},
		{policy.Entry{Name: "evil.example", Hit: hit(policy.Redirect)}, "evil.example.fw.rpz.example.\t300\tIN\tCNAME\t.\n"}, // nowhere to go
		{policy.Entry{Name: "evil.example", Sub: true, Hit: hit(policy.Drop)},
			"evil.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-drop.\n*.evil.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-drop.\n"},
		{policy.Entry{Name: "ok.example", Sub: true, Allow: true},
			"ok.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-passthru.\n*.ok.example.fw.rpz.example.\t300\tIN\tCNAME\trpz-passthru.\n"},
		{policy.Entry{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Hit: policy.Hit{Action: redirect}},
			"24.0.2.0.192.rpz-ip.fw.rpz.example.\t300\tIN\tA\t192.0.2.80\n24.0.2.0.192.rpz-ip.fw.rpz.example.\t300\tIN\tAAAA\t2001:db8::80\n"},
		{policy.Entry{Prefix: netip.MustParsePrefix("2001:db8::1/128"), Allow: true}, "128.1.zz.db8.2001.rpz-ip.fw.rpz.example.\t300\tIN\tCNAME\trpz-passthru.\n"},
		{policy.Entry{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Hit: hit(policy.NXDomain)}, // no /0 trigger: its halves
			"1.0.0.0.0.rpz-ip.fw.rpz.example.\t300\tIN\tCNAME\t.\n1.0.0.0.128.rpz-ip.fw.rpz.example.\t300\tIN\tCNAME\t.\n"},
		{policy.Entry{Prefix: netip.MustParsePrefix("::/0"), Hit: hit(policy.NXDomain)},
			"1.zz.rpz-ip.fw.rpz.example.\t300\tIN\tCNAME\t.\n1.zz.8000.rpz-ip.fw.rpz.example.\t300\tIN\tCNAME\t.\n"},
		{policy.Entry{Name: "evil.rpz-ip", Hit: hit(policy.NXDomain)}, ""},                                    // would read as an IP trigger
		{policy.Entry{Name: strings.Repeat("a.", 120) + "example", Sub: true, Hit: hit(policy.NXDomain)}, ""}, // too long under the origin
	} {
		rrs := Records(tc.e, origin, 300)
		if got := text(rrs); got != tc.want {
			t.Errorf("%+v:\n%s\nwant\n%s", tc.e, got, tc.want)
		}
		for _, rr := range rrs {
			if rr.Header().Class != dns.ClassINET {
				t.Errorf("%s: class %d", rr, rr.Header().Class)
			}
		}
	}
}

func set(t testing.TB, entries ...string) *entryset.Set {
	t.Helper()
	var b entryset.Builder
	for _, e := range entries {
		if err := policy.AddEntry(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	return b.Set()
}

// fixture: a policy with every action, overlapping lists, own entries and allow entries that carve
// exceptions out of prefixes and wildcards.
func fixture(t testing.TB) (*policy.Policy, *snapshot.Snapshot) {
	lists := []snapshot.List{
		{Name: "spam", Category: "spam", Set: set(t, "198.51.100.0/24", "2001:db8::/32", "spam.example", "*.bad.example", "*.apex.example", "dup.example")},
		{Name: "c2", Category: "botnet", Set: set(t, "198.51.100.7", "c2.example", "*.botnet.example", "www.bad.example", "dup.example", "128.0.0.0/1")},
		{Name: "watch", Category: "watch", Set: set(t, "watch.example", "203.0.113.0/24", "*.w.bad.example")},
		{Name: "off", Category: "off", Set: set(t, "off.example", "*.off.example")},
		{Name: "good", Category: "allow", Set: set(t, "198.51.100.1", "ok.bad.example", "*.cdn.botnet.example", "apex.example", "2001:db8:1::/48")},
		{Name: "phish", Category: "phish", Set: set(t, "*.phish.example", "deep.ok.bad.example", "10.0.0.0/8", "2001:db8:1:2::/64", "x.phish.example")},
	}
	s := snapshot.Build(lists, nil)
	redirect, _ := policy.ParseAction([]string{"redirect", "192.0.2.80", "2001:db8::80"})
	p, err := policy.New(policy.Config{
		Name:    "fw",
		Block:   []int{0, 1, 2, 3, 5},
		Allow:   []int{4},
		Blocked: []string{"evil.example", "botnet.example", "192.0.2.0/24", "0.0.0.0/0", "*.zz-own.example"},
		Allowed: []string{"safe.zz-own.example", "10.1.0.0/16"},
		Actions: map[string]policy.Action{
			"spam": {Kind: policy.NoData}, "botnet": redirect, "watch": {Kind: policy.LogOnly},
			"off": {Kind: policy.Passthru}, "phish": {Kind: policy.Drop},
		},
	}, policy.Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

func zoneRRs(p *policy.Policy, s *snapshot.Snapshot) []dns.RR {
	var all []dns.RR
	Zone(p, s, origin, 60, func(rrs []dns.RR) bool { all = append(all, rrs...); return true })
	return all
}

// TestZoneValid: every owner holds one CNAME or only address records, never both and never twice, and
// lies under the origin.
func TestZoneValid(t *testing.T) {
	p, s := fixture(t)
	rrs := zoneRRs(p, s)
	types := map[string][]uint16{}
	for _, rr := range rrs {
		h := rr.Header()
		if !dns.IsSubDomain(origin, h.Name) || h.Name == origin {
			t.Errorf("%s: outside the zone", rr)
		}
		types[h.Name] = append(types[h.Name], h.Rrtype)
	}
	for owner, ts := range types {
		if slices.Contains(ts, dns.TypeCNAME) && len(ts) > 1 {
			t.Errorf("%s: CNAME and other records: %v", owner, ts)
		}
	}
	// /0 is written as its halves, and the c2 list's own 128.0.0.0/1 owns its half.
	for _, want := range []string{"1.0.0.0.0.rpz-ip." + origin, "1.0.0.0.128.rpz-ip." + origin} {
		if len(types[want]) != 1 {
			t.Errorf("%s: %v", want, types[want])
		}
	}
}

// TestZoneRoundTrip: the zone, as a zone file, reads back through the feed parser as the policy's
// blocking entries. The parser skips passthru records (allow entries, and categories whose action does
// not block), reads a /0 as the halves it is written as, and *.name as the name and its subdomains.
func TestZoneRoundTrip(t *testing.T) {
	p, s := fixture(t)
	rrs := zoneRRs(p, s)
	zone := "$ORIGIN " + origin + "\n$TTL 60\n@ SOA ns.example. hostmaster.example. 1 3600 600 86400 60\n@ NS ns.example.\n" + text(rrs)
	got, st := parse(t, zone)
	if st.Invalid > 0 {
		t.Fatalf("invalid records: %v", st.Samples)
	}
	passthru := 0
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok && c.Target == targetPassthru {
			passthru++
		}
	}
	if st.Skipped != passthru {
		t.Errorf("parser skipped %d records, the zone has %d passthru records", st.Skipped, passthru)
	}

	var want entryset.Builder
	var entries []policy.Entry
	p.Content(s, func(e policy.Entry) bool { entries = append(entries, e); return true })
	for i, e := range entries {
		blocks := !e.Allow && e.Hit.Action.Kind.Blocks()
		switch {
		case e.Prefix.IsValid():
			if blocks && e.Prefix.Bits() == 0 {
				for _, h := range halves(e.Prefix) {
					if !slices.ContainsFunc(entries, func(o policy.Entry) bool { return o.Prefix == h }) {
						want.AddPrefix(h)
					}
				}
			} else if blocks {
				want.AddPrefix(e.Prefix)
			}
		case e.Sub:
			if blocks {
				want.AddName(e.Name, true)
				if i == 0 || entries[i-1].Name != e.Name || entries[i-1].Sub { // else the exact entry owns the name
					want.AddName(e.Name, false)
				}
			}
		default:
			if blocks {
				want.AddName(e.Name, false)
			}
			// Under a blocking wildcard, the subdomains of an exact entry get a wildcard of their own.
			if i+1 < len(entries) && entries[i+1].Sub && entries[i+1].Name == e.Name {
				break
			}
			if v := p.MatchName(s, "zz-probe."+e.Name); v.Listed && p.Decide(s, v).Action.Kind.Blocks() {
				want.AddName(e.Name, true)
			}
		}
	}
	if w := want.Set(); !got.Equal(w) {
		t.Errorf("read back:\n%+v\nwant:\n%+v\nzone:\n%s", got, w, zone)
	}
}

// TestZoneResolvers: a resolver that walks up to the deepest wildcard (PowerDNS Recursor) and one that
// follows DNS wildcard rules, where a name the zone holds hides the wildcards above it (BIND), both
// decide every sample name as the policy does.
func TestZoneResolvers(t *testing.T) {
	p, s := fixture(t)
	owners := map[string][]dns.RR{}
	for _, rr := range zoneRRs(p, s) {
		owners[rr.Header().Name] = append(owners[rr.Header().Name], rr)
	}
	action := func(rrs []dns.RR) string {
		switch rr := rrs[0].(type) {
		case *dns.CNAME:
			return map[string]string{".": "nxdomain", "*.": "nodata", "rpz-drop.": "drop", "rpz-passthru.": "passthru"}[rr.Target]
		case *dns.A, *dns.AAAA:
			return "redirect"
		}
		return "?"
	}
	resolve := func(q string, dnsWildcards bool) string {
		if rrs, ok := owners[q+"."+origin]; ok {
			return action(rrs)
		}
		for a := q; strings.Contains(a, "."); {
			a = a[strings.IndexByte(a, '.')+1:]
			if rrs, ok := owners["*."+a+"."+origin]; ok {
				return action(rrs)
			}
			if _, ok := owners[a+"."+origin]; ok && dnsWildcards {
				return "" // the closest encloser has no wildcard
			}
		}
		return ""
	}
	var names []string
	for id := range s.Lists {
		set := s.Entries(id)
		for _, n := range slices.Concat(set.Names.Strings(), set.Wildcards.Strings(), []string{"evil.example", "botnet.example", "zz-own.example", "safe.zz-own.example"}) {
			names = append(names, n, "x."+n, "a.b."+n)
			for i := strings.IndexByte(n, '.'); i >= 0; i = strings.IndexByte(n, '.') {
				n = n[i+1:]
				names = append(names, n)
			}
		}
	}
	for _, q := range names {
		v := p.MatchName(s, q)
		want := ""
		if v.Listed {
			switch k := p.Decide(s, v).Action.Kind; k {
			case policy.Passthru, policy.LogOnly:
				want = "passthru"
			default:
				want = k.String()
			}
		}
		for _, dnsWildcards := range []bool{false, true} {
			got := resolve(q, dnsWildcards)
			if got != want && !(v.Allowed && got == "passthru") {
				t.Errorf("%s (DNS wildcards %v): zone gives %q, the policy %q (%+v)", q, dnsWildcards, got, want, v)
			}
		}
	}
}

// TestZoneBatches: batches of about Batch records, and Zone stops when fn returns false.
func TestZoneBatches(t *testing.T) {
	var names []string
	for i := range 5000 {
		names = append(names, fmt.Sprintf("h%d.example", i))
	}
	s := snapshot.Build([]snapshot.List{{Name: "l", Category: "c", Set: set(t, names...)}}, nil)
	p, _ := policy.New(policy.Config{Name: "p", Block: []int{0}}, policy.Catalog(s.Lists))
	total, calls := 0, 0
	Zone(p, s, origin, 60, func(rrs []dns.RR) bool {
		calls++
		total += len(rrs)
		if len(rrs) > Batch+8 || len(rrs) == 0 {
			t.Errorf("batch of %d records", len(rrs))
		}
		return true
	})
	if total != 5000 || calls != 5 {
		t.Errorf("%d records in %d batches", total, calls)
	}
	calls = 0
	Zone(p, s, origin, 60, func([]dns.RR) bool { calls++; return false })
	if calls != 1 {
		t.Errorf("%d calls after fn returned false", calls)
	}
}

// BenchmarkZone: a zone of 1M entries (600k IPv4 addresses, 100k IPv6 prefixes, 270k names and 30k
// wildcards, two records each) over two lists; reports ns and allocations per record.
func BenchmarkZone(b *testing.B) {
	var bs [2]entryset.Builder
	for i := range 600_000 {
		v := uint32(i) * 7919
		bs[i%2].AddAddr(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	for i := range 100_000 {
		bs[i%2].AddPrefix(netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i)}), 64))
	}
	for i := range 300_000 {
		bs[i%2].AddName(fmt.Sprintf("h%d.d%d.example", i, i%3000), i%10 == 0)
	}
	s := snapshot.Build([]snapshot.List{
		{Name: "a", Category: "a", Set: bs[0].Set()},
		{Name: "b", Category: "b", Set: bs[1].Set()},
	}, nil)
	p, err := policy.New(policy.Config{Name: "p", Block: []int{0, 1}}, policy.Catalog(s.Lists))
	if err != nil {
		b.Fatal(err)
	}
	records := 0
	Zone(p, s, origin, 60, func(rrs []dns.RR) bool { records += len(rrs); return true })
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		Zone(p, s, origin, 60, func([]dns.RR) bool { return true })
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(records), "ns/record")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/float64(records), "allocs/record")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(b.N)/float64(records), "B/record")
	b.ReportMetric(float64(records), "records")
}

// ZoneOf of each kind of entry, one after the other, is the whole zone: the records of one kind never
// depend on the entries of another (the IXFR journal renders only the kinds that changed).
func TestZoneOfKinds(t *testing.T) {
	p, s := fixture(t)
	var parts []dns.RR
	kinds := 0
	for _, f := range []policy.Families{{V4: true}, {V6: true}, {Names: true}} {
		n := len(parts)
		ZoneOf(p, s, f, origin, 60, func(rrs []dns.RR) bool { parts = append(parts, rrs...); return true })
		if len(parts) > n {
			kinds++
		}
	}
	if kinds != 3 {
		t.Fatalf("the fixture has records of %d kinds, want all 3", kinds)
	}
	if got, want := text(parts), text(zoneRRs(p, s)); got != want {
		t.Errorf("ZoneOf by kind:\n%s\nwant Zone:\n%s", got, want)
	}
}

// TestOmitted: the names whose owner would pass 255 octets are exactly the triggers Zone leaves out, and
// Omitted names each of them: an exact name, the wildcard of a name that fits only without "*.", and the
// wildcard repeated under a blocking wildcard. Names that fit are in the zone.
func TestOmitted(t *testing.T) {
	limit := MaxName(origin)
	if got := len("a.very.long.name.fw.rpz.example.") - len("a.very.long.name"); limit != maxOwner-got-2 {
		t.Fatalf("MaxName(%q) = %d", origin, limit)
	}
	label := func(n int) string { // a name of exactly n octets ending in .example
		var b strings.Builder
		for b.Len() < n-len(".example") {
			l := min(63, n-len(".example")-b.Len())
			if b.Len() > 0 {
				l = min(l, n-len(".example")-b.Len()-1)
				if l <= 0 {
					break
				}
				b.WriteByte('.')
			}
			b.WriteString(strings.Repeat("x", l))
		}
		return b.String() + ".example"
	}
	fits := label(limit)       // both owners fit
	noWild := label(limit + 2) // the name fits, *.name does not
	tooLong := label(limit + 3)
	// an exact name of limit+1 octets under the blocking *.bad.example: its repeated *.name does not fit
	under := strings.TrimSuffix(label(limit+1-len("bad.")), ".example") + ".bad.example"
	lists := []snapshot.List{
		{Name: "long", Category: "c", Set: set(t, fits, "*."+fits, tooLong, "*."+noWild, "*.bad.example", under)},
	}
	s := snapshot.Build(lists, nil)
	p, err := policy.New(policy.Config{Name: "fw", Block: []int{0}}, policy.Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]bool{}
	for _, rr := range zoneRRs(p, s) {
		owners[rr.Header().Name] = true
	}
	for _, o := range []string{fits + "." + origin, "*." + fits + "." + origin, noWild + "." + origin, under + "." + origin} {
		if !owners[o] {
			t.Errorf("%d-octet owner %s not in the zone", len(o), o)
		}
	}
	var got []string
	for _, e := range Omitted(p, s, origin) {
		o := e.Name
		if e.Sub {
			o = "*." + o
		}
		if owners[o+"."+origin] {
			t.Errorf("Omitted names %s, which the zone holds", o)
		}
		got = append(got, o)
	}
	slices.Sort(got)
	want := []string{"*." + noWild, "*." + under, tooLong}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Omitted = %q,\nwant %q", got, want)
	}
	for o := range owners {
		if len(o) > maxOwner {
			t.Errorf("owner of %d octets in the zone", len(o))
		}
	}
	if len(fits) != limit || len(noWild) != limit+2 || len(tooLong) != limit+3 || len(under) != limit+1 {
		t.Fatalf("fixture lengths %d %d %d %d, limit %d", len(fits), len(noWild), len(tooLong), len(under), limit)
	}
}
