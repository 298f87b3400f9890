package guard_test

import (
	"fmt"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/guard"
)

// Apply removes what must never be blocked: special-purpose space and
// prefixes too broad to list. A prefix that holds protected space only in
// part keeps its other parts: 192.0.0.0/22 loses 192.0.0.0/24 (IETF
// protocol assignments) and 192.0.2.0/24 (documentation).
func ExampleGuard_Apply() {
	var b entryset.Builder
	for _, p := range []string{"185.220.101.0/24", "127.0.0.0/8", "10.1.0.0/16", "4.0.0.0/6", "192.0.0.0/22", "2001:db8::/32"} {
		b.AddPrefix(netip.MustParsePrefix(p))
	}
	b.AddName("bad.example", false) // names are left alone
	s, dropped := guard.Default().Apply(b.Set())
	for _, v := range s.V4 {
		fmt.Println(entryset.UnpackV4(v))
	}
	fmt.Println(s.Names)
	fmt.Println(dropped.Total(), dropped.Count)
	// Output:
	// 185.220.101.0/24
	// 192.0.1.0/24
	// 192.0.3.0/24
	// ["bad.example"]
	// 5 map[broad:1 private:1 reserved:3]
}

// An internal list may list private space.
func ExampleGuard_keepPrivate() {
	var b entryset.Builder
	b.AddPrefix(netip.MustParsePrefix("10.1.0.0/16"))
	g := guard.Default()
	g.KeepPrivate = true
	s, dropped := g.Apply(b.Set())
	fmt.Println(s.Len(), dropped.Total())
	// Output:
	// 1 0
}
