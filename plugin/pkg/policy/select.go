package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Choosing by score. A policy with min_score or max_entries does not serve its blocking lists whole: it
// serves the entries whose score (package snapshot: how strongly the feeds that hold the indicator vouch
// for it) reaches the minimum of the entry's list's category or of the policy, and with max_entries only
// the MaxEntries highest scored of those (its own block entries count towards it, always kept). Select
// compiles that choice into a snapshot over the same list IDs, which the policy then answers from for
// everything: DNSBL lookups, its RPZ zone, list pages, firewall decisions. So they agree by construction.
//
// The choice is stable: between entries of equal score, those chosen last time stay chosen, so a
// refresh that changes a few scores moves only the entries whose scores crossed the cut, and an IXFR
// carries those, not a reshuffle of ties. Cost: one pass over the blocking lists' entries and their scores
// (a count per score, no sort), then a snapshot build of what was chosen; shared by every policy with the
// same choice (ChoiceKey).

// MaxScore is the highest score.
const MaxScore = 100

// chooses settles the policy's minimum score per list and its cap, and the key of its choice.
func (p *Policy) chooses(cfg Config, cat Catalog) error {
	if cfg.MinScore < 0 || cfg.MinScore > MaxScore {
		return fmt.Errorf("min_score %d is not from 0 to %d", cfg.MinScore, MaxScore)
	}
	if cfg.MaxEntries < 0 {
		return fmt.Errorf("max_entries %d is negative", cfg.MaxEntries)
	}
	for c, n := range cfg.MinScores {
		if n < 0 || n > MaxScore {
			return fmt.Errorf("min_score %s %d is not from 0 to %d", c, n, MaxScore)
		}
	}
	if cfg.MinScore == 0 && len(cfg.MinScores) == 0 && cfg.MaxEntries == 0 {
		return nil
	}
	p.minScore = make([]uint8, len(cat))
	for id, l := range cat {
		n, ok := cfg.MinScores[l.Category]
		if !ok {
			n = cfg.MinScore
		}
		p.minScore[id] = uint8(n)
	}
	p.maxEntries = cfg.MaxEntries
	// By list name, not ID: the key (and Def, which holds it) outlives a reload that orders lists anew.
	var uses []string
	for id, l := range cat {
		switch {
		case p.Block.Has(id):
			uses = append(uses, fmt.Sprintf("block %s %d", l.Name, p.minScore[id]))
		case p.Allow.Has(id):
			uses = append(uses, "allow "+l.Name)
		}
	}
	slices.Sort(uses)
	h := sha256.New()
	for _, u := range uses {
		h.Write([]byte(u + "\n"))
	}
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(p.maxEntries)))
	if p.maxEntries > 0 {
		// Own block entries take places under the cap: their number, not which they are, moves the cut.
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(p.own.Entries(ownBlock).Len())))
	}
	p.choice = hex.EncodeToString(h.Sum(nil)[:16])
	return nil
}

// Chooses reports whether the policy chooses its entries by score.
func (p *Policy) Chooses() bool { return p.minScore != nil }

// ChoiceKey identifies what the policy's choice depends on besides the snapshot: policies with the same
// key choose the same entries. "" when it does not choose.
func (p *Policy) ChoiceKey() string { return p.choice }

// MinScoreOf is the minimum score of list id's entries in this policy (0: every entry).
func (p *Policy) MinScoreOf(id int) uint8 {
	if p.minScore == nil || id >= len(p.minScore) {
		return 0
	}
	return p.minScore[id]
}

// MaxEntries is the policy's cap on its entries, 0 for none.
func (p *Policy) MaxEntries() int { return p.maxEntries }

