// Package guard removes from a feed the entries that must never be blocked, whatever a feed says: the
// special-purpose address ranges (this network, loopback, private, shared, link-local, documentation,
// benchmarking, multicast, reserved and broadcast space, and their IPv6 counterparts) and prefixes so
// broad that listing them would block a large part of the internet. A prefix that only contains protected
// space keeps its other parts (192.0.0.0/8 loses 192.0.0.0/24 and 192.0.2.0/24, nothing else), so a guard
// never widens or narrows a listing beyond the protected space itself.
//
// Cost: one pass over the feed's sorted prefixes; a new Set is allocated only when something is dropped.
package guard

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// Why an entry was dropped.
const (
	Reserved = "reserved" // special-purpose space that is never a threat source: loopback, multicast, ...
	Private  = "private"  // RFC 1918, shared (RFC 6598) and unique-local space, kept with KeepPrivate
	Broad    = "broad"    // broader than MinBits4 or MinBits6
)

// Defaults for the broadest prefix a feed may list.
const (
	DefaultMinBits4 = 8
	DefaultMinBits6 = 16
)

type protected struct {
	p   netip.Prefix
	why string
}

// ranges are the IANA special-purpose registries' non-global ranges (RFC 6890 and successors).
var ranges = func() []protected {
	var out []protected
	add := func(why string, ps ...string) {
		for _, p := range ps {
			out = append(out, protected{netip.MustParsePrefix(p), why})
		}
	}
	add(Reserved,
		"0.0.0.0/8",       // this network
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation TEST-NET-1
		"192.88.99.0/24",  // deprecated 6to4 relay anycast
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation TEST-NET-2
		"203.0.113.0/24",  // documentation TEST-NET-3
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"100::/64",        // discard-only
		"2001:db8::/32",   // documentation
		"fe80::/10",       // link-local
		"fec0::/10",       // deprecated site-local
		"ff00::/8",        // multicast
	)
	add(Private,
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
		"100.64.0.0/10", // shared address space, RFC 6598
		"fc00::/7",      // unique local, RFC 4193
	)
	return out
}()

// near4 and near6 say, by the first byte of an address, whether any protected range starts with that
// byte: most feed entries are cleared with one table lookup instead of a pass over every range.
var near4, near6 = func() (v4, v6 [256]bool) {
	for _, r := range ranges {
		b := r.p.Addr().AsSlice()
		span := 1
		if r.p.Bits() < 8 {
			span = 1 << (8 - r.p.Bits())
		}
		for i := range span {
			if r.p.Addr().Is4() {
				v4[int(b[0])+i] = true
			} else {
				v6[int(b[0])+i] = true
			}
		}
	}
	return
}()

// Guard is a feed's guard configuration. The zero value is not useful: start from Default.
type Guard struct {
	MinBits4, MinBits6 int  // broadest prefix lengths a feed may list
	KeepPrivate        bool // keep private ranges, for internal lists
}

// Default is the guard every feed gets unless configured otherwise.
func Default() Guard { return Guard{MinBits4: DefaultMinBits4, MinBits6: DefaultMinBits6} }

// Dropped reports what a guard removed.
type Dropped struct {
	Count   map[string]int // entries dropped (or trimmed) by reason
	Samples []string       // the first few, for the log
}

// Total is the number of entries dropped or trimmed.
func (d Dropped) Total() int {
	n := 0
	for _, c := range d.Count {
		n += c
	}
	return n
}

const maxSamples = 5

func (d *Dropped) add(p netip.Prefix, why string) {
	if d.Count == nil {
		d.Count = map[string]int{}
	}
	d.Count[why]++
	if len(d.Samples) < maxSamples {
		d.Samples = append(d.Samples, fmt.Sprintf("%s (%s)", p, why))
	}
}

// Apply returns s without the entries g drops, and what it dropped. It returns s itself when nothing is.
func (g Guard) Apply(s *entryset.Set) (*entryset.Set, Dropped) {
	var d Dropped
	var keep []netip.Prefix // the parts of partly protected prefixes that stay
	v4 := filter(s.V4, entryset.UnpackV4, g, &d, &keep)
	v6 := filter(s.V6, entryset.V6.Prefix, g, &d, &keep)
	if d.Total() == 0 {
		return s, d
	}
	var b entryset.Builder
	for _, v := range v4 {
		b.AddPrefix(entryset.UnpackV4(v))
	}
	for _, v := range v6 {
		b.AddPrefix(v.Prefix())
	}
	for _, p := range keep {
		b.AddPrefix(p)
	}
	out := b.Set()
	out.Names, out.Wildcards = s.Names, s.Wildcards
	return out, d
}

// filter returns the entries that need no change; entries inside protected space or too broad are
// counted in d, and the unprotected parts of entries that contain protected space go to keep.
func filter[T any](in []T, prefix func(T) netip.Prefix, g Guard, d *Dropped, keep *[]netip.Prefix) []T {
	var out []T
	for i, v := range in {
		p := prefix(v)
		why, parts := g.check(p)
		if why == "" {
			if out != nil {
				out = append(out, v)
			}
			continue
		}
		if out == nil {
			out = slices.Clip(in[:i:i])
			out = append(make([]T, 0, len(in)), out...)
		}
		d.add(p, why)
		*keep = append(*keep, parts...)
	}
	if out == nil {
		return in
	}
	return out
}

// check returns why p cannot stay as it is ("" when it can), and the parts of p outside protected space
// when p only contains some.
func (g Guard) check(p netip.Prefix) (string, []netip.Prefix) {
	if p.Addr().Is4() && p.Bits() < g.MinBits4 || p.Addr().Is6() && p.Bits() < g.MinBits6 {
		return Broad, nil
	}
	// Prefixes of 8 bits or more lie under one first byte; without a protected range there, keep them.
	if p.Bits() >= 8 {
		first := p.Addr().AsSlice()[0]
		if p.Addr().Is4() && !near4[first] || p.Addr().Is6() && !near6[first] {
			return "", nil
		}
	}
	var inside []protected
	for _, r := range ranges {
		if r.why == Private && g.KeepPrivate || r.p.Addr().Is4() != p.Addr().Is4() || !r.p.Overlaps(p) {
			continue
		}
		if r.p.Bits() <= p.Bits() {
			return r.why, nil // p lies inside protected space
		}
		inside = append(inside, r)
	}
	if len(inside) == 0 {
		return "", nil
	}
	return inside[0].why, subtract(p, inside)
}

// subtract returns the minimal prefixes that cover p minus every range in rs (all inside p).
func subtract(p netip.Prefix, rs []protected) []netip.Prefix {
	var out []netip.Prefix
	var walk func(q netip.Prefix)
	walk = func(q netip.Prefix) {
		for _, r := range rs {
			if r.p.Bits() <= q.Bits() && r.p.Contains(q.Addr()) {
				return // q is protected
			}
		}
		overlaps := false
		for _, r := range rs {
			if q.Overlaps(r.p) {
				overlaps = true
				break
			}
		}
		if !overlaps {
			out = append(out, q)
			return
		}
		lo, hi := halves(q)
		walk(lo)
		walk(hi)
	}
	walk(p)
	return out
}

// halves splits q into its two halves one bit longer.
func halves(q netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := q.Bits() + 1
	lo := netip.PrefixFrom(q.Addr(), bits)
	b := q.Addr().AsSlice()
	i := q.Bits() / 8
	b[i] |= 0x80 >> (q.Bits() % 8)
	a, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(a, bits)
}
