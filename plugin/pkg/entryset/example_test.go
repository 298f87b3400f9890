package entryset_test

import (
	"fmt"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// A parser adds entries in any order, duplicates included; Set sorts and
// deduplicates them into the immutable form the snapshot compiler reads.
func ExampleBuilder() {
	var b entryset.Builder
	b.AddPrefix(netip.MustParsePrefix("10.1.2.3/16")) // host bits are cleared
	b.AddAddr(netip.MustParseAddr("192.0.2.7"))
	b.AddAddr(netip.MustParseAddr("192.0.2.7")) // a duplicate
	b.AddPrefix(netip.MustParsePrefix("2001:db8::/32"))
	b.AddName("evil.example", false)
	b.AddName("bad.example", true) // the name and all its subdomains
	fmt.Println("added:", b.Len())
	fmt.Println("zone refused:", !b.AddAddr(netip.MustParseAddr("fe80::1%eth0")))

	s := b.Set()
	fmt.Println("entries:", s.Len())
	for _, v := range s.V4 {
		fmt.Println(entryset.UnpackV4(v))
	}
	for _, v := range s.V6 {
		fmt.Println(v.Prefix())
	}
	fmt.Println(s.Names, s.Wildcards)
	// Output:
	// added: 6
	// zone refused: true
	// entries: 5
	// 10.1.0.0/16
	// 192.0.2.7/32
	// 2001:db8::/32
	// ["evil.example"] ["bad.example"]
}

// MatchName and MatchAddr explain why a name or an address is listed.
func ExampleSet_MatchName() {
	var b entryset.Builder
	b.AddName("evil.example", false)
	b.AddName("bad.example", true)
	s := b.Set()
	for _, q := range []string{"evil.example", "www.evil.example", "bad.example", "x.y.bad.example"} {
		entry, ok := s.MatchName(q)
		fmt.Printf("%s: %q %v\n", q, entry, ok)
	}
	// Output:
	// evil.example: "evil.example" true
	// www.evil.example: "" false
	// bad.example: "*.bad.example" true
	// x.y.bad.example: "*.bad.example" true
}

func ExampleSet_MatchAddr() {
	var b entryset.Builder
	b.AddPrefix(netip.MustParsePrefix("10.0.0.0/8"))
	b.AddPrefix(netip.MustParsePrefix("10.1.0.0/16"))
	s := b.Set()
	fmt.Println(s.MatchAddr(netip.MustParseAddr("10.1.2.3")))
	fmt.Println(s.MatchAddr(netip.MustParseAddr("10.2.0.1")))
	fmt.Println(s.MatchAddr(netip.MustParseAddr("192.0.2.1")))
	// Output:
	// 10.1.0.0/16 true
	// 10.0.0.0/8 true
	// invalid Prefix false
}

// Names packs a sorted list into one string; Search is a binary search.
func ExampleNamesOf() {
	n := entryset.NamesOf("a.example", "c.example", "d.example")
	fmt.Println(n.Len(), n.At(1))
	fmt.Println(n.Search("c.example"))
	fmt.Println(n.Search("b.example"))
	for i, name := range n.All() {
		fmt.Println(i, name)
	}
	// Output:
	// 3 c.example
	// 1 true
	// 1 false
	// 0 a.example
	// 1 c.example
	// 2 d.example
}
