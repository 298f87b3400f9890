package policy

import (
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Blocked calls fn, until it returns false, with the minimal set of disjoint prefixes, IPv4 then IPv6
// in ascending order, that holds exactly the addresses the policy blocks: its content flattened for a
// device that knows no exceptions (an address object, an ipset). Allow carve-outs and entries whose
// action does not block are cut out of the prefixes around them, a prefix inside a blocked one is
// absorbed, and adjacent blocked prefixes merge.
//
// Cost: one pass over Content's prefixes with a stack of the prefixes around the current one; a run of
// blocked addresses becomes prefixes when it ends. No allocation per entry.
func (p *Policy) Blocked(s *snapshot.Snapshot, fn func(netip.Prefix) bool) {
	for _, v4 := range []bool{true, false} {
		f := Families{V4: v4, V6: !v4}
		b := flattener{fn: fn, is4: v4}
		p.ContentOf(s, f, func(e Entry) bool {
			b.entry(e)
			return !b.stopped
		})
		if b.finish(); b.stopped {
			return
		}
	}
}

// flattener turns prefixes in Content's order (every prefix before those it covers) into runs of
// blocked addresses: each address is decided by the innermost prefix that holds it.
type flattener struct {
	fn      func(netip.Prefix) bool
	is4     bool
	stopped bool

	stack  []span    // the prefixes around the current one, innermost last
	pos    cidr.U128 // the first address the stack's top has not decided yet
	run    bool      // a run of blocked addresses is open
	rs, re cidr.U128 // its first and last address
}

type span struct {
	end   cidr.U128
	block bool
}

func (b *flattener) entry(e Entry) {
	s := cidr.FromAddr(e.Prefix.Masked().Addr())
	for len(b.stack) > 0 && b.stack[len(b.stack)-1].end.Less(s) {
		b.pop()
	}
	if n := len(b.stack); n > 0 && b.pos.Less(s) {
		b.decide(b.pos, s.Dec(), b.stack[n-1].block)
	}
	b.stack = append(b.stack, span{end: cidr.FromAddr(cidr.Last(e.Prefix)), block: !e.Allow && e.Hit.Action.Kind.Blocks()})
	b.pos = s
}

// pop closes the innermost prefix: what it has not handed to inner ones it decides itself.
func (b *flattener) pop() {
	top := b.stack[len(b.stack)-1]
	b.stack = b.stack[:len(b.stack)-1]
	if !top.end.Less(b.pos) {
		b.decide(b.pos, top.end, top.block)
	}
	b.pos = top.end.Inc() // wraps only past the last address, when the stack is then empty
}

func (b *flattener) decide(lo, hi cidr.U128, block bool) {
	if !block {
		return
	}
	if b.run && b.re.Inc() == lo && lo != (cidr.U128{}) {
		b.re = hi
		return
	}
	b.flush()
	b.run, b.rs, b.re = true, lo, hi
}

func (b *flattener) flush() {
	if !b.run || b.stopped {
		return
	}
	b.run = false
	cidr.Range(b.rs.Addr(b.is4), b.re.Addr(b.is4), func(p netip.Prefix) bool {
		if !b.fn(p) {
			b.stopped = true
		}
		return !b.stopped
	})
}

func (b *flattener) finish() {
	for len(b.stack) > 0 {
		b.pop()
	}
	b.flush()
}
