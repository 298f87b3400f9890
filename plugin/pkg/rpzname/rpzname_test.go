package rpzname

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for an error
	}{
		{"24.0.2.0.192", "192.0.2.0/24"},
		{"32.1.0.19.1", "1.19.0.1/32"},
		{"20.0.16.10.1", "1.10.16.0/20"},
		{"8.0.0.0.10", "10.0.0.0/8"},
		{"1.0.0.0.0", "0.0.0.0/1"},
		{"1.0.0.0.128", "128.0.0.0/1"},
		{"128.1.zz.db8.2001", "2001:db8::1/128"},
		{"32.zz.e480.2a06", "2a06:e480::/32"},
		{"128.1.zz.4001.1450.2a00", "2a00:1450:4001::1/128"},
		{"128.9001.zz.908.1.470.2001", "2001:470:1:908::9001/128"},
		{"64.zz.1.db8.2001", "2001:db8:1::/64"},
		{"48.zz.DB8.2001", "2001:db8::/48"},  // upper case
		{"48.ZZ.db8.2001", "2001:db8::/48"},  // upper case zz
		{"48.zz.0db8.2001", "2001:db8::/48"}, // a leading zero in a group
		{"128.8.7.6.5.4.3.2.1", "1:2:3:4:5:6:7:8/128"},
		{"128.8.zz.6.5.4.3.2.1", "1:2:3:4:5:6:0:8/128"}, // zz for one group
		{"128.1.0.0.1.zz.db8.2001", "2001:db8::1:0:0:1/128"},
		{"128.1.zz.1.0.0.db8.2001", "2001:db8:0:0:1::1/128"}, // not the canonical zz: accepted
		{"64.0.0.0.0.0.0.db8.2001", "2001:db8::/64"},         // no zz at all
		{"128.zz", "::/128"},
		{"128.1.zz", "::1/128"},
		{"16.zz.2001", "2001::/16"},
		{"1.zz", "::/1"},
		{"1.zz.8000", "8000::/1"},
		{"96.zz.ffff.0.0.0.0.0", "0:0:0:0:0:ffff::/96"},
		// errors
		{"24.1.2.0.192", ""},           // host bits
		{"24.5.2.0.192", ""},           // host bits
		{"31.1.0.0.10", ""},            // host bits, the last one
		{"48.1.zz.db8.2001", ""},       // host bits, IPv6
		{"1.zz.1", ""},                 // host bits, IPv6, the last one
		{"24.0.2.0", ""},               // three octets
		{"24.0.2.0.256", ""},           // octet range
		{"24.0.2.0.1000", ""},          // octet too long
		{"33.0.2.0.192", ""},           // length over 32
		{"0.0.0.0.0", ""},              // /0 has no trigger
		{"0.zz", ""},                   // nor has ::/0
		{"024.0.2.0.192", ""},          // leading zero length
		{"24.0.2.00.192", ""},          // leading zero octet
		{"24.0.2.-0.192", ""},          // sign
		{"x.0.2.0.192", ""},            // length not a number
		{"+24.0.2.0.192", ""},          // sign
		{"1000.zz", ""},                // length too long
		{"128.1.zz.zz.2001", ""},       // zz twice
		{"128.1.2.3.4.5.6.7", ""},      // seven groups
		{"128.1.2.3.4.5.6.7.8.9", ""},  // nine
		{"128.zz.1.2.3.4.5.6.7.8", ""}, // zz and eight groups
		{"128.12345.zz", ""},           // group too long
		{"128.g.zz", ""},               // not hex
		{"128..zz", ""},                // empty label
		{"24.0.2.0.192.", ""},          // empty last label
		{"129.1.zz", ""},               // length over 128
		{"24.z.2.0.192", ""},
		{"24", ""},
		{"24.", ""},
		{"", ""},
		{".", ""},
	} {
		p, err := Decode(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: got %s, want an error", tc.in, p)
		case tc.want != "" && err != nil:
			t.Errorf("%q: %v, want %s", tc.in, err, tc.want)
		case tc.want != "" && p != netip.MustParsePrefix(tc.want):
			t.Errorf("%q: got %s, want %s", tc.in, p, tc.want)
		case err != nil && !strings.Contains(err.Error(), `"`+tc.in+`"`):
			t.Errorf("%q: error %q does not name the labels", tc.in, err)
		}
	}
}

