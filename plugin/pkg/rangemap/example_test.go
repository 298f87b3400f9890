package rangemap_test

import (
	"fmt"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
	"github.com/threatstop/threatstop/plugin/pkg/rangemap"
)

// A map is built from boundaries in ascending order: each Set gives the value
// from that address up to the next boundary. Here 10.0.0.0/8 maps to 1,
// with 10.1.0.0/16 inside it mapping to 2.
func ExampleBuilder() {
	ip := func(a, b, c, d uint32) cidr.U128 { return cidr.U128{Lo: uint64(a<<24 | b<<16 | c<<8 | d)} }
	b := rangemap.NewBuilder(32, 4)
	b.Set(ip(10, 0, 0, 0), 1)
	b.Set(ip(10, 1, 0, 0), 2)
	b.Set(ip(10, 2, 0, 0), 1)
	b.Set(ip(11, 0, 0, 0), 0)
	m := b.Map()

	for _, a := range [][4]uint32{{9, 255, 255, 255}, {10, 0, 0, 1}, {10, 1, 2, 3}, {10, 2, 0, 0}, {11, 0, 0, 0}} {
		fmt.Printf("%d.%d.%d.%d -> %d\n", a[0], a[1], a[2], a[3], m.Lookup4(a[0]<<24|a[1]<<16|a[2]<<8|a[3]))
	}
	fmt.Println("boundaries:", m.Boundaries())
	// Output:
	// 9.255.255.255 -> 0
	// 10.0.0.1 -> 1
	// 10.1.2.3 -> 2
	// 10.2.0.0 -> 1
	// 11.0.0.0 -> 0
	// boundaries: 5
}

// IPv6 maps take the address as two big-endian halves.
func ExampleMap_Lookup6() {
	b := rangemap.NewBuilder(128, 2)
	b.Set(cidr.U128{Hi: 0x20010db8_00000000}, 7) // 2001:db8::/32 ...
	b.Set(cidr.U128{Hi: 0x20010db9_00000000}, 0) // ... ends here
	m := b.Map()
	fmt.Println(m.Lookup6(cidr.U128{Hi: 0x20010db8_12345678, Lo: 1}))
	fmt.Println(m.Lookup6(cidr.U128{Hi: 0x20010db9_00000000}))
	// Output:
	// 7
	// 0
}

func ExampleU128_Next() {
	last := cidr.U128{Hi: ^uint64(0), Lo: ^uint64(0)}
	fmt.Println(cidr.U128{Lo: 41}.Next())
	_, ok := last.Next()
	fmt.Println(ok)
	// Output:
	// {0 42} true
	// false
}
