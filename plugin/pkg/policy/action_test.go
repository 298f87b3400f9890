package policy

import (
	"net/netip"
	"slices"
	"testing"
)

func TestParseAction(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want ActionKind
		err  bool
	}{
		{[]string{"nxdomain"}, NXDomain, false},
		{[]string{"nodata"}, NoData, false},
		{[]string{"drop"}, Drop, false},
		{[]string{"passthru"}, Passthru, false},
		{[]string{"log-only"}, LogOnly, false},
		{[]string{"redirect", "192.0.2.80", "2001:db8::80"}, Redirect, false},
		{[]string{"redirect"}, 0, true},
		{[]string{"redirect", "blockpage.example"}, 0, true},
		{[]string{"redirect", "fe80::1%eth0"}, 0, true},
		{[]string{"nxdomain", "extra"}, 0, true},
		{[]string{"block"}, 0, true},
		{nil, 0, true},
	} {
		a, err := ParseAction(tc.args)
		if (err != nil) != tc.err || (err == nil && a.Kind != tc.want) {
			t.Errorf("ParseAction(%q) = %v, %v; want %v, error %v", tc.args, a.Kind, err, tc.want, tc.err)
		}
	}
	a, _ := ParseAction([]string{"redirect", "::ffff:192.0.2.80", "2001:db8::80"})
	if want := []netip.Addr{netip.MustParseAddr("192.0.2.80"), netip.MustParseAddr("2001:db8::80")}; !slices.Equal(a.Redirect, want) {
		t.Errorf("redirect addresses %v, want %v (mapped IPv4 unmapped)", a.Redirect, want)
	}
}

func TestDecide(t *testing.T) {
	s, cat := fixture(t)
	redirect, _ := ParseAction([]string{"redirect", "192.0.2.80"})
	p, err := New(Config{
		Name:    "fw",
		Block:   []int{0, 1, 2},
		Allow:   []int{3},
		Blocked: []string{"evil.example", "198.51.100.7"},
		Actions: map[string]Action{"default": {Kind: NoData}, "botnet": redirect, "tor": {Kind: LogOnly}, CustomList: {Kind: Drop}},
	}, cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, name       string
		kind             ActionKind
		list, entry, cat string
	}{
		{addr: "198.51.100.1", kind: NoData, list: "drop", cat: "spam", entry: "198.51.100.0/24"},          // default action
		{addr: "198.51.100.7", kind: Drop, list: "custom", cat: "custom", entry: "198.51.100.7/32"},        // own entry, most severe
		{addr: "203.0.113.9", kind: LogOnly, list: "tor", cat: "tor", entry: "203.0.113.9/32"},             // per category
		{addr: "2001:db8::1", kind: NoData, list: "drop", cat: "spam", entry: "2001:db8::/32"},             // IPv6 prefix
		{name: "c2.example", kind: Redirect, list: "c2", cat: "botnet", entry: "c2.example"},               // exact name
		{name: "a.b.botnet.example", kind: Redirect, list: "c2", cat: "botnet", entry: "*.botnet.example"}, // below a wildcard
		{name: "evil.example", kind: Drop, list: "custom", cat: "custom", entry: "evil.example"},
	} {
		var v Verdict
		if tc.addr != "" {
			v = p.MatchAddr(s, netip.MustParseAddr(tc.addr))
		} else {
			v = p.MatchName(s, tc.name)
		}
		if !v.Listed {
			t.Errorf("%s%s: not listed", tc.addr, tc.name)
			continue
		}
		h := p.Decide(s, v)
		entry := ""
		if tc.addr != "" {
			entry = p.EntryAddr(s, h, netip.MustParseAddr(tc.addr))
		} else {
			entry = p.EntryName(s, h, tc.name)
		}
		if h.Action.Kind != tc.kind || h.List != tc.list || h.Category != tc.cat || entry != tc.entry {
			t.Errorf("%s%s: %v list=%s category=%s entry=%s; want %v list=%s category=%s entry=%s",
				tc.addr, tc.name, h.Action.Kind, h.List, h.Category, entry, tc.kind, tc.list, tc.cat, tc.entry)
		}
	}
	// Allow wins over every action, and the firewall has no RFC 5782 test points.
	if v := p.MatchName(s, "x.cdn.botnet.example"); v.Listed || !v.Allowed {
		t.Errorf("allowed name: %+v", v)
	}
	if v := p.MatchAddr(s, netip.MustParseAddr("127.0.0.2")); v.Listed {
		t.Error("127.0.0.2 is a DNSBL test point, not an address the firewall blocks")
	}
	if v := p.MatchName(s, "test"); v.Listed {
		t.Error("test is a DNSBL test point, not a name the firewall blocks")
	}
}

// The most severe action wins when lists of several categories hold an entry.
func TestDecideSeverity(t *testing.T) {
	s, cat := fixture(t)
	for _, tc := range []struct {
		spam, botnet ActionKind
		want         ActionKind
		list         string
	}{
		{Passthru, NXDomain, NXDomain, "c2"},
		{Drop, NXDomain, Drop, "drop"},
		{LogOnly, Passthru, LogOnly, "drop"},
		{NoData, NoData, NoData, "drop"}, // tie: the lowest list ID
	} {
		p, err := New(Config{Name: "x", Block: []int{0, 1}, Actions: map[string]Action{"spam": {Kind: tc.spam}, "botnet": {Kind: tc.botnet}}}, cat)
		if err != nil {
			t.Fatal(err)
		}
		h := p.Decide(s, p.MatchAddr(s, netip.MustParseAddr("198.51.100.7"))) // in drop's /24 and c2's /32
		if h.Action.Kind != tc.want || h.List != tc.list {
			t.Errorf("spam=%v botnet=%v: %v from %s, want %v from %s", tc.spam, tc.botnet, h.Action.Kind, h.List, tc.want, tc.list)
		}
	}
}
