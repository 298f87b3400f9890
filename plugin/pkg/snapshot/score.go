package snapshot

import (
	"net/netip"
	"slices"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// Scores. Every entry of every list gets a score from 0 to 100 at Build: how strongly the lists that hold
// that same indicator (the same prefix, or the same name, exactly or with its subdomains) vouch for it,
// each as an independent source: 1 − Π(1 − cᵢ), with cᵢ the entry's own confidence in list i (Set.Conf:
// aged, or counted by sensors) or else the list's Confidence. A list counts once per indicator. Scoring
// happens inside the merges that build the parts, so it costs one byte per entry and a multiplication
// per list holding it; see BenchmarkBuild and BenchmarkBuildUnscored.

// Kind is a kind of entry of a list's set.
type Kind uint8

// The kinds of entries, in the order of a Set's Conf.
const (
	KindV4 Kind = iota
	KindV6
	KindName
	KindWildcard
)

// scorer scores the entries of one part: one source per list for prefixes, two (names, wildcards) for
// names.
type scorer struct {
	per  int       // sources per list: 1, or 2 for names (names, wildcards)
	def  []float32 // per source: 1 − the list's confidence
	conf [][]uint8 // per source: the entries' own confidences, nil for none
	out  [][]uint8 // per source, per entry: the score
}

// newScorer returns the scorer of part k, nil when no list has a confidence (nothing to score).
func newScorer(lists []List, k int) *scorer {
	scored := false
	for _, l := range lists {
		scored = scored || l.Confidence > 0 || l.Set.Conf != nil
	}
	if !scored {
		return nil
	}
	sc := &scorer{per: 1}
	if k == partNames {
		sc.per = 2
	}
	add := func(l List, from, n int) {
		sc.def = append(sc.def, 1-float32(min(l.Confidence, 100))/100)
		var c []uint8
		if l.Set.Conf != nil {
			c = l.Set.Conf[from : from+n]
		}
		sc.conf = append(sc.conf, c)
		sc.out = append(sc.out, make([]uint8, n))
	}
	for _, l := range lists {
		e := l.Set
		nv4, nv6, nn := len(e.V4), len(e.V6), e.Names.Len()
		switch k {
		case partV4:
			add(l, 0, nv4)
		case partV6:
			add(l, nv4, nv6)
		default:
			add(l, nv4+nv6, nn)
			add(l, nv4+nv6+nn, e.Wildcards.Len())
		}
	}
	return sc
}

// flat returns the score of each source when every entry of a source has the same one: at most one
// list has entries in the part, and no confidences of its own (a part that one feed alone fills, as the
// IPv4 part when the other feeds hold names; a list vouches once for a name it holds both ways). Else,
// or for a nil scorer, nil.
func (sc *scorer) flat() []uint8 {
	if sc == nil {
		return nil
	}
	filled := -1
	for src, out := range sc.out {
		if len(out) == 0 {
			continue
		}
		l := src / sc.per
		if sc.conf[src] != nil || filled >= 0 && filled != l {
			return nil
		}
		filled = l
	}
	flat := make([]uint8, len(sc.def))
	for src, keep := range sc.def {
		flat[src] = scoreOf(keep)
	}
	return flat
}

// keep is 1 − the confidence of the entry at pos of source src.
func (sc *scorer) keep(src, pos int) float32 {
	if c := sc.conf[src]; c != nil {
		return 1 - float32(c[pos])/255
	}
	return sc.def[src]
}

// scoreOf turns what the sources leave unvouched (Π(1 − cᵢ)) into a score.
func scoreOf(keep float32) uint8 { return uint8(100*(1-keep) + 0.5) }

// Scored reports whether the snapshot has scores: some list has a confidence.
func (s *Snapshot) Scored() bool {
	for _, p := range s.parts {
		if p.scores != nil || p.flat != nil {
			return true
		}
	}
	return false
}

// Score is the score of entry i of the given kind of list id's entries (Entries(id)); 0 when unscored.
func (s *Snapshot) Score(id int, kind Kind, i int) uint8 {
	var p *part
	src := id
	switch kind {
	case KindV4:
		p = s.parts[partV4]
	case KindV6:
		p = s.parts[partV6]
	default:
		p, src = s.parts[partNames], 2*id+int(kind-KindName)
	}
	if p.flat != nil {
		if src >= len(p.flat) {
			return 0
		}
		return p.flat[src]
	}
	if p.scores == nil || i >= len(p.scores[src]) {
		return 0
	}
	return p.scores[src][i]
}

// ScorePrefix is the score of list id's entry p (masked), and whether the list holds p.
func (s *Snapshot) ScorePrefix(id int, p netip.Prefix) (uint8, bool) {
	e := s.input[id]
	if a := p.Addr(); a.Is4() {
		i, ok := slices.BinarySearch(e.V4, entryset.PackV4(p))
		if !ok {
			return 0, false
		}
		return s.Score(id, KindV4, i), true
	}
	i, ok := slices.BinarySearchFunc(e.V6, entryset.PackV6(p), entryset.V6.Compare)
	if !ok {
		return 0, false
	}
	return s.Score(id, KindV6, i), true
}

// ScoreName is the score of list id's entry name (sub: *.name), and whether the list holds it.
func (s *Snapshot) ScoreName(id int, name string, sub bool) (uint8, bool) {
	e, kind := s.input[id].Names, KindName
	if sub {
		e, kind = s.input[id].Wildcards, KindWildcard
	}
	i, ok := e.Search(name)
	if !ok {
		return 0, false
	}
	return s.Score(id, kind, i), true
}