// Select compiles the policy's choice of s's entries (see above) into a snapshot over the same lists: the
// blocking lists hold what was chosen, the allowing lists are s's, the others are empty. prev is the
// last choice made for the same ChoiceKey, or nil: ties keep its entries, and its parts that did not
// change are taken over.
func (p *Policy) Select(s *snapshot.Snapshot, prev *snapshot.Snapshot) *snapshot.Snapshot {
	if prev != nil && !slices.EqualFunc(prev.Lists, s.Lists, func(a, b snapshot.ListInfo) bool { return a.Name == b.Name }) {
		prev = nil // of other lists (a reload): nothing to keep
	}
	// Pass 1: count the passing indicators per score; one indicator held by several lists counts once
	// (at its first list: scores are the indicator's, the same in each).
	type cand struct {
		list  int
		kind  snapshot.Kind
		i     int
		score uint8
	}
	var counts [MaxScore + 1]int
	blocking := []int{}
	for id, l := range s.Lists {
		if p.Block.Has(id) && !l.Withheld {
			blocking = append(blocking, id)
		}
	}
	keep := make(map[int][]bool, len(blocking)) // by list: which of its entries, in Conf order, are chosen
	passes := func(id int, kind snapshot.Kind, i int) (uint8, bool) {
		sc := s.Score(id, kind, i)
		return sc, sc >= p.MinScoreOf(id)
	}
	each := func(fn func(id int, kind snapshot.Kind, i, at int)) {
		for _, id := range blocking {
			e := s.Entries(id)
			at := 0
			for i := range e.V4 {
				fn(id, snapshot.KindV4, i, at)
				at++
			}
			for i := range e.V6 {
				fn(id, snapshot.KindV6, i, at)
				at++
			}
			for i := range e.Names.Len() {
				fn(id, snapshot.KindName, i, at)
				at++
			}
			for i := range e.Wildcards.Len() {
				fn(id, snapshot.KindWildcard, i, at)
				at++
			}
		}
	}
	for _, id := range blocking {
		keep[id] = make([]bool, s.Entries(id).Len())
	}
	// first reports whether list id's entry is the indicator's first holder among the blocking lists
	// whose minimum it passes (a list that does not take it does not count it).
	first := func(id int, kind snapshot.Kind, i int) bool {
		sc := s.Score(id, kind, i)
		for _, o := range blocking {
			if o >= id {
				return true
			}
			if sc >= p.MinScoreOf(o) && held(s.Entries(o), s.Entries(id), kind, i) {
				return false
			}
		}
		return true
	}
	own := p.own.Entries(ownBlock)
	limit := p.maxEntries
	if limit > 0 {
		limit = max(0, limit-own.Len())
	}
	// An indicator the own block entries hold takes its place as one of them: listed anyway, it costs
	// the cap nothing more, so it is kept and not counted.
	ownHeld := func(id int, kind snapshot.Kind, i int) bool {
		return own.Len() > 0 && held(own, s.Entries(id), kind, i)
	}
	each(func(id int, kind snapshot.Kind, i, at int) {
		if sc, ok := passes(id, kind, i); ok {
			keep[id][at] = true
			if limit > 0 && first(id, kind, i) && !ownHeld(id, kind, i) {
				counts[sc]++
			}
		}
	})
	if p.maxEntries > 0 {
		// The cut: every indicator above score cut, and at cut the ones chosen before, then the others in
		// list and entry order, until limit.
		total, cut := 0, -1
		for sc := MaxScore; sc >= 0; sc-- {
			if total+counts[sc] >= limit {
				cut = sc
				break
			}
			total += counts[sc]
		}
		if cut >= 0 || p.maxEntries > 0 && limit == 0 {
			room := limit - total // at the cut score
			var ties []cand
			chosen := map[string]bool{} // indicators chosen, by key, so that every list holding one keeps it
			each(func(id int, kind snapshot.Kind, i, at int) {
				if !keep[id][at] || ownHeld(id, kind, i) {
					return
				}
				sc := s.Score(id, kind, i)
				switch {
				case int(sc) < cut || limit == 0:
					keep[id][at] = false
				case int(sc) == cut:
					keep[id][at] = false
					if first(id, kind, i) {
						ties = append(ties, cand{id, kind, i, sc})
					}
				}
			})
			// Those chosen last time first, then entry order: stable, and the same on every server.
			before := func(c cand) bool { return prev != nil && held(prev.Entries(c.list), s.Entries(c.list), c.kind, c.i) }
			slices.SortStableFunc(ties, func(a, b cand) int {
				ba, bb := before(a), before(b)
				switch {
				case ba && !bb:
					return -1
				case bb && !ba:
					return 1
				}
				return 0
			})
			for _, c := range ties[:min(room, len(ties))] {
				chosen[key(s.Entries(c.list), c.kind, c.i)] = true
			}
			if len(chosen) > 0 {
				each(func(id int, kind snapshot.Kind, i, at int) {
					if int(s.Score(id, kind, i)) == cut && chosen[key(s.Entries(id), kind, i)] && s.Score(id, kind, i) >= p.MinScoreOf(id) {
						keep[id][at] = true
					}
				})
			}
		}
	}
	lists := make([]snapshot.List, len(s.Lists))
	for id, l := range s.Lists {
		lists[id] = snapshot.List{Name: l.Name, Category: l.Category, Version: l.Version, Withheld: l.Withheld} // unscored: scores are s's
		switch {
		case l.Withheld:
		case p.Allow.Has(id):
			lists[id].Set = s.Entries(id)
		case p.Block.Has(id):
			set := subset(s.Entries(id), keep[id])
			if prev != nil && prev.Entries(id).Equal(set) {
				set = prev.Entries(id) // the same choice: its parts are taken over
			}
			lists[id].Set = set
		}
	}
	return snapshot.Build(lists, prev)
}

// held reports whether set o holds the entry i of the given kind of set e.
func held(o, e *entryset.Set, kind snapshot.Kind, i int) bool {
	switch kind {
	case snapshot.KindV4:
		_, ok := slices.BinarySearch(o.V4, e.V4[i])
		return ok
	case snapshot.KindV6:
		_, ok := slices.BinarySearchFunc(o.V6, e.V6[i], entryset.V6.Compare)
		return ok
	case snapshot.KindName:
		_, ok := o.Names.Search(e.Names.At(i))
		return ok
	default:
		_, ok := o.Wildcards.Search(e.Wildcards.At(i))
		return ok
	}
}

// key is entry i of e as a string, the same for the same indicator in any set.
func key(e *entryset.Set, kind snapshot.Kind, i int) string {
	switch kind {
	case snapshot.KindV4:
		return string(binary.BigEndian.AppendUint64([]byte{'4'}, e.V4[i]))
	case snapshot.KindV6:
		v := e.V6[i]
		return string(append(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{'6'}, v.Hi), v.Lo), v.Bits))
	case snapshot.KindName:
		return "n" + e.Names.At(i)
	default:
		return "w" + e.Wildcards.At(i)
	}
}

// subset is the entries of e that keep marks, in Conf order.
func subset(e *entryset.Set, keep []bool) *entryset.Set {
	out := &entryset.Set{}
	at := 0
	for _, v := range e.V4 {
		if keep[at] {
			out.V4 = append(out.V4, v)
		}
		at++
	}
	for _, v := range e.V6 {
		if keep[at] {
			out.V6 = append(out.V6, v)
		}
		at++
	}
	var names, wild []string
	for _, n := range e.Names.All() {
		if keep[at] {
			names = append(names, n)
		}
		at++
	}
	for _, n := range e.Wildcards.All() {
		if keep[at] {
			wild = append(wild, n)
		}
		at++
	}
	out.Names, out.Wildcards = entryset.NamesOf(names...), entryset.NamesOf(wild...)
	return out
}
