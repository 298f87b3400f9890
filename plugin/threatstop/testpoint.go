package threatstop

import (
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/qname"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// RFC 5782 §5 test points: listed and not listed in every DNSBL zone, whatever a policy's feeds and own
// entries say. They are DNSBL query forms, so they live here and not in the policy: the firewall and
// threatlog decide real addresses and names, where 127.0.0.2 is not listed.
var (
	testListed = netip.AddrFrom4([4]byte{127, 0, 0, 2})
	testClean  = netip.AddrFrom4([4]byte{127, 0, 0, 1})
)

const (
	testName    = "test"
	invalidName = "invalid"
)

// check decides a DNSBL query (an address or a name, not Invalid): a test point, or what p says.
func check(p *policy.Policy, s *snapshot.Snapshot, q qname.Query) (v policy.Verdict, testPoint bool) {
	if q.Kind == qname.Addr {
		switch a := q.Addr.Unmap(); a {
		case testListed:
			return policy.Verdict{Listed: true}, true
		case testClean:
			return policy.Verdict{}, false
		}
		return p.MatchAddr(s, q.Addr), false
	}
	switch q.Name {
	case testName:
		return policy.Verdict{Listed: true}, true
	case invalidName:
		return policy.Verdict{}, false
	}
	return p.MatchName(s, q.Name), false
}
