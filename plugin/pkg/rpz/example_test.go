package rpz_test

import (
	"fmt"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/rpz"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Zone renders a whole policy as the records of its RPZ zone (the caller adds
// SOA and NS). Each trigger gets the action the policy decides for it:
// NODATA is CNAME *., an allow entry is CNAME rpz-passthru., and under an
// exact name inside a blocking wildcard the wildcard is repeated, since BIND
// stops at the closest name the zone holds.
func ExampleZone() {
	var b entryset.Builder
	b.AddPrefix(netip.MustParsePrefix("192.0.2.0/24"))
	b.AddName("bad.example", true)
	b.AddName("evil.example", false)
	s := snapshot.Build([]snapshot.List{{Name: "botnets", Category: "malware", Version: 1, Set: b.Set()}}, nil)
	p, err := policy.New(policy.Config{
		Block:   []int{0},
		Allowed: []string{"ok.bad.example"},
		Actions: map[string]policy.Action{"malware": {Kind: policy.NoData}},
	}, policy.Catalog(s.Lists))
	if err != nil {
		fmt.Println(err)
		return
	}
	rpz.Zone(p, s, "rpz.example.", 300, func(rrs []dns.RR) bool {
		for _, rr := range rrs {
			fmt.Println(rr)
		}
		return true
	})
	// Output:
	// 24.0.2.0.192.rpz-ip.rpz.example.	300	IN	CNAME	*.
	// bad.example.rpz.example.	300	IN	CNAME	*.
	// *.bad.example.rpz.example.	300	IN	CNAME	*.
	// evil.example.rpz.example.	300	IN	CNAME	*.
	// ok.bad.example.rpz.example.	300	IN	CNAME	rpz-passthru.
	// *.ok.bad.example.rpz.example.	300	IN	CNAME	*.
}

// Records renders one entry on its own; a redirect gives A and AAAA records.
func ExampleRecords() {
	e := policy.Entry{
		Name: "phish.example",
		Hit: policy.Hit{Action: policy.Action{Kind: policy.Redirect, Redirect: []netip.Addr{
			netip.MustParseAddr("192.0.2.80"), netip.MustParseAddr("2001:db8::80"),
		}}},
	}
	for _, rr := range rpz.Records(e, "rpz.example.", 60) {
		fmt.Println(rr)
	}
	// Output:
	// phish.example.rpz.example.	60	IN	A	192.0.2.80
	// phish.example.rpz.example.	60	IN	AAAA	2001:db8::80
}

// The owner names of triggers: rpz-ip for prefixes, the name itself for names.
func ExamplePrefixOwner() {
	fmt.Println(rpz.PrefixOwner(netip.MustParsePrefix("192.0.2.0/24"), "rpz.example."))
	fmt.Println(rpz.PrefixOwner(netip.MustParsePrefix("2001:db8::1/128"), "rpz.example."))
	fmt.Println(rpz.NameOwner("bad.example", "rpz.example."))
	// Output:
	// 24.0.2.0.192.rpz-ip.rpz.example.
	// 128.1.zz.db8.2001.rpz-ip.rpz.example.
	// bad.example.rpz.example.
}
