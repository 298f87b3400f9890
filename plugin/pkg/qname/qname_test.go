package qname_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
	"github.com/threatstop/threatstop/plugin/pkg/qname"
)

// reverse4 writes a as a DNSxL IPv4 query name: "d.c.b.a".
func reverse4(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("%d.%d.%d.%d", b[3], b[2], b[1], b[0])
}

// reverse6 writes a as 32 lowercase nibble labels, least significant first.
func reverse6(a netip.Addr) string {
	b := a.As16()
	var s strings.Builder
	for i := 15; i >= 0; i-- {
		if i != 15 {
			s.WriteByte('.')
		}
		fmt.Fprintf(&s, "%x.%x", b[i]&0xf, b[i]>>4)
	}
	return s.String()
}

func TestReverseHelpers(t *testing.T) {
	if got := reverse4(netip.MustParseAddr("1.2.3.4")); got != "4.3.2.1" {
		t.Fatalf("reverse4 = %q", got)
	}
	// RFC 5782 §2.4's example.
	want := "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
	if got := reverse6(netip.MustParseAddr("2001:db8::567:89ab")); got != want {
		t.Fatalf("reverse6 = %q, want %q", got, want)
	}
}

// v6rfc is the query name of 2001:db8::567:89ab from RFC 5782 §2.4.
const v6rfc = "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"