func TestDecodeHostBitsError(t *testing.T) {
	_, err := Decode("24.1.2.0.192")
	if !errors.Is(err, ErrHostBits) {
		t.Fatalf("got %v, want ErrHostBits", err)
	}
	if _, err := Decode("33.0.2.0.192"); errors.Is(err, ErrHostBits) {
		t.Fatalf("a bad length reads as host bits: %v", err)
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"0.0.0.0/0", "0.0.0.0.0"},
		{"128.0.0.0/1", "1.0.0.0.128"},
		{"10.0.0.0/8", "8.0.0.0.10"},
		{"192.0.2.0/24", "24.0.2.0.192"},
		{"192.0.2.128/25", "25.128.2.0.192"},
		{"198.51.100.7/32", "32.7.100.51.198"},
		{"192.0.2.255/24", "24.0.2.0.192"}, // host bits cleared
		{"2001:db8::1/128", "128.1.zz.db8.2001"},
		{"2001:db8::1/32", "32.zz.db8.2001"}, // host bits cleared
		{"::1/128", "128.1.zz"},
		{"::/128", "128.zz"},
		{"::/0", "0.zz"},
		{"2001:db8:0:0:1:0:0:1/128", "128.1.0.0.1.zz.db8.2001"},  // equal runs: the first
		{"2001:0:0:1:0:0:0:1/128", "128.1.zz.1.0.0.2001"},        // the longer run, though later
		{"2001:db8:0:1:2:3:4:5/128", "128.5.4.3.2.1.0.db8.2001"}, // a single zero group stays
		{"2001:DB8:ABCD:12::/64", "64.zz.12.abcd.db8.2001"},      // lower case, no leading zeros
		{"1:0:0:2:3:4:0:0/128", "128.0.0.4.3.2.zz.1"},            // equal runs, the first
		{"1:2:3:4:5:6:7:0/128", "128.0.7.6.5.4.3.2.1"},           // a trailing single zero
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "128.ffff.ffff.ffff.ffff.ffff.ffff.ffff.ffff"},
		// threatstop-sync's former FormatIPTrigger cases
		{"2001:db8:0:1:0:0:0:1/128", "128.1.zz.1.0.db8.2001"},
		{"1:0:0:2:0:0:0:3/128", "128.3.zz.2.0.0.1"},    // the longer run
		{"1:0:0:2:0:0:3:4/128", "128.4.3.0.0.2.zz.1"},  // equal runs: the first
		{"1:2:3:4:5:6:0:8/128", "128.8.0.6.5.4.3.2.1"}, // one zero group: no zz
	} {
		if got := Encode(netip.MustParsePrefix(tc.prefix)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.prefix, got, tc.want)
		}
	}
}

// Every length of an IPv4 and an IPv6 address makes the round trip.
func TestRoundTripEveryLength(t *testing.T) {
	for _, s := range []string{"203.0.113.77", "2001:db8:0:0:1:0:0:1", "ffff:0:0:0:0:0:0:ffff"} {
		a := netip.MustParseAddr(s)
		for bits := 1; bits <= a.BitLen(); bits++ {
			p := netip.PrefixFrom(a, bits).Masked()
			if got, err := Decode(Encode(p)); err != nil || got != p {
				t.Errorf("%s: %s reads back as %s, %v", p, Encode(p), got, err)
			}
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"24.0.2.0.192", "128.1.zz.db8.2001", "128.8.7.6.5.4.3.2.1"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Decode(s) }); n != 0 {
			t.Errorf("%s: %v allocations", s, n)
		}
	}
}

// FuzzDecode: Decode never panics; what it accepts is a valid masked prefix of length 1 or more whose
// canonical form decodes to the same prefix. FuzzEncode covers the other direction.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"24.0.2.0.192", "128.1.zz.db8.2001", "32.zz.e480.2a06", "128.zz", "1.2.3",
		"128.8.7.6.5.4.3.2.1", "24.1.2.0.192", "48.ZZ.0db8.2001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Decode(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Bits() < 1 {
			t.Fatalf("%q: accepted %v", s, p)
		}
		canon := Encode(p)
		if q, err := Decode(canon); err != nil || q != p {
			t.Fatalf("%q -> %s -> %q -> %v, %v", s, p, canon, q, err)
		}
	})
}

// FuzzEncode: Decode(Encode(p)) == p for every valid masked prefix of length 1 or more.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{192, 0, 2, 0}, 24)
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}, 128)
	f.Fuzz(func(t *testing.T, b []byte, bits int) {
		a, ok := netip.AddrFromSlice(b)
		if !ok || bits < 1 || bits > a.BitLen() {
			return
		}
		p := netip.PrefixFrom(a, bits).Masked()
		if q, err := Decode(Encode(p)); err != nil || q != p {
			t.Fatalf("%s -> %q -> %v, %v", p, Encode(p), q, err)
		}
	})
}
