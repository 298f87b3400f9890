package policy

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Content enumerates a policy as a whole, for rendering it as a zone (RPZ) or a table (a firewall) that
// another program applies with the usual precedence: the longest prefix wins, an exact name beats a
// wildcard, a deeper wildcard beats a shallower one. Applied that way, the entries decide every address
// and name as MatchAddr, MatchName and Decide do.
//
// Cost: linear merges of the sorted list sets, prefixes and names alike, with no lookup in the snapshot.
// What covers a name comes from an index of the policy's wildcards built per call (a map entry per
// wildcard), one probe per label of the name. About 120 ns per entry and no allocation per entry; see
// BenchmarkContent (2.1M entries over 3 lists).

// Entry is one entry of a policy's content.
type Entry struct {
	Prefix netip.Prefix // an address entry (valid), else a name entry
	Name   string       // normalised, no trailing dot
	Sub    bool         // the name and all its subdomains (*.name)
	Allow  bool         // an exception (RPZ passthru): never listed although a block entry covers it
	Hit    Hit          // for block entries: the action and the list that decided it, as Decide gives it

	// Under is set on an exact name entry under a blocking wildcard (one at or above the name that no
	// allowing wildcard overrides): what the wildcards decide for the name's subdomains. A consumer that
	// stops at the closest name it holds, as DNS wildcards do (RFC 4592, BIND), must repeat it as *.name
	// unless a wildcard entry of the name follows. Shared: it must not be modified.
	Under *Hit
}

// Content calls fn with every entry of the policy in order, until fn returns false: IPv4 prefixes by
// address then length, IPv6 prefixes likewise, then names ascending, an exact name before the wildcard of
// the same name.
//
// The block entries are those of the policy's blocking lists and its own block entries, each prefix or
// name once, with the Hit that Decide gives it: the most severe action among the lists that hold it or
// cover it. Allow always wins, so a block entry that an allow entry covers entirely is left out: a prefix
// inside an allowed one, a name allowed exactly or by a wildcard, a wildcard under an allowed wildcard. An
// allow entry is given only where it carves an exception out of a block entry that remains: a prefix
// strictly inside a block prefix, a name under a blocking wildcard (or at its apex). Allow lists can be
// far larger than what they change, and the zone carries only what they change.
//
// The same name can come as an exact entry and then as a wildcard: the exact one decides the name itself
// (exact beats wildcard) and the wildcard its subdomains.
func (p *Policy) Content(s *snapshot.Snapshot, fn func(Entry) bool) {
	p.ContentOf(s, Families{V4: true, V6: true, Names: true}, fn)
}

// Families selects the kinds of entries ContentOf enumerates.
type Families struct{ V4, V6, Names bool }

// ContentOf is Content restricted to some kinds of entries: what one kind holds never depends on the
// others, so the entries it yields are exactly those of Content of those kinds, in the same order.
func (p *Policy) ContentOf(s *snapshot.Snapshot, f Families, fn func(Entry) bool) {
	c := content{p: p, s: s}
	c.sources()
	_ = (!f.V4 || c.prefixes(true, fn)) && (!f.V6 || c.prefixes(false, fn)) && (!f.Names || c.names(fn))
}

type content struct {
	p     *Policy
	s     *snapshot.Snapshot
	block []*entryset.Set // own block entries, then the blocking lists by ID: an index is a rank
	allow []*entryset.Set
	hits  []Hit        // per rank
	kinds []ActionKind // per rank

	// wild indexes the wildcards of the policy's sources (what covers a name), far fewer than its names:
	// probing it costs less than probing the snapshot's map of all names, and cache misses dominate.
	wild map[string]cover
}

// cover is what the wildcards at one name decide, or those at and above a name: the best blocking rank
// (-1 for none) and whether an allowing one is among them.
type cover struct {
	rank  int32
	allow bool
}

// sources collects the sets the policy reads, the blocking ones in the order Decide breaks ties in: own
// entries first, then the lowest list ID. Withheld lists are not served.
func (c *content) sources() {
	p, s := c.p, c.s
	c.block = append(c.block, p.own.Entries(ownBlock))
	c.hits = append(c.hits, Hit{Action: p.customAction, List: CustomList, Category: CustomList, ListID: -1})
	c.allow = append(c.allow, p.own.Entries(ownAllow))
	for id, l := range s.Lists {
		switch {
		case l.Withheld:
		case p.Allow.Has(id):
			c.allow = append(c.allow, s.Entries(id))
		case p.Block.Has(id):
			c.block = append(c.block, s.Entries(id))
			c.hits = append(c.hits, Hit{Action: p.actions[id], List: l.Name, Category: l.Category, ListID: id})
		}
	}
	for _, h := range c.hits {
		c.kinds = append(c.kinds, h.Action.Kind)
	}
}

