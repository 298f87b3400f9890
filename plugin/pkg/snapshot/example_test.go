package snapshot_test

import (
	"fmt"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

func set(entries ...string) *entryset.Set {
	var b entryset.Builder
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			b.AddPrefix(p)
		} else if len(e) > 2 && e[:2] == "*." {
			b.AddName(e[2:], true)
		} else {
			b.AddName(e, false)
		}
	}
	return b.Set()
}

// Build compiles the feeds into one snapshot; a lookup returns the set of
// lists (by list ID, the index into the input) that hold the address or name.
func ExampleBuild() {
	s := snapshot.Build([]snapshot.List{
		{Name: "botnets", Category: "malware", Version: 1, Set: set("10.0.0.0/8", "*.bad.example")},
		{Name: "phish", Category: "phishing", Version: 1, Set: set("10.1.0.0/16", "login.bad.example")},
		{Name: "later", Category: "spam"}, // not loaded yet: empty
	}, nil)

	show := func(what string, id snapshot.SetID) {
		var lists []string
		s.Set(id).Each(func(i int) { lists = append(lists, s.Lists[i].Name) })
		fmt.Println(what, lists)
	}
	show("10.1.2.3", s.LookupAddr(netip.MustParseAddr("10.1.2.3")))
	show("10.9.9.9", s.LookupAddr(netip.MustParseAddr("10.9.9.9")))
	show("::ffff:10.9.9.9", s.LookupAddr(netip.MustParseAddr("::ffff:10.9.9.9")))
	show("192.0.2.1", s.LookupAddr(netip.MustParseAddr("192.0.2.1")))
	show("login.bad.example", s.LookupName("login.bad.example"))
	show("www.bad.example", s.LookupName("www.bad.example"))
	show("good.example", s.LookupName("good.example"))

	// The entry that matched, to explain a decision.
	fmt.Println(s.EntryAddr(0, netip.MustParseAddr("10.1.2.3")))
	fmt.Println(s.EntryName(0, "login.bad.example"))
	fmt.Println(s.Prefixes(), s.Names())
	// Output:
	// 10.1.2.3 [botnets phish]
	// 10.9.9.9 [botnets]
	// ::ffff:10.9.9.9 [botnets]
	// 192.0.2.1 []
	// login.bad.example [botnets phish]
	// www.bad.example [botnets]
	// good.example []
	// 10.0.0.0/8 true
	// *.bad.example true
	// 2 2
}

// A rebuild over the same lists takes over the parts that did not change.
func ExampleSnapshot_SameParts() {
	lists := []snapshot.List{
		{Name: "v4", Version: 1, Set: set("192.0.2.0/24")},
		{Name: "names", Version: 1, Set: set("bad.example")},
	}
	a := snapshot.Build(lists, nil)
	lists[1] = snapshot.List{Name: "names", Version: 2, Set: set("bad.example", "worse.example")}
	b := snapshot.Build(lists, a)
	fmt.Println(b.SameParts(a))
	// Output:
	// true true false
}

// Bits is the set of list IDs a policy masks lookups with.
func ExampleBits() {
	block := snapshot.NewBits(70)
	block.Add(3)
	block.Add(65)
	other := snapshot.NewBits(70)
	other.Add(65)
	fmt.Println(len(block), snapshot.Words(70))
	fmt.Println(block.Has(3), block.Has(4), block.Intersects(other))
	block.EachAnd(other, func(i int) { fmt.Println("both:", i) })
	// Output:
	// 2 2
	// true false true
	// both: 65
}
