package policy_test

import (
	"fmt"
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// feeds builds a snapshot of three shared lists: IDs 0, 1 and 2.
func feeds() *snapshot.Snapshot {
	mk := func(f func(b *entryset.Builder)) *entryset.Set {
		var b entryset.Builder
		f(&b)
		return b.Set()
	}
	return snapshot.Build([]snapshot.List{
		{Name: "botnets", Category: "malware", Version: 1, Set: mk(func(b *entryset.Builder) {
			b.AddPrefix(netip.MustParsePrefix("198.51.100.0/24"))
			b.AddName("bad.example", true)
		})},
		{Name: "phish", Category: "phishing", Version: 1, Set: mk(func(b *entryset.Builder) {
			b.AddName("login.phish.example", false)
		})},
		{Name: "partners", Category: "allow", Version: 1, Set: mk(func(b *entryset.Builder) {
			b.AddName("cdn.bad.example", false)
		})},
	}, nil)
}

func catalog(s *snapshot.Snapshot) policy.Catalog { return policy.Catalog(s.Lists) }

// A policy is a mask over the shared lists plus the customer's own entries.
// Allow always wins.
func ExampleNew() {
	s := feeds()
	p, err := policy.New(policy.Config{
		Name:    "office",
		Block:   []int{0, 1},
		Allow:   []int{2},
		Blocked: []string{"203.0.113.7", "*.casino.example"},
		Allowed: []string{"198.51.100.10"},
		Answers: map[string]string{"phishing": "127.0.0.3"},
	}, catalog(s))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"www.bad.example", "cdn.bad.example", "login.phish.example", "a.casino.example", "good.example"} {
		v := p.MatchName(s, name)
		fmt.Printf("%s listed=%v allowed=%v custom=%v\n", name, v.Listed, v.Allowed, v.Custom)
	}
	for _, a := range []string{"198.51.100.1", "198.51.100.10", "203.0.113.7"} {
		v := p.MatchAddr(s, netip.MustParseAddr(a))
		fmt.Printf("%s listed=%v allowed=%v\n", a, v.Listed, v.Allowed)
	}
	fmt.Println(p.Answer(0), p.Answer(1), p.CustomAnswer())
	// Output:
	// www.bad.example listed=true allowed=false custom=false
	// cdn.bad.example listed=false allowed=true custom=false
	// login.phish.example listed=true allowed=false custom=false
	// a.casino.example listed=true allowed=false custom=true
	// good.example listed=false allowed=false custom=false
	// 198.51.100.1 listed=true allowed=false
	// 198.51.100.10 listed=false allowed=true
	// 203.0.113.7 listed=true allowed=false
	// 127.0.0.2 127.0.0.3 127.0.0.2
}

// Decide names the action and the list behind a listed verdict; the most
// severe action wins.
func ExamplePolicy_Decide() {
	s := feeds()
	p, _ := policy.New(policy.Config{
		Block: []int{0, 1},
		Actions: map[string]policy.Action{
			"malware": {Kind: policy.Drop},
		},
	}, catalog(s))
	for _, name := range []string{"x.bad.example", "login.phish.example"} {
		h := p.Decide(s, p.MatchName(s, name))
		fmt.Println(name, h.Action.Kind, h.List, h.Category, p.EntryName(s, h, name))
	}
	// Output:
	// x.bad.example drop botnets malware *.bad.example
	// login.phish.example nxdomain phish phishing login.phish.example
}

// Content enumerates what a policy lists, as an RPZ zone carries it: block
// entries with their action, and allow entries only where they carve an
// exception out of a block entry. A wildcard entry lists its apex too.
func ExamplePolicy_Content() {
	s := feeds()
	p, _ := policy.New(policy.Config{Block: []int{0}, Allow: []int{2}}, catalog(s))
	p.Content(s, func(e policy.Entry) bool {
		switch {
		case e.Prefix.IsValid():
			fmt.Println(e.Prefix, e.Hit.Action.Kind, e.Hit.List)
		case e.Allow:
			fmt.Println(e.Name, "allow")
		case e.Sub:
			fmt.Println("*."+e.Name, e.Hit.Action.Kind, e.Hit.List)
		default:
			fmt.Println(e.Name, e.Hit.Action.Kind, e.Hit.List)
		}
		return true
	})
	// Output:
	// 198.51.100.0/24 nxdomain botnets
	// *.bad.example nxdomain botnets
	// cdn.bad.example allow
}

// Blocked flattens a policy into disjoint prefixes for a device that knows
// no exceptions: the allowed address is cut out of the /24.
func ExamplePolicy_Blocked() {
	s := feeds()
	p, _ := policy.New(policy.Config{Block: []int{0}, Allowed: []string{"198.51.100.0/26"}}, catalog(s))
	p.Blocked(s, func(pfx netip.Prefix) bool {
		fmt.Println(pfx)
		return true
	})
	// Output:
	// 198.51.100.64/26
	// 198.51.100.128/25
}

func ExampleParseAction() {
	for _, args := range [][]string{{"nodata"}, {"redirect", "192.0.2.80", "2001:db8::80"}, {"bounce"}} {
		a, err := policy.ParseAction(args)
		fmt.Println(a.Kind, a.Redirect, a.Kind.Blocks(), err != nil)
	}
	fmt.Println(policy.IsAction("log-only"), policy.IsAction("block"))
	// Output:
	// nodata [] true false
	// redirect [192.0.2.80 2001:db8::80] true false
	// passthru [] false true
	// true false
}

func ExampleValidEntry() {
	for _, e := range []string{"192.0.2.1", "10.0.0.0/8", "*.example", "com", "not a name"} {
		fmt.Println(e, policy.ValidEntry(e) == nil)
	}
	// Output:
	// 192.0.2.1 true
	// 10.0.0.0/8 true
	// *.example true
	// com true
	// not a name false
}

func ExampleParseAnswer() {
	fmt.Println(policy.ParseAnswer("127.0.0.4"))
	_, err := policy.ParseAnswer("192.0.2.1")
	fmt.Println(err != nil)
	// Output:
	// 127.0.0.4 <nil>
	// true
}
