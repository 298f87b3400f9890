package threatstop

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// journalBlock is a block of two policies, p0 and p1, for journal tests that need no content.
func journalBlock(t *testing.T) (*state.Block, []*state.Policy) {
	t.Helper()
	st := state.NewStore()
	var ps []*state.Policy
	for _, n := range []string{"p0", "p1"} {
		p, err := policy.New(policy.Config{Name: n}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, &state.Policy{Policy: p})
	}
	return st.AddBlock(0, "journal-test", ps), ps
}

// The journal holds the last `versions` states: a serial older than those is not found (the IXFR then
// gets the whole zone), and the newest state with a serial is the one used.
func TestJournalBounds(t *testing.T) {
	j := journal{versions: 3}
	b, ps := journalBlock(t)
	for serial := uint32(1); serial <= 5; serial++ {
		j.add(&state.State{Blocks: []*state.Block{b}, Serials: []uint32{serial, 100}})
	}
	for serial, want := range map[uint32]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
		st, _, d := j.find(b, ps[0], serial, 5)
		if (st != nil) != want || (st != nil) != (d != nil) {
			t.Errorf("serial %d: found %v, want %v", serial, st != nil, want)
		}
		if st != nil && st.Serials[0] != serial {
			t.Errorf("serial %d: found the state of serial %d", serial, st.Serials[0])
		}
	}
	// Policy 1 kept serial 100 in every version: the newest of them.
	if st, _, _ := j.find(b, ps[1], 100, 100); st == nil || st.Serials[0] != 5 {
		t.Errorf("serial 100 of policy 1: %v, want the newest state", st)
	}
	// The same difference slot for the same question, computed once.
	_, _, d1 := j.find(b, ps[0], 3, 5)
	_, _, d2 := j.find(b, ps[0], 3, 5)
	if d1 != d2 {
		t.Error("two slots for the same difference")
	}
}

// The byte bound drops the oldest versions once what they hold beyond the current one passes it; the
// current version always stays, and a version that shares everything costs nothing.
func TestJournalByteBound(t *testing.T) {
	version := func(k int) *snapshot.Snapshot {
		b := &entryset.Builder{}
		for i := range 1000 {
			b.AddPrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{45, byte(k), byte(i >> 8), byte(i)}), 32))
		}
		return snapshot.Build([]snapshot.List{{Name: "l", Category: "c", Set: b.Set(), Version: uint64(k)}}, nil)
	}
	one := version(0).Unshared(nil)
	if one < 8000 {
		t.Fatalf("a snapshot of 1000 IPv4 prefixes holds %d bytes, less than its entries alone", one)
	}
	j := journal{versions: 16, maxBytes: 3 * one}
	b, ps := journalBlock(t)
	for k := range 10 {
		j.add(&state.State{Blocks: []*state.Block{b}, Snap: version(k), Serials: []uint32{uint32(k + 1), 0}})
	}
	if n := len(j.states); n != 4 {
		t.Errorf("%d versions under a bound of three versions' bytes, want 4 (the current one is free)", n)
	}
	if j.bytes > j.maxBytes || j.bytes < 2*one {
		t.Errorf("journal holds %d bytes, bound %d, one version %d", j.bytes, j.maxBytes, one)
	}
	if st, _, _ := j.find(b, ps[0], 10, 10); st == nil {
		t.Error("the current version left the journal")
	}
	// Choices by score count too: one snapshot, a new view each version.
	j = journal{versions: 16, maxBytes: 3 * one}
	s0 := version(0)
	for k := range 10 {
		j.add(&state.State{Blocks: []*state.Block{b}, Snap: s0, Views: []*snapshot.Snapshot{version(k + 1), nil}, Serials: []uint32{uint32(k + 1), 0}})
	}
	if n := len(j.states); n != 4 || j.bytes > j.maxBytes {
		t.Errorf("a new view each version: %d versions, %d bytes; want 4 under %d", n, j.bytes, j.maxBytes)
	}
	// The same snapshot again and again: nothing unshared, every version stays up to the count.
	j = journal{versions: 8, maxBytes: one / 2}
	s := version(1)
	for k := range 10 {
		j.add(&state.State{Snap: s, Serials: []uint32{uint32(k + 1)}})
	}
	if len(j.states) != 8 || j.bytes != 0 {
		t.Errorf("shared versions: %d kept, %d bytes; want 8 and 0", len(j.states), j.bytes)
	}
}

