package format

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
)

// addrAt returns base + off, for small offsets within one /64 (IPv6) or the IPv4 space.
func addrAt(base netip.Addr, off uint64) netip.Addr {
	u := cidr.FromAddr(base)
	lo := u.Lo + off
	if lo < u.Lo {
		u.Hi++
	}
	u.Lo = lo
	return u.Addr(base.Is4())
}

// bruteRange computes the minimal prefix cover of [base+lo, base+hi] from first principles: the prefixes
// inside the range whose parent is not inside it, where base is aligned on a block of 2^span addresses
// that holds the range. It tries every prefix of that block.
func bruteRange(base netip.Addr, span int, lo, hi uint64) []netip.Prefix {
	var out []netip.Prefix
	n := base.BitLen()
	for k := 0; k <= span; k++ { // block size 2^k
		for start := uint64(0); start < 1<<span; start += 1 << k {
			end := start + 1<<k - 1
			if start < lo || end > hi {
				continue
			}
			// the parent block (2^(k+1), aligned) must not be inside the range, unless it leaves the span
			pstart := start &^ (1<<(k+1) - 1)
			pend := pstart + 1<<(k+1) - 1
			if k < span && pstart >= lo && pend <= hi {
				continue
			}
			if k == span && (lo != 0 || hi != 1<<span-1) {
				continue
			}
			out = append(out, netip.PrefixFrom(addrAt(base, start), n-k))
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// collect returns the prefixes rangePrefixes gives, stopping it (as a failure) past 2*bits prefixes, so
// that a broken loop fails instead of running on.
func collect(lo, hi netip.Addr) (out []netip.Prefix, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			out, ok = nil, false
		}
	}()
	ok = rangePrefixes(lo, hi, func(p netip.Prefix) {
		if len(out) >= 2*lo.BitLen() {
			panic("too many prefixes")
		}
		out = append(out, p)
	})
	return out, ok
}

func TestRangePrefixesBrute(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bases := []netip.Addr{
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("255.255.255.0"),
		netip.MustParseAddr("192.168.1.0"), netip.MustParseAddr("::"), netip.MustParseAddr("2001:db8::"),
		netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00"), netip.MustParseAddr("::ffff:10.0.0.0"),
	}
	const span = 8 // ranges within an aligned block of 256 addresses
	for i := 0; i < 20000; i++ {
		base := bases[r.IntN(len(bases))]
		lo := r.Uint64N(1 << span)
		hi := lo + r.Uint64N(1<<span-lo)
		if i%10 == 0 {
			hi = lo // a-a
		}
		got, ok := collect(addrAt(base, lo), addrAt(base, hi))
		want := bruteRange(base, span, lo, hi)
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("%s-%s: got %v %v, want %v", addrAt(base, lo), addrAt(base, hi), got, ok, want)
		}
		// Exact cover, checked address by address.
		covered := 0
		for off := uint64(0); off < 1<<span; off++ {
			a := addrAt(base, off)
			in := 0
			for _, p := range got {
				if p.Contains(a) {
					in++
				}
			}
			if inRange := off >= lo && off <= hi; in != 0 != inRange || in > 1 {
				t.Fatalf("%s-%s: %s is covered %d times", addrAt(base, lo), addrAt(base, hi), a, in)
			}
			covered += in
		}
		if covered != int(hi-lo+1) {
			t.Fatalf("covered %d addresses, want %d", covered, hi-lo+1)
		}
	}
}

func TestRangePrefixesEdges(t *testing.T) {
	mp := netip.MustParseAddr
	for _, tt := range []struct {
		lo, hi string
		want   []string
	}{
		{"1.2.3.4", "1.2.3.4", []string{"1.2.3.4/32"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"0.0.0.0", "255.255.255.254", nil}, // 32 prefixes, checked by count below
		{"0.0.0.1", "255.255.255.255", nil},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"::1", "::1", []string{"::1/128"}},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"}},
		{"255.255.255.255", "255.255.255.255", []string{"255.255.255.255/32"}},
		{"10.0.0.0", "10.255.255.255", []string{"10.0.0.0/8"}},
		{"2001:db8::", "2001:db8:0:0:ffff:ffff:ffff:ffff", []string{"2001:db8::/64"}},
		{"0:0:0:1::", "0:0:0:1:ffff:ffff:ffff:fffe", nil},
	} {
		got, ok := collect(mp(tt.lo), mp(tt.hi))
		if !ok {
			t.Fatalf("%s-%s refused", tt.lo, tt.hi)
		}
		if tt.want != nil {
			var gs []string
			for _, p := range got {
				gs = append(gs, p.String())
			}
			if !slices.Equal(gs, tt.want) {
				t.Errorf("%s-%s = %v, want %v", tt.lo, tt.hi, gs, tt.want)
			}
		}
	}
	// Ranges that end or start one address off a boundary take one prefix per bit.
	for _, tt := range []struct {
		lo, hi string
		n      int
	}{
		{"0.0.0.0", "255.255.255.254", 32}, {"0.0.0.1", "255.255.255.255", 32},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 128}, {"::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128},
		{"0.0.0.1", "255.255.255.254", 62}, {"::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 254},
	} {
		got, ok := collect(mp(tt.lo), mp(tt.hi))
		if !ok || len(got) != tt.n {
			t.Errorf("%s-%s: %d prefixes, want %d", tt.lo, tt.hi, len(got), tt.n)
		}
		// Ascending and contiguous: each prefix starts right after the previous one ends.
		for i := 1; i < len(got); i++ {
			if lastAddr(got[i-1]).Next() != got[i].Addr() {
				t.Fatalf("%s-%s: %s does not follow %s", tt.lo, tt.hi, got[i], got[i-1])
			}
		}
		if got[0].Addr() != mp(tt.lo) || lastAddr(got[len(got)-1]) != mp(tt.hi) {
			t.Errorf("%s-%s: cover runs from %s to %s", tt.lo, tt.hi, got[0].Addr(), lastAddr(got[len(got)-1]))
		}
	}
	// Invalid ranges: reversed, mixed families, zones, invalid addresses.
	for _, tt := range [][2]netip.Addr{
		{mp("10.0.0.2"), mp("10.0.0.1")},
		{mp("::2"), mp("::1")},
		{mp("255.255.255.255"), mp("0.0.0.0")},
		{mp("10.0.0.1"), mp("::ffff:10.0.0.2")},
		{mp("fe80::1%eth0"), mp("fe80::2")},
		{mp("fe80::1"), mp("fe80::2%eth0")},
		{{}, mp("1.2.3.4")},
		{mp("1.2.3.4"), {}},
	} {
		called := false
		if rangePrefixes(tt[0], tt[1], func(netip.Prefix) { called = true }) || called {
			t.Errorf("%v-%v accepted", tt[0], tt[1])
		}
	}
}

func TestLastAddr(t *testing.T) {
	for p, want := range map[string]string{
		"10.0.0.0/8": "10.255.255.255", "1.2.3.4/32": "1.2.3.4", "0.0.0.0/0": "255.255.255.255",
		"2001:db8::/32": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "::/0": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	} {
		if got := lastAddr(netip.MustParsePrefix(p)).String(); got != want {
			t.Errorf("lastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}
