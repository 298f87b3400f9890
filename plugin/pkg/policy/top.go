package policy

import (
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Lists for devices that take a plain list of one kind with a cap of their own (an External Dynamic
// List of a firewall): the policy's blocked prefixes of one family, or its blocked names, at most n of
// the entries, the highest scored first. Ties are broken by content order (address, name), the same on
// every server and at every fetch while the tied entries stay. Own block entries score MaxScore.
//
// Cost: two passes over ContentOf of the kind (a count per score, then the cut), no allocation per
// entry but for the names handed out.

// entryScore is the score of block entry e of the policy in s: the indicator's, as any list that holds
// it exactly gives it (the same in each), MaxScore for own entries; a prefix or name only covered (held
// by no blocking list exactly) takes the best of the lists' that decided it.
func (p *Policy) entryScore(s *snapshot.Snapshot, e Entry) uint8 {
	if e.Hit.ListID < 0 {
		return MaxScore
	}
	try := func(id int) (uint8, bool) {
		if e.Prefix.IsValid() {
			return s.ScorePrefix(id, e.Prefix)
		}
		return s.ScoreName(id, e.Name, e.Sub)
	}
	if sc, ok := try(e.Hit.ListID); ok {
		return sc
	}
	for id := range s.Lists {
		if p.Block.Has(id) && !s.Lists[id].Withheld {
			if sc, ok := try(id); ok {
				return sc
			}
		}
	}
	return 0
}

// blocks reports whether e is a block entry that blocks.
func blocks(e Entry) bool { return !e.Allow && e.Hit.Action.Kind.Blocks() }

// top returns a function that says of each block entry of kinds f in s, asked in content order,
// whether it is one of the n highest scored (in scores; n <= 0: all of them); ties go to the first.
func (p *Policy) top(s, scores *snapshot.Snapshot, f Families, n int) func(Entry) bool {
	if n <= 0 {
		return func(Entry) bool { return true }
	}
	var counts [MaxScore + 1]int
	p.ContentOf(s, f, func(e Entry) bool {
		if blocks(e) {
			counts[min(p.entryScore(scores, e), MaxScore)]++
		}
		return true
	})
	// The lowest score kept, and how many of that score are kept (-1: all of them).
	lowest, room, total := 0, -1, 0
	for sc := MaxScore; sc >= 0; sc-- {
		if total+counts[sc] >= n {
			lowest, room = sc, n-total
			break
		}
		total += counts[sc]
	}
	return func(e Entry) bool {
		switch sc := int(min(p.entryScore(scores, e), MaxScore)); {
		case sc < lowest:
			return false
		case sc == lowest && room >= 0:
			if room == 0 {
				return false
			}
			room--
		}
		return true
	}
}

// BlockedTop calls fn, until it returns false, with Blocked's prefixes of one family (v4: IPv4, else
// IPv6) of s made of the n highest scored block entries of that family only (n <= 0: all of them);
// allow carve-outs are cut out of them as in Blocked. scores is the snapshot whose scores rank them: s,
// or the snapshot that s (a choice by score, unscored) was chosen from. A carve-out can split one entry
// into several prefixes: the caller that must not pass n lines stops there.
func (p *Policy) BlockedTop(s, scores *snapshot.Snapshot, v4 bool, n int, fn func(netip.Prefix) bool) {
	f := Families{V4: v4, V6: !v4}
	chosen := p.top(s, scores, f, n)
	b := flattener{fn: fn, is4: v4}
	p.ContentOf(s, f, func(e Entry) bool {
		if blocks(e) && !chosen(e) {
			return true
		}
		b.entry(e)
		return !b.stopped
	})
	b.finish()
}

// NamesTop calls fn, until it returns false, with the n highest scored (in scores, as BlockedTop) of
// the policy's blocked names in s (n <= 0: all), in content order: the name, and sub for the name and
// all its subdomains (*.name). Allow carve-outs under a blocking wildcard are not among them
// (AllowedNames).
func (p *Policy) NamesTop(s, scores *snapshot.Snapshot, n int, fn func(name string, sub bool) bool) {
	chosen := p.top(s, scores, Families{Names: true}, n)
	p.ContentOf(s, Families{Names: true}, func(e Entry) bool {
		if !blocks(e) || !chosen(e) {
			return true
		}
		return fn(e.Name, e.Sub)
	})
}

// AllowedNames calls fn, until it returns false, with the policy's allow entries among its names that
// carve an exception out of a blocking wildcard (Content's allow entries, and names under one whose own
// action does not block): what a device that blocks NamesTop's wildcards must let through.
func (p *Policy) AllowedNames(s *snapshot.Snapshot, fn func(name string, sub bool) bool) {
	p.ContentOf(s, Families{Names: true}, func(e Entry) bool {
		if e.Allow || !blocks(e) && e.Under != nil && e.Under.Action.Kind.Blocks() {
			return fn(e.Name, e.Sub)
		}
		return true
	})
}
