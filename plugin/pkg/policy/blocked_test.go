package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

func blockedOf(p *Policy, s *snapshot.Snapshot) []netip.Prefix {
	var out []netip.Prefix
	p.Blocked(s, func(q netip.Prefix) bool { out = append(out, q); return true })
	return out
}

func TestBlockedFixture(t *testing.T) {
	p, s := contentFixture(t)
	var got []string
	for _, q := range blockedOf(p, s) {
		got = append(got, q.String())
	}
	// 198.51.100.0/24 without the allowed .1 and .200; 10.0.0.0/8 without the allowed 10.1.0.0/16 (allow
	// wins over the phish 10.1.5.0/24 inside it); 192.0.2.0/28 is inside the allowed 192.0.2.0/24;
	// 203.0.113.0/24 absorbs the tor 203.0.113.9; 2001:db8::/32 without the allowed ::1 and
	// 2001:db8:1::/48 (with the phish /64 inside it).
	want := []string{
		"10.0.0.0/16", "10.2.0.0/15", "10.4.0.0/14", "10.8.0.0/13", "10.16.0.0/12", "10.32.0.0/11",
		"10.64.0.0/10", "10.128.0.0/9",
		"198.51.100.0/32", "198.51.100.2/31", "198.51.100.4/30", "198.51.100.8/29", "198.51.100.16/28",
		"198.51.100.32/27", "198.51.100.64/26", "198.51.100.128/26", "198.51.100.192/29", "198.51.100.201/32",
		"198.51.100.202/31", "198.51.100.204/30", "198.51.100.208/28", "198.51.100.224/27",
		"203.0.113.0/24",
		"2001:db8::/128",
	}
	// The IPv6 remainder of 2001:db8::/32 after ::1 and 2001:db8:1::/48 is long; check its ends only.
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("Blocked:\n got %v\nwant prefix %v", got, want)
	}
	if !slices.Contains(got, "2001:db8::2/127") || !slices.Contains(got, "2001:db8:8000::/33") || len(got) != len(want)+94 {
		t.Errorf("Blocked: the rest of 2001:db8::/32 is not the 94 prefixes (/127 to /49, /47 to /33) around ::1 and 2001:db8:1::/48: %v", got[len(want):])
	}
	if slices.Contains(got, "2001:db8:1:2::/64") || slices.Contains(got, "10.1.5.0/24") || slices.Contains(got, "192.0.2.0/28") {
		t.Errorf("Blocked holds an allowed prefix: %v", got)
	}
}

// TestBlockedRandom checks Blocked against the policy's own decision for every address of a small space,
// and that its prefixes are ordered, disjoint and minimal (no two that merge into one).
func TestBlockedRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	entry := func() string {
		if r.IntN(3) > 0 {
			return fmt.Sprintf("10.0.%d.%d/%d", r.IntN(16), r.IntN(256), 20+r.IntN(13))
		}
		return fmt.Sprintf("2001:db8::%x/%d", r.IntN(256), 120+r.IntN(9))
	}
	var all []netip.Addr
	for a := netip.MustParseAddr("10.0.0.0"); a.Less(netip.MustParseAddr("10.0.16.0")); a = a.Next() {
		all = append(all, a)
	}
	for a := netip.MustParseAddr("2001:db8::"); a.Less(netip.MustParseAddr("2001:db8::100")); a = a.Next() {
		all = append(all, a)
	}
	kinds := []string{"nxdomain", "nodata", "drop", "passthru", "log-only", "redirect"}
	for round := range 300 {
		p, s, cfg := randomPolicy(t, r, entry, kinds, func() int { return r.IntN(3) / 2 }) // two in three block
		got := blockedOf(p, s)
		for i := 1; i < len(got); i++ {
			a, b := got[i-1], got[i]
			if a.Addr().Is4() == b.Addr().Is4() && !lastOf(a).Less(b.Addr()) {
				t.Fatalf("round %d: %v and %v overlap or are out of order", round, a, b)
			}
			if a.Bits() == b.Bits() && a.Bits() > 0 && a.Addr().Is4() == b.Addr().Is4() {
				if pa, _ := a.Addr().Prefix(a.Bits() - 1); pa.Addr() == a.Addr() && pa.Contains(b.Addr()) {
					t.Fatalf("round %d: %v and %v merge into %v", round, a, b, pa)
				}
			}
		}
		for _, a := range all {
			v := p.MatchAddr(s, a)
			want := v.Listed && p.Decide(s, v).Action.Kind.Blocks()
			in := slices.ContainsFunc(got, func(q netip.Prefix) bool { return q.Contains(a) })
			if in != want {
				t.Fatalf("round %d: %s blocked by the policy %v, in Blocked %v\nconfig %+v\nBlocked %v\ncontent %v",
					round, a, want, in, cfg, got, contentOf(p, s))
			}
		}
	}
}

func lastOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	for range (1 << min(a.BitLen()-p.Bits(), 20)) - 1 {
		a = a.Next()
	}
	return a
}

func TestBlockedStops(t *testing.T) {
	p, s := contentFixture(t)
	n := 0
	p.Blocked(s, func(netip.Prefix) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("Blocked went on after fn returned false: %d calls", n)
	}
}
