package cidr_test

import (
	"fmt"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
)

// A feed range "10.0.0.1-10.0.0.10" becomes the fewest prefixes that cover
// exactly those addresses.
func ExampleRange() {
	lo := netip.MustParseAddr("10.0.0.1")
	hi := netip.MustParseAddr("10.0.0.10")
	cidr.Range(lo, hi, func(p netip.Prefix) bool {
		fmt.Println(p)
		return true
	})
	// A reversed range, or one mixing families, yields nothing.
	fmt.Println(cidr.Range(hi, lo, func(netip.Prefix) bool { return true }))
	// Output:
	// 10.0.0.1/32
	// 10.0.0.2/31
	// 10.0.0.4/30
	// 10.0.0.8/31
	// 10.0.0.10/32
	// false
}

func ExampleLast() {
	fmt.Println(cidr.Last(netip.MustParsePrefix("192.0.2.0/24")))
	fmt.Println(cidr.Last(netip.MustParsePrefix("2001:db8::/32")))
	// Output:
	// 192.0.2.255
	// 2001:db8:ffff:ffff:ffff:ffff:ffff:ffff
}

// U128 is address arithmetic: step, compare and convert back.
func ExampleU128() {
	a := cidr.FromAddr(netip.MustParseAddr("192.0.2.255"))
	b := a.Inc()
	fmt.Println(b.Addr(true), a.Less(b))
	// IPv4 addresses are the low 32 of the 128 bits, so the 96 high bits
	// are common to any two of them.
	fmt.Println(a.CommonBits(b) - 96)
	// A block aligned on its size starts at a number with that many
	// trailing zeros: 192.0.4.0 can start a /22.
	fmt.Println(cidr.FromAddr(netip.MustParseAddr("192.0.4.0")).TrailingZeros())
	// Output:
	// 192.0.3.0 true
	// 23
	// 10
}