// Sets returns the sets the policy's content comes from: its own block and allow entries and the served
// lists it blocks or allows.
func (p *Policy) Sets(s *snapshot.Snapshot) []*entryset.Set {
	c := content{p: p, s: s}
	c.sources()
	return append(c.block, c.allow...)
}

// better picks the rank that decides between two (-1: none): the more severe action, then the lower rank.
func (c *content) better(a, b int32) int32 {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	case c.kinds[b] > c.kinds[a] || c.kinds[b] == c.kinds[a] && b < a:
		return b
	}
	return a
}

// pkey is a prefix in one 128-bit space, an IPv4 prefix in the top 32 bits, so that one sweep serves both
// families: the order (address, then length) and the containment are the same.
type pkey struct {
	addr cidr.U128
	bits uint8
}

func (k pkey) less(o pkey) bool {
	if c := k.addr.Compare(o.addr); c != 0 {
		return c < 0
	}
	return k.bits < o.bits
}

// last is the last address of k.
func (k pkey) last() cidr.U128 { return k.addr.Or(cidr.LowMask(128 - int(k.bits))) }

func (k pkey) prefix(v4 bool) netip.Prefix {
	if v4 {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], uint32(k.addr.Hi>>32))
		return netip.PrefixFrom(netip.AddrFrom4(a), int(k.bits))
	}
	return entryset.V6{Hi: k.addr.Hi, Lo: k.addr.Lo, Bits: k.bits}.Prefix()
}

// phead is the unread part of one source's prefixes, key being the first of them.
type phead struct {
	v4   []uint64
	v6   []entryset.V6
	key  pkey
	rank int32 // block source rank; -1 for an allow source
}

func (h *phead) next() bool {
	switch {
	case len(h.v4) > 0:
		v := h.v4[0]
		h.key, h.v4 = pkey{addr: cidr.U128{Hi: v >> 8 << 32}, bits: uint8(v)}, h.v4[1:]
	case len(h.v6) > 0:
		v := h.v6[0]
		h.key, h.v6 = pkey{addr: cidr.U128{Hi: v.Hi, Lo: v.Lo}, bits: v.Bits}, h.v6[1:]
	default:
		return false
	}
	return true
}

// open is a prefix that contains the current one, with what it and the prefixes around it decide.
type open struct {
	end     cidr.U128 // its last address
	hit     int32     // best blocking rank among them; -1 for none
	allowed bool      // an allow entry covers it
	emitted uint8     // the innermost entry given for it: 0 none, 1 block, 2 allow
}

// prefixes merges the sources' prefixes of one family in order, where every prefix comes before those it
// covers, keeping a stack of the prefixes around the current one (as snapshot.Build does): what covers a
// prefix is known when it is reached, without a lookup.
func (c *content) prefixes(v4 bool, fn func(Entry) bool) bool {
	heads := make([]phead, 0, len(c.block)+len(c.allow))
	add := func(set *entryset.Set, rank int32) {
		h := phead{rank: rank}
		if v4 {
			h.v4 = set.V4
		} else {
			h.v6 = set.V6
		}
		if h.next() {
			heads = append(heads, h)
		}
	}
	for r, set := range c.block {
		add(set, int32(r))
	}
	for _, set := range c.allow {
		add(set, -1)
	}
	var stack [129]open // nested prefixes have distinct lengths
	depth := 0
	for len(heads) > 0 {
		k := heads[0].key
		for _, h := range heads[1:] {
			if h.key.less(k) {
				k = h.key
			}
		}
		rank, allow := int32(-1), false
		live := heads[:0]
		for _, h := range heads {
			if h.key == k {
				if h.rank < 0 {
					allow = true
				} else {
					rank = c.better(rank, h.rank)
				}
				if !h.next() {
					continue
				}
			}
			live = append(live, h)
		}
		heads = live

		for depth > 0 && stack[depth-1].end.Less(k.addr) {
			depth--
		}
		outer := open{hit: -1}
		if depth > 0 {
			outer = stack[depth-1]
		}
		cur := open{hit: c.better(outer.hit, rank), allowed: outer.allowed || allow, emitted: outer.emitted}
		cur.end = k.last()
		switch {
		case rank >= 0 && !cur.allowed:
			cur.emitted = 1
			if !fn(Entry{Prefix: k.prefix(v4), Hit: c.hits[cur.hit]}) {
				return false
			}
		case allow && outer.emitted == 1:
			cur.emitted = 2
			if !fn(Entry{Prefix: k.prefix(v4), Allow: true}) {
				return false
			}
		}
		stack[depth] = cur
		depth++
	}
	return true
}

