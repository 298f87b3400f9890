package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// scoredLists deals n addresses and n names over lists of other confidences, each entry to one to three
// lists, so that scores vary.
func scoredLists(r *rand.Rand, n int) []snapshot.List {
	const lists = 4
	bs := make([]entryset.Builder, lists)
	for i := range n {
		a := netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)})
		name := fmt.Sprintf("h%d.example", i)
		for range 1 + r.IntN(3) {
			l := r.IntN(lists)
			bs[l].AddAddr(a)
			bs[l].AddName(name, i%7 == 0)
		}
	}
	out := make([]snapshot.List, lists)
	for i := range bs {
		out[i] = snapshot.List{Name: fmt.Sprint("l", i), Category: fmt.Sprint("c", i%2), Set: bs[i].Set(), Confidence: uint8(20 + 20*i), Version: 1}
	}
	return out
}

// indicators is what view's blocking lists hold, each indicator once, with its score in s.
func indicators(p *Policy, s, view *snapshot.Snapshot) map[string]uint8 {
	out := map[string]uint8{}
	for id := range view.Lists {
		if !p.Block.Has(id) {
			continue
		}
		e := view.Entries(id)
		for _, v := range e.V4 {
			sc, _ := s.ScorePrefix(id, entryset.UnpackV4(v))
			out["4"+entryset.UnpackV4(v).String()] = sc
		}
		for _, n := range e.Names.All() {
			sc, _ := s.ScoreName(id, n, false)
			out["n"+n] = sc
		}
		for _, n := range e.Wildcards.All() {
			sc, _ := s.ScoreName(id, n, true)
			out["w"+n] = sc
		}
	}
	return out
}

// TestSelect: max_entries keeps exactly that many indicators, none scored below one left out; min_score
// per category cuts each list at its own minimum; a new snapshot whose scores did not change keeps the
// same choice although its ties could be broken otherwise.
func TestSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	lists := scoredLists(r, 3000)
	s := snapshot.Build(lists, nil)
	p, err := New(Config{Name: "p", Block: []int{0, 1, 2, 3}, MaxEntries: 1000, Blocked: []string{"own.example"}}, Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	view := p.Select(s, nil)
	got := indicators(p, s, view)
	if len(got) != 999 { // the own entry takes one place
		t.Fatalf("max_entries 1000 with one own entry: %d indicators", len(got))
	}
	lowest := uint8(100)
	for _, sc := range got {
		lowest = min(lowest, sc)
	}
	all := indicators(p, s, s)
	for k, sc := range all {
		if _, in := got[k]; !in && sc > lowest {
			t.Fatalf("%s scores %d and is left out, while one at %d is in", k, sc, lowest)
		}
	}
	// What the policy answers from the view is what the view's content says.
	for k := range all {
		if k[0] != '4' {
			continue
		}
		_, in := got[k]
		if v := p.MatchAddr(view, netip.MustParsePrefix(k[1:]).Addr()); v.Listed != in {
			t.Fatalf("%s: listed %v, chosen %v", k, v.Listed, in)
		}
	}
	// The same lists in new sets (a refresh that changed nothing): the same choice, taken over.
	again := snapshot.Build(lists, s)
	if next := p.Select(again, view); len(indicators(p, again, next)) != 999 {
		t.Fatal("second choice")
	} else {
		for k := range indicators(p, again, next) {
			if _, ok := got[k]; !ok {
				t.Fatalf("%s chosen the second time only", k)
			}
		}
	}

	q, _ := New(Config{Name: "q", Block: []int{0, 1, 2, 3}, MinScore: 70, MinScores: map[string]int{"c1": 40}}, Catalog(s.Lists))
	qv := q.Select(s, nil)
	for id := range s.Lists {
		e := s.Entries(id)
		for _, v := range e.V4 {
			_, kept := qv.ScorePrefix(id, entryset.UnpackV4(v))
			sc, _ := s.ScorePrefix(id, entryset.UnpackV4(v))
			want := int(sc) >= 70
			if s.Lists[id].Category == "c1" {
				want = sc >= 40
			}
			if kept != want {
				t.Fatalf("list %d (%s), %s at %d: kept %v", id, s.Lists[id].Category, entryset.UnpackV4(v), sc, kept)
			}
		}
	}
}

// TestSelectMinScoreAndCap: an indicator held by a list whose minimum it fails and by one whose minimum
// it passes counts, and is served, once; the cap is not spent on lists that would not take it.
func TestSelectMinScoreAndCap(t *testing.T) {
	var a, b entryset.Builder
	for _, s := range []string{"198.51.100.1", "198.51.100.2"} {
		a.AddAddr(netip.MustParseAddr(s))
		b.AddAddr(netip.MustParseAddr(s))
	}
	s := snapshot.Build([]snapshot.List{
		{Name: "strict", Category: "hard", Set: a.Set(), Confidence: 50, Version: 1},
		{Name: "lax", Category: "soft", Set: b.Set(), Confidence: 20, Version: 1},
	}, nil)
	// An own block entry that a list holds too: one indicator, one place under the cap.
	o, err := New(Config{Name: "o", Block: []int{0, 1}, MaxEntries: 2, Blocked: []string{"198.51.100.1"}}, Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	if got := indicators(o, s, o.Select(s, nil)); len(got) != 2 {
		t.Errorf("max_entries 2 with an own entry a list holds: %d list indicators, want both (the own one among them)", len(got))
	}
	p, err := New(Config{Name: "p", Block: []int{0, 1}, MaxEntries: 1, MinScores: map[string]int{"hard": 80}}, Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	view := p.Select(s, nil)
	if n := view.Entries(0).Len(); n != 0 {
		t.Fatalf("strict list (min 80, scores 60) serves %d entries", n)
	}
	if n := view.Entries(1).Len(); n != 1 {
		t.Fatalf("max_entries 1: lax list serves %d entries, want 1", n)
	}
}

// BenchmarkSelect: max_entries 150,000 over 2.1M entries (BenchmarkContent's data with confidences).
func BenchmarkSelect(b *testing.B) {
	_, s := benchPolicy(b)
	lists := make([]snapshot.List, len(s.Lists))
	for id, l := range s.Lists {
		lists[id] = snapshot.List{Name: l.Name, Category: l.Category, Set: s.Entries(id), Confidence: uint8(30 + 10*id)}
	}
	s = snapshot.Build(lists, nil)
	p, _ := New(Config{Name: "p", Block: []int{1, 2, 3}, Allow: []int{0}, MaxEntries: 150_000}, Catalog(s.Lists))
	var prev *snapshot.Snapshot
	for b.Loop() {
		prev = p.Select(s, prev)
	}
}
