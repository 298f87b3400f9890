package threatstop

import (
	"net/netip"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/qname"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// TestTestPoints: RFC 5782 §5 test points hold in every policy, whatever the feeds and own entries say;
// the policy alone (the firewall's view) decides them like any address.
func TestTestPoints(t *testing.T) {
	var b entryset.Builder
	for _, e := range []string{"127.0.0.0/8", "invalid", "*.test"} {
		if err := policy.AddEntry(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	s := snapshot.Build([]snapshot.List{{Name: "bogons", Category: "x", Set: b.Set(), Version: 1}}, nil)
	p, err := policy.New(policy.Config{Name: "p", Block: []int{0}, Allowed: []string{"127.0.0.0/8", "test"}}, policy.Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	for q, listed := range map[string]bool{
		"127.0.0.2": true, "::ffff:127.0.0.2": true, "test": true,
		"127.0.0.1": false, "::ffff:127.0.0.1": false, "invalid": false,
	} {
		var query qname.Query
		if a, err := netip.ParseAddr(q); err == nil {
			query = qname.Query{Kind: qname.Addr, Addr: a}
		} else {
			query = qname.Query{Kind: qname.Name, Name: q}
		}
		v, tp := check(p, s, query)
		if v.Listed != listed || tp != listed {
			t.Errorf("%s: %+v test point %v, want listed=%v", q, v, tp, listed)
		}
	}
	if v := p.MatchAddr(s, testListed); v.Listed {
		t.Errorf("the policy itself lists 127.0.0.2 (allowed): %+v", v)
	}
}
