package format

import (
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
)

// rangePrefixes calls fn with the minimal list of prefixes, in ascending order, that covers exactly the
// addresses from lo to hi inclusive. It reports false, calling nothing, when the two are not valid
// addresses of the same family without zones, or hi < lo.
//
// Each step takes the largest block that starts at the current address (so is aligned on its size) and
// ends at or before hi; such blocks are the maximal prefixes inside the range, and no two of them can
// merge, so the list is minimal. A range yields at most 2*bits prefixes.
func rangePrefixes(lo, hi netip.Addr, fn func(netip.Prefix)) bool {
	return cidr.Range(lo, hi, func(p netip.Prefix) bool { fn(p); return true })
}
