package state

import (
	"fmt"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// TestChoiceAcrossStores: a policy with max_entries answers from its choice (SnapOf), and a new Store (a
// reload) keeps the ties the last one chose, although new entries that sort first tie with them:
// that is what it serves.
func TestChoiceAcrossStores(t *testing.T) {
	entries := func(from, n int) []string {
		var out []string
		for i := from; i < from+n; i++ {
			out = append(out, fmt.Sprintf("45.1.%d.%d", i/256, i%256))
		}
		return out
	}
	newStore := func() *Store {
		st := NewStore()
		st.reg = &registry{recs: map[regKey]record{}}
		st.AddList(snapshot.ListInfo{Name: "a", Category: "a"})
		cfg := policy.Config{Name: "capped", Block: []int{0}, MaxEntries: 10}
		p, err := policy.New(cfg, st.Catalog())
		if err != nil {
			t.Fatal(err)
		}
		st.AddBlock(0, "b0", []*Policy{{Policy: p, Config: cfg}})
		return st
	}
	publish := func(st *Store, es []string, version uint64) *State {
		return st.Publish(snapshot.Build([]snapshot.List{{Name: "a", Category: "a", Version: version, Set: set(t, es...), Confidence: 50}}, nil), nil)
	}
	first := publish(newStore(), entries(100, 20), 1)
	p := first.Policies[0]
	if first.SnapOf(p) == first.Snap || first.SnapOf(p).Entries(0).Len() != 10 {
		t.Fatalf("the choice: %d entries", first.SnapOf(p).Entries(0).Len())
	}
	// A reload: a new Store, and five new entries at the same score that sort before the others; the
	// new Store is read (its placeholder State) before its first snapshot, as a plugin may at start-up.
	ns := newStore()
	ns.Load()
	next := publish(ns, append(entries(0, 5), entries(100, 20)...), 2)
	if !first.SnapOf(p).Entries(0).Equal(next.SnapOf(next.Policies[0]).Entries(0)) {
		t.Errorf("the reload chose otherwise: %v, was %v", next.SnapOf(next.Policies[0]).Entries(0).V4, first.SnapOf(p).Entries(0).V4)
	}
}
