package blocklist

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

func content(t *testing.T, spec string) zone.Content {
	t.Helper()
	var c zone.Content
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, a, _ := strings.Cut(f, " ")
		act, err := zone.ParseAction(a)
		if err != nil {
			t.Fatal(err)
		}
		c.IP = append(c.IP, zone.IPTrigger{Prefix: netip.MustParsePrefix(p), Action: act})
	}
	return c
}

func str(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    string
		max     int
		prio    string
		want    string
		leftOut string
	}{
		{name: "merge and allow",
			spec: "192.0.2.0/25 nxdomain, 192.0.2.128/25 drop, 192.0.2.1/32 passthru, 2001:db8::/32 nxdomain",
			want: "192.0.2.0/32 192.0.2.2/31 192.0.2.4/30 192.0.2.8/29 192.0.2.16/28 192.0.2.32/27 192.0.2.64/26 192.0.2.128/25 2001:db8::/32"},
		{name: "tcp-only blocks nothing",
			spec: "192.0.2.0/24 tcp-only, 198.51.100.0/24 redirect", want: "198.51.100.0/24"},
		{name: "capacity keeps drop first",
			spec: "10.1.0.0/16 nxdomain, 10.2.0.0/16 nxdomain, 10.3.0.0/24 drop, 10.4.0.0/24 drop",
			max:  3, want: "10.1.0.0/16 10.3.0.0/24 10.4.0.0/24", leftOut: "10.2.0.0/16 nxdomain"},
		{name: "capacity: broader prefixes of an action first",
			spec: "10.9.9.9/32 nxdomain, 10.1.0.0/16 nxdomain, 10.8.0.0/24 nxdomain",
			max:  2, want: "10.1.0.0/16 10.8.0.0/24", leftOut: "10.9.9.9/32 nxdomain"},
		{name: "capacity counts the pieces an allow cuts",
			spec: "10.0.0.0/24 drop, 10.0.0.1/32 passthru, 10.5.0.0/16 nxdomain",
			max:  8, want: "10.0.0.0/32 10.0.0.2/31 10.0.0.4/30 10.0.0.8/29 10.0.0.16/28 10.0.0.32/27 10.0.0.64/26 10.0.0.128/25",
			leftOut: "10.5.0.0/16 nxdomain"},
		{name: "priority order from the flag",
			spec: "10.1.0.0/16 nxdomain, 10.2.0.0/16 drop", max: 1, prio: "nxdomain,drop",
			want: "10.1.0.0/16", leftOut: "10.2.0.0/16 drop"},
		{name: "nothing fits",
			spec: "10.1.0.0/16 drop", max: 0, want: "10.1.0.0/16"}, // 0: no limit
		{name: "capacity: host bits across families",
			spec: "10.9.9.9/32 nxdomain, 2001:db8::/48 nxdomain, 10.1.0.0/24 nxdomain, 2001:db8:1::1/128 nxdomain",
			max:  2, want: "10.1.0.0/24 2001:db8::/48", leftOut: "10.9.9.9/32 nxdomain, 2001:db8:1::1/128 nxdomain"},
		{name: "merged neighbours take one entry",
			spec: "10.0.0.0/25 nxdomain, 10.0.0.128/25 nxdomain, 10.1.0.0/24 nxdomain", max: 2,
			want: "10.0.0.0/24 10.1.0.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{MaxEntries: tc.max}
			if tc.prio != "" {
				p, err := ParsePriority(tc.prio)
				if err != nil {
					t.Fatal(err)
				}
				o.Priority = p
			}
			l := Build(content(t, tc.spec), o)
			if got := str(l.Prefixes()); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if l.Entries != len(l.Prefixes()) || (tc.max > 0 && l.Entries > tc.max) {
				t.Errorf("entries %d, prefixes %d, max %d", l.Entries, len(l.Prefixes()), tc.max)
			}
			var lo []string
			for _, x := range l.LeftOut {
				lo = append(lo, x.Prefix.String()+" "+x.Action.String())
			}
			if got := strings.Join(lo, ", "); got != tc.leftOut {
				t.Errorf("left out %q, want %q", got, tc.leftOut)
			}
			n := 0
			for _, v := range l.LeftOutBy {
				n += v
			}
			if n != len(l.LeftOut) {
				t.Errorf("LeftOutBy %v, LeftOut %d", l.LeftOutBy, len(l.LeftOut))
			}
		})
	}
}

func TestParsePriority(t *testing.T) {
	for _, bad := range []string{"passthru", "drop,drop", "nope", ""} {
		if _, err := ParsePriority(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCapacityLarge: 20,000 /32 triggers of two actions under a limit of 15,000: exactly 15,000 entries,
// every drop trigger kept.
func TestCapacityLarge(t *testing.T) {
	var c zone.Content
	for i := range 20000 {
		a := zone.NXDomain
		if i%4 == 0 {
			a = zone.Drop
		}
		addr := netip.AddrFrom4([4]byte{20, byte(i >> 8), byte(i), 1})
		c.IP = append(c.IP, zone.IPTrigger{Prefix: netip.PrefixFrom(addr, 32), Action: a})
	}
	l := Build(c, Options{MaxEntries: 15000})
	if l.Entries != 15000 || len(l.LeftOut) != 5000 || l.LeftOutBy[zone.Drop] != 0 || l.LeftOutBy[zone.NXDomain] != 5000 {
		t.Fatalf("entries %d, left out %d %v", l.Entries, len(l.LeftOut), l.LeftOutBy)
	}
	for _, x := range c.IP {
		if x.Action == zone.Drop && !l.V4.Contains(x.Prefix.Addr()) {
			t.Fatalf("drop trigger %s left out", x.Prefix)
		}
	}
}
