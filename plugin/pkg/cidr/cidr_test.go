package cidr

import (
	"net/netip"
	"slices"
	"testing"
)

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		lo, hi string
		want   []string
	}{
		{"192.0.2.0", "192.0.2.255", []string{"192.0.2.0/24"}},
		{"192.0.2.1", "192.0.2.6", []string{"192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"2001:db8::", "2001:db8::1:0", []string{"2001:db8::/112", "2001:db8::1:0/128"}},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
	} {
		var got []string
		if !Range(netip.MustParseAddr(tc.lo), netip.MustParseAddr(tc.hi), func(p netip.Prefix) bool { got = append(got, p.String()); return true }) {
			t.Fatalf("Range(%s, %s) refused", tc.lo, tc.hi)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Range(%s, %s) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
	for _, bad := range [][2]string{{"192.0.2.9", "192.0.2.1"}, {"192.0.2.1", "2001:db8::1"}} {
		if Range(netip.MustParseAddr(bad[0]), netip.MustParseAddr(bad[1]), func(netip.Prefix) bool { t.Fatal("called"); return true }) {
			t.Errorf("Range(%s, %s) accepted", bad[0], bad[1])
		}
	}
	n := 0
	Range(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.6"), func(netip.Prefix) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Range went on after fn returned false: %d calls", n)
	}
}

func TestLastAndArithmetic(t *testing.T) {
	if got := Last(netip.MustParsePrefix("198.51.100.77/24")); got != netip.MustParseAddr("198.51.100.255") {
		t.Errorf("Last = %s", got)
	}
	if got := Last(netip.MustParsePrefix("2001:db8::/32")); got != netip.MustParseAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff") {
		t.Errorf("Last = %s", got)
	}
	max := U128{^uint64(0), ^uint64(0)}
	if max.Inc() != (U128{}) || (U128{}).Dec() != max || (U128{0, ^uint64(0)}).Inc() != (U128{1, 0}) || (U128{1, 0}).Dec() != (U128{0, ^uint64(0)}) {
		t.Error("Inc/Dec carry")
	}
	if c := FromAddr(netip.MustParseAddr("10.0.0.0")).CommonBits(FromAddr(netip.MustParseAddr("10.0.0.128"))); c != 96+24 { // IPv4 sits in the low 32 bits
		t.Errorf("CommonBits = %d", c)
	}
}