func TestDecode(t *testing.T) {
	addr := func(s string) qname.Query { return qname.Query{Kind: qname.Addr, Addr: netip.MustParseAddr(s)} }
	name := func(s string) qname.Query { return qname.Query{Kind: qname.Name, Name: s} }
	invalid := qname.Query{}

	zeros32 := strings.Repeat("0.", 31) + "0"
	tests := []struct {
		in   string
		want qname.Query
	}{
		// IPv4, reversed.
		{"4.3.2.1", addr("1.2.3.4")},
		{"2.0.0.127", addr("127.0.0.2")},
		{"1.2.0.192", addr("192.0.2.1")},
		{"0.0.0.0", addr("0.0.0.0")},
		{"255.255.255.255", addr("255.255.255.255")},
		{"0.255.10.100", addr("100.10.255.0")},
		{"9.99.199.249", addr("249.199.99.9")},
		{"256.0.0.1", invalid},
		{"1.2.3.256", invalid},
		{"1.2.3.999", invalid},
		{"1.2.3.1000", invalid},
		{"1.2.3.0255", invalid},
		{"01.2.3.4", invalid},
		{"1.2.3.04", invalid},
		{"1.02.3.4", invalid},
		{"00.0.0.0", invalid},
		{"1.2.3.00", invalid},
		{"1..3.4", invalid},
		{".2.3.4", invalid},
		{"1.2.3.", invalid},
		{"1.2.3.4.", invalid},
		{"1.2.3", invalid},     // three labels are no address, and an all-numeric last label is no name
		{"1.2.3.4.5", invalid}, // five labels likewise
		{"1", invalid},
		{"1.2", invalid},
		{"-1.2.3.4", invalid},
		{"1.2.3.+4", invalid},
		{" 1.2.3.4", invalid},
		{"1.2.3.4 ", invalid},
		// A non-numeric last label makes a name, even with numeric labels in front.
		{"4.3.2.1.example.com", name("4.3.2.1.example.com")},
		{"1.2.3.x", name("1.2.3.x")},
		{"1.2.3.4a", name("1.2.3.4a")},

		// IPv6: 32 reversed nibbles.
		{v6rfc, addr("2001:db8::567:89ab")},
		{strings.ToUpper(v6rfc), addr("2001:db8::567:89ab")},
		{"B.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.D.0.1.0.0.2", addr("2001:db8::567:89ab")},
		{zeros32, addr("::")},
		{"1." + strings.Repeat("0.", 30) + "0", addr("::1")},
		{strings.Repeat("f.", 31) + "f", addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
		{strings.Repeat("F.", 31) + "F", addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
		{"0.1.2.3.4.5.6.7.8.9.a.b.c.d.e.f.0.1.2.3.4.5.6.7.8.9.a.b.c.d.e.f", addr("fedc:ba98:7654:3210:fedc:ba98:7654:3210")},
		// The IPv4-mapped form decodes to the 16-byte address as written.
		{"4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", addr("::ffff:1.2.3.4")},
		// 31 and 33 nibbles are no address; with a numeric last label they are no name either.
		{strings.Repeat("0.", 30) + "0", invalid},
		{strings.Repeat("0.", 32) + "0", invalid},
		{v6rfc[2:], invalid},    // 31 nibbles ending in "2"
		{"0." + v6rfc, invalid}, // 33 nibbles ending in "2"
		{v6rfc + ".", invalid},  // trailing dot
		{"." + v6rfc[1:], invalid},
		// A non-hex nibble: no address; the name check decides.
		{"g" + v6rfc[1:], invalid}, // last label "2" is numeric
		{"b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.x", name("b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.x")},
		{"g." + strings.Repeat("0.", 30) + "a", name("g." + strings.Repeat("0.", 30) + "a")},
		// 31 nibbles ending in a hex letter are a (valid) name, not an address.
		{strings.Repeat("0.", 30) + "a", name(strings.Repeat("0.", 30) + "a")},
		// Two-character labels, or a missing separator, at IPv6 length.
		{"ba." + v6rfc[4:] + "0", invalid},
		{v6rfc[:61] + "-2", name(v6rfc[:61] + "-2")}, // "...0.0-2": a name whose last label is "0-2"

		// Names.
		{"example.com", name("example.com")},
		{"Example.COM", name("example.com")},
		{"WWW.EXAMPLE.COM", name("www.example.com")},
		{"_dmarc.example.com", name("_dmarc.example.com")},
		{"xn--bcher-kva.example", name("xn--bcher-kva.example")},
		{"com", name("com")}, // a single label is a valid name; the policy decides what it means
		{"localhost", name("localhost")},
		{strings.Repeat("a", 63) + ".com", name(strings.Repeat("a", 63) + ".com")},
		{strings.Repeat("a", 64) + ".com", invalid},
		{"", invalid},
		{".", invalid},
		{"example.com.", invalid},
		{"example..com", invalid},
		{".example.com", invalid},
		{"-example.com", invalid},
		{"example-.com", invalid},
		{"exa mple.com", invalid},
		{"*.example.com", invalid},
		{"münchen.de", invalid},
		{"example.123", invalid},
		{`example\046com`, invalid},
	}
	for _, tt := range tests {
		if got := qname.Decode(tt.in); got != tt.want {
			t.Errorf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestDecodeAll4 decodes a spread of IPv4 addresses, every octet value in every position.
func TestDecodeAll4(t *testing.T) {
	for v := range 256 {
		for pos := range 4 {
			var b [4]byte
			b[pos] = byte(v)
			b[(pos+1)%4] = byte(255 - v)
			a := netip.AddrFrom4(b)
			q := qname.Decode(reverse4(a))
			if q.Kind != qname.Addr || q.Addr != a {
				t.Fatalf("Decode(%q) = %+v, want %s", reverse4(a), q, a)
			}
		}
	}
}

// TestDecodeAll6 decodes every nibble value at every position, in both letter cases.
func TestDecodeAll6(t *testing.T) {
	for pos := range 16 {
		for v := range 256 {
			var b [16]byte
			b[pos] = byte(v)
			b[15-pos] ^= byte(v * 7)
			a := netip.AddrFrom16(b)
			for _, s := range []string{reverse6(a), strings.ToUpper(reverse6(a))} {
				q := qname.Decode(s)
				if q.Kind != qname.Addr || q.Addr != a {
					t.Fatalf("Decode(%q) = %+v, want %s", s, q, a)
				}
			}
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	for _, s := range []string{"4.3.2.1", v6rfc, strings.ToUpper(v6rfc), "www.example.com", "1.2.3.256", "example..com"} {
		if n := testing.AllocsPerRun(100, func() { qname.Decode(s) }); n != 0 {
			t.Errorf("Decode(%q) allocates %v times, want 0", s, n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"4.3.2.1", "0.0.0.0", "255.255.255.255", "1.2.3.256", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "",
		v6rfc, strings.ToUpper(v6rfc), v6rfc[2:], "0." + v6rfc, "g" + v6rfc[1:],
		"example.com", "Example.COM", "example.com.", "-a.com", "a_b.example", "münchen.de",
		strings.Repeat("a", 63) + ".com", strings.Repeat("a", 64) + ".com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := qname.Decode(s)
		switch q.Kind {
		case qname.Addr:
			if q.Name != "" {
				t.Fatalf("Decode(%q) = %+v: an address with a name", s, q)
			}
			var enc string
			switch {
			case q.Addr.Is4():
				enc = reverse4(q.Addr)
			case q.Addr.Is6() && q.Addr.Zone() == "":
				enc = reverse6(q.Addr)
			default:
				t.Fatalf("Decode(%q) = %+v: not a plain IPv4 or IPv6 address", s, q)
			}
			if enc != strings.ToLower(s) {
				t.Fatalf("Decode(%q) = %s, which re-encodes as %q", s, q.Addr, enc)
			}
		case qname.Name:
			if q.Addr.IsValid() {
				t.Fatalf("Decode(%q) = %+v: a name with an address", s, q)
			}
			if !domain.Valid(q.Name) {
				t.Fatalf("Decode(%q) = name %q, which is not Valid", s, q.Name)
			}
			if q.Name != strings.ToLower(s) {
				t.Fatalf("Decode(%q) = name %q, want %q", s, q.Name, strings.ToLower(s))
			}
		case qname.Invalid:
			if q != (qname.Query{}) {
				t.Fatalf("Decode(%q) = %+v: invalid but not the zero Query", s, q)
			}
			if domain.Valid(s) {
				t.Fatalf("Decode(%q) is Invalid, but %q is a valid name", s, s)
			}
		default:
			t.Fatalf("Decode(%q) returned kind %d", s, q.Kind)
		}
	})
}