// nhead is the unread part of one source's exact names or wildcards.
type nhead struct {
	names entryset.Names
	next  int // the first unread name
	sub   bool
	rank  int32 // block source rank; -1 for an allow source
}

// names merges the sources' names in order. Names sort by text, not by label from the right, so parents
// do not come before their subdomains as prefixes do: what covers a name comes from an index of the
// policy's wildcards, one probe per label.
func (c *content) names(fn func(Entry) bool) bool {
	var heads []nhead
	n := 0
	add := func(set *entryset.Set, rank int32) {
		if set.Names.Len() > 0 {
			heads = append(heads, nhead{names: set.Names, rank: rank})
		}
		if set.Wildcards.Len() > 0 {
			heads = append(heads, nhead{names: set.Wildcards, sub: true, rank: rank})
			n += set.Wildcards.Len()
		}
	}
	for r, set := range c.block {
		add(set, int32(r))
	}
	for _, set := range c.allow {
		add(set, -1)
	}
	c.wild = make(map[string]cover, n)
	for _, h := range heads {
		if h.sub {
			for _, w := range h.names.All() {
				x, ok := c.wild[w]
				if !ok {
					x.rank = -1
				}
				c.wild[w] = c.join(x, cover{h.rank, h.rank < 0})
			}
		}
	}
	for len(heads) > 0 {
		name, sub := heads[0].names.At(heads[0].next), heads[0].sub
		for _, h := range heads[1:] {
			if d := strings.Compare(h.names.At(h.next), name); d < 0 || d == 0 && sub && !h.sub {
				name, sub = h.names.At(h.next), h.sub
			}
		}
		here := cover{rank: -1}
		live := heads[:0]
		for _, h := range heads {
			if h.sub == sub && h.names.At(h.next) == name {
				here = c.join(here, cover{h.rank, h.rank < 0})
				if h.next++; h.next == h.names.Len() {
					continue
				}
			}
			live = append(live, h)
		}
		heads = live
		if !c.name(name, sub, here, fn) {
			return false
		}
	}
	return true
}

// join adds what one more source or wildcard decides.
func (c *content) join(a, b cover) cover {
	if b.rank < 0 {
		return cover{a.rank, a.allow || b.allow}
	}
	return cover{c.better(a.rank, b.rank), a.allow || b.allow}
}

// covers is what the wildcards at and above name decide (name "" has none).
func (c *content) covers(name string) cover {
	x := cover{rank: -1}
	for name != "" && len(c.wild) > 0 {
		if w, ok := c.wild[name]; ok {
			if x = c.join(x, w); x.allow {
				return x // allow wins whatever else covers it
			}
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return x
}

// name decides one name that the policy's sources hold, exactly (sub false) or with its subdomains; here
// is what they hold at it. The decisions are those of MatchName and Decide.
func (c *content) name(name string, sub bool, here cover, fn func(Entry) bool) bool {
	if !sub {
		up := c.covers(name)
		var under *Hit
		if up.rank >= 0 && !up.allow {
			under = &c.hits[up.rank]
		}
		switch {
		case here.rank >= 0 && !here.allow && !up.allow: // listed unless an allow entry covers it
			return fn(Entry{Name: name, Hit: c.hits[c.better(here.rank, up.rank)], Under: under})
		case here.allow && under != nil:
			// An exact allow matters only under a blocking wildcard that no allowing one overrides, the
			// wildcard's apex included.
			return fn(Entry{Name: name, Allow: true, Under: under})
		}
		return true
	}
	parent := ""
	if i := strings.IndexByte(name, '.'); i >= 0 {
		parent = name[i+1:]
	}
	up := c.covers(parent)
	switch {
	case here.rank >= 0 && !here.allow && !up.allow:
		return fn(Entry{Name: name, Sub: true, Hit: c.hits[c.better(here.rank, up.rank)]})
	case here.allow && up.rank >= 0 && !up.allow:
		// An allowing wildcard matters only under a blocking wildcard above it that no allowing one
		// overrides.
		return fn(Entry{Name: name, Sub: true, Allow: true})
	}
	return true
}
