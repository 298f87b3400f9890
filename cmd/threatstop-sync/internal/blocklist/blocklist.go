// Package blocklist turns the rpz-ip triggers of a policy's zone into the address sets a firewall drops:
// every blocking trigger merged (adjacent and overlapping prefixes become one range), the allow
// (passthru) triggers subtracted, and, on a device with room for only so many entries, the most important
// triggers kept and the rest reported as left out.
//
// The zone does not say which list or category a trigger comes from (an rpz-ip record is a CNAME, which
// can have no TXT beside it), so importance is read from what the zone does say: the action, which the
// policy sets per category (`action botnet drop`). Triggers are kept by action in the order of
// Options.Priority (default drop, nxdomain, nodata, redirect: the server's order of severity), and within
// one action broader prefixes first (more host bits: more addresses per entry), then in address order (the
// server's order).
//
// Cost: linear in the triggers plus one sort (cidrset.Build); with a capacity limit that the policy
// exceeds, about 20 more builds of the cut action (a binary search for how many of its triggers fit).
package blocklist

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/cidrset"
	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

// DefaultPriority is the order in which blocking actions are kept.
var DefaultPriority = []zone.Action{zone.Drop, zone.NXDomain, zone.NoData, zone.Redirect}

// Options shape the list for one device.
type Options struct {
	MaxEntries int           // the most CIDR prefixes (IPv4 and IPv6 together) the device takes; 0: no limit
	Priority   []zone.Action // blocking actions, most important first; nil: DefaultPriority
}

// ParsePriority reads a comma-separated list of blocking actions.
func ParsePriority(s string) ([]zone.Action, error) {
	var out []zone.Action
	for _, f := range strings.Split(s, ",") {
		a, err := zone.ParseAction(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if !a.Blocks() {
			return nil, fmt.Errorf("action %s does not block", a)
		}
		if slices.Contains(out, a) {
			return nil, fmt.Errorf("action %s twice", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// List is what the firewall holds.
type List struct {
	V4, V6  cidrset.Set
	Entries int // CIDR prefixes of V4 and V6: what the device holds in ipset or pf

	Blocked int // blocking triggers in the zone
	Allowed int // passthru triggers, subtracted
	Other   int // rpz-ip triggers that neither block nor allow (rpz-tcp-only)

	// LeftOut are the blocking triggers that did not fit under MaxEntries, in the order they would have
	// been taken; LeftOutBy counts them per action.
	LeftOut   []zone.IPTrigger
	LeftOutBy map[zone.Action]int
}

// Prefixes is the minimal CIDR list of the whole list, IPv4 first.
func (l List) Prefixes() []netip.Prefix {
	return append(l.V4.Prefixes(), l.V6.Prefixes()...)
}

// Build computes the list of c's rpz-ip triggers under o.
func Build(c zone.Content, o Options) List {
	prio := o.Priority
	if len(prio) == 0 {
		prio = DefaultPriority
	}
	// Blocking actions the priority does not name come last, in the default order.
	for _, a := range DefaultPriority {
		if !slices.Contains(prio, a) {
			prio = append(slices.Clone(prio), a)
		}
	}
	l := List{LeftOutBy: map[zone.Action]int{}}
	var allow []netip.Prefix
	groups := make(map[zone.Action][]netip.Prefix)
	for _, t := range c.IP {
		switch {
		case t.Action == zone.Passthru:
			allow = append(allow, t.Prefix)
			l.Allowed++
		case t.Action.Blocks():
			groups[t.Action] = append(groups[t.Action], t.Prefix)
			l.Blocked++
		default:
			l.Other++
		}
	}
	allow4, allow6 := cidrset.Build(false, allow), cidrset.Build(true, allow)
	var cur4, cur6 cidrset.Set
	cur6 = cidrset.Build(true, nil)
	count := func(b4, b6 cidrset.Set) int {
		return b4.Subtract(allow4).PrefixCount() + b6.Subtract(allow6).PrefixCount()
	}
	with := func(g []netip.Prefix) (cidrset.Set, cidrset.Set) {
		return cur4.Union(cidrset.Build(false, g)), cur6.Union(cidrset.Build(true, g))
	}
	full := false
	for _, a := range prio {
		g := groups[a]
		if len(g) == 0 {
			continue
		}
		// Broader prefixes first (more host bits: an IPv6 /48 before an IPv4 /24), then address order.
		slices.SortStableFunc(g, func(x, y netip.Prefix) int {
			if d := hostBits(y) - hostBits(x); d != 0 {
				return d
			}
			return x.Addr().Compare(y.Addr())
		})
		if full {
			l.leaveOut(a, g)
			continue
		}
		n4, n6 := with(g)
		if o.MaxEntries <= 0 || count(n4, n6) <= o.MaxEntries {
			cur4, cur6 = n4, n6
			continue
		}
		// The largest k whose first k triggers fit (the count is not strictly monotonic in k, as merging
		// can lower it, so this finds a k that fits with k+1 not fitting, not always the largest).
		lo, hi := 0, len(g) // g[:lo] fits, g[:hi] does not
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if m4, m6 := with(g[:mid]); count(m4, m6) <= o.MaxEntries {
				lo = mid
			} else {
				hi = mid
			}
		}
		cur4, cur6 = with(g[:lo])
		l.leaveOut(a, g[lo:])
		full = true
	}
	l.V4, l.V6 = cur4.Subtract(allow4), cur6.Subtract(allow6)
	l.Entries = l.V4.PrefixCount() + l.V6.PrefixCount()
	return l
}

func hostBits(p netip.Prefix) int { return p.Addr().BitLen() - p.Bits() }

func (l *List) leaveOut(a zone.Action, g []netip.Prefix) {
	for _, p := range g {
		l.LeftOut = append(l.LeftOut, zone.IPTrigger{Prefix: p, Action: a})
	}
	l.LeftOutBy[a] += len(g)
}