// The difference rendered from the changed region only is the difference of the whole zones: random
// policies over random lists, each round changing a few entries of some lists.
func TestRegionDiffIsWholeDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 4))
	labels := []string{"a", "b", "c"}
	var tree []string
	var grow func(n string, depth int)
	grow = func(n string, depth int) {
		tree = append(tree, n)
		if depth < 3 {
			for _, l := range labels {
				grow(l+"."+n, depth+1)
			}
		}
	}
	grow("example", 0)
	entry := func() string {
		switch r.IntN(3) {
		case 0:
			return fmt.Sprintf("45.0.%d.%d/%d", r.IntN(8), r.IntN(256), 21+r.IntN(12))
		case 1:
			return fmt.Sprintf("2a00:1450::%x/%d", r.IntN(256), 120+r.IntN(9))
		}
		n := tree[r.IntN(len(tree))]
		if r.IntN(2) == 0 {
			return "*." + n
		}
		return n
	}
	setOf := func(es []string) *entryset.Set {
		var b entryset.Builder
		for _, e := range es {
			if err := policy.AddEntry(&b, e); err != nil {
				t.Fatal(err)
			}
		}
		return b.Set()
	}
	all := policy.Families{V4: true, V6: true, Names: true}
	kinds := []string{"nxdomain", "nodata", "drop", "passthru", "log-only"}
	for round := range 200 {
		entries := make([][]string, 5)
		lists := make([]snapshot.List, 5)
		for i := range lists {
			for range r.IntN(12) {
				entries[i] = append(entries[i], entry())
			}
			lists[i] = snapshot.List{Name: fmt.Sprint("l", i), Category: fmt.Sprint("c", i%3), Set: setOf(entries[i]), Version: 1}
		}
		a := snapshot.Build(lists, nil)
		cfg := policy.Config{Name: "p", Actions: map[string]policy.Action{}}
		for i := range lists {
			switch r.IntN(3) {
			case 0, 1:
				cfg.Block = append(cfg.Block, i)
			default:
				cfg.Allow = append(cfg.Allow, i)
			}
		}
		for range r.IntN(3) {
			cfg.Blocked = append(cfg.Blocked, entry())
			cfg.Allowed = append(cfg.Allowed, entry())
		}
		for _, c := range []string{"c0", "c1", "c2", policy.CustomList} {
			act, _ := policy.ParseAction([]string{kinds[r.IntN(len(kinds))]})
			cfg.Actions[c] = act
		}
		p, err := policy.New(cfg, policy.Catalog(a.Lists))
		if err != nil {
			t.Fatal(err)
		}
		// Change one or two lists: drop some entries, add others.
		next := slices.Clone(lists)
		for range 1 + r.IntN(2) {
			i := r.IntN(len(next))
			es := slices.Clone(entries[i])
			for k := range es {
				if r.IntN(3) == 0 {
					es[k] = entry()
				}
			}
			es = append(es, entry())
			next[i] = snapshot.List{Name: lists[i].Name, Category: lists[i].Category, Set: setOf(es), Version: 2}
		}
		b := snapshot.Build(next, a)
		region := p.ChangedRegion(a, b)
		diff := func(keep func(policy.Entry) bool) (gone, came []rrHash) {
			ha, hb := zoneHashes(p, a, all, keep, "p.rpz.x.", 60), zoneHashes(p, b, all, keep, "p.rpz.x.", 60)
			return minus(ha, hb), minus(hb, ha)
		}
		g1, c1 := diff(nil)
		g2, c2 := diff(region.Holds)
		if !slices.Equal(g1, g2) || !slices.Equal(c1, c2) {
			t.Fatalf("round %d: whole zones differ by -%d +%d records, the changed region by -%d +%d\nbefore %v\nafter %v",
				round, len(g1), len(c1), len(g2), len(c2), lists, next)
		}
	}
}

// BenchmarkIXFRDiff: the difference of a 1M-entry policy zone after a change of 100 entries (50 gone, 50
// new) in its IPv4 list, computed from the changed region (region) and from the whole zones (whole).
func BenchmarkIXFRDiff(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	var old, cur entryset.Builder
	var v4 []netip.Prefix
	for range 1_000_000 {
		u := r.Uint32()
		v4 = append(v4, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(u>>24) | 1, byte(u >> 16), byte(u >> 8), byte(u)}), 32))
	}
	for i, p := range v4 {
		old.AddPrefix(p)
		if i >= 50 {
			cur.AddPrefix(p)
		}
	}
	for range 50 {
		u := r.Uint32()
		cur.AddPrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(u>>24) | 1, byte(u >> 16), byte(u >> 8), byte(u)}), 32))
	}
	sa := snapshot.Build([]snapshot.List{{Name: "l", Category: "c", Set: old.Set(), Version: 1}}, nil)
	sb := snapshot.Build([]snapshot.List{{Name: "l", Category: "c", Set: cur.Set(), Version: 2}}, sa)
	p, err := policy.New(policy.Config{Name: "p", Block: []int{0}}, policy.Catalog(sa.Lists))
	if err != nil {
		b.Fatal(err)
	}
	f := policy.Families{V4: true}
	for _, bc := range []struct {
		name string
		keep func(policy.Entry) bool
	}{{"region", p.ChangedRegion(sa, sb).Holds}, {"whole", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				if bc.name == "region" {
					bc.keep = p.ChangedRegion(sa, sb).Holds // per difference, as the journal does
				}
				ha, hb := zoneHashes(p, sa, f, bc.keep, "p.rpz.x.", 60), zoneHashes(p, sb, f, bc.keep, "p.rpz.x.", 60)
				n = len(minus(ha, hb)) + len(minus(hb, ha))
			}
			if n != 100 {
				b.Fatalf("%d records differ, want 100", n)
			}
			// What the journal holds for the old version: its IPv4 part and entry set, which the new
			// one replaced.
			b.ReportMetric(float64(sa.Unshared(sb))/1e6, "journal-MB")
		})
	}
}

// TestJournalDefault: the IXFR journal keeps old versions only where a zone can be transferred (a policy
// with keys or transfer_clients, or catalog keys), unless `journal` says otherwise.
func TestJournalDefault(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"no transfer", "policy a {\n block evil.example\n }", 1},
		{"keys", "policy a {\n block evil.example\n keys a.key.\n }", DefaultJournal},
		{"transfer_clients", "policy a {\n block evil.example\n transfer_clients 192.0.2.0/24\n }", DefaultJournal},
		{"catalog keys", "catalog_keys cat.key.\n policy a {\n block evil.example\n }", DefaultJournal},
		{"journal set", "journal 4\n policy a {\n block evil.example\n }", 4},
		{"journal set with keys", "journal 3\n policy a {\n block evil.example\n keys a.key.\n }", 3},
	} {
		ts, err := parseInput(t, "threatstop {\n "+tc.body+"\n}")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ts.journal.versions != tc.want {
			t.Errorf("%s: journal keeps %d versions, want %d", tc.name, ts.journal.versions, tc.want)
		}
	}
}
