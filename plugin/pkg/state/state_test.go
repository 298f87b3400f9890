package state

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

func set(t *testing.T, entries ...string) *entryset.Set {
	t.Helper()
	var b entryset.Builder
	for _, e := range entries {
		if err := policy.AddEntry(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	return b.Set()
}

// fixture is a store over lists a and b with two blocks: block 0 holds policy pa (list a) and pb (list
// b), block 1 holds policy pab (both lists).
func fixture(t *testing.T) (*Store, *time.Time) {
	t.Helper()
	st := NewStore()
	st.reg = &registry{recs: map[regKey]record{}} // what other tests' stores remember is not this one's
	now := time.Unix(1_800_000_000, 0)
	st.now = func() time.Time { return now }
	for _, n := range []string{"a", "b"} {
		st.AddList(snapshot.ListInfo{Name: n, Category: n})
	}
	mk := func(name string, lists ...int) *Policy {
		cfg := policy.Config{Name: name, Block: lists}
		p, err := policy.New(cfg, st.Catalog())
		if err != nil {
			t.Fatal(err)
		}
		return &Policy{Policy: p, Config: cfg}
	}
	st.AddBlock(0, "b0", []*Policy{mk("pa", 0), mk("pb", 1)})
	st.AddBlock(1, "b1", []*Policy{mk("pab", 0, 1)})
	return st, &now
}

// lists are versions va and vb of lists a and b; each version holds an entry of its own.
func lists(t *testing.T, va, vb uint64) []snapshot.List {
	return []snapshot.List{
		{Name: "a", Category: "a", Version: va, Set: set(t, "1.2.3.0/24", fmt.Sprintf("10.0.0.%d", va))},
		{Name: "b", Category: "b", Version: vb, Set: set(t, "evil.example", fmt.Sprintf("v%d.evil.example", vb))},
	}
}

// TestSerials: a policy's serial moves on only when a list it uses changes, its block's zone serial when
// one of the block's policies' did; every serial is computed once per State.
func TestSerials(t *testing.T) {
	st, now := fixture(t)
	s1 := st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	start := uint32(now.Unix())
	for i, want := range []uint32{start, start, start} {
		if s1.Serials[i] != want {
			t.Fatalf("first serials %v, want all %d", s1.Serials, start)
		}
	}
	*now = now.Add(10 * time.Second)
	s2 := st.Publish(snapshot.Build(lists(t, 2, 1), s1.Snap), nil) // list a changed
	if s2.Serials[0] != start+10 || s2.Serials[1] != start || s2.Serials[2] != start+10 {
		t.Errorf("after list a changed: serials %v, want pa and pab moved to %d, pb kept", s2.Serials, start+10)
	}
	if s2.ZoneSerials[0] != start+10 || s2.ZoneSerials[1] != start+10 {
		t.Errorf("zone serials %v, want both moved", s2.ZoneSerials)
	}
	// pb moves to the current time; pab, already at it, to one more: a serial always increases.
	s3 := st.Publish(snapshot.Build(lists(t, 2, 2), s2.Snap), nil) // list b changed
	if s3.Serials[0] != start+10 || s3.Serials[1] != start+10 || s3.Serials[2] != start+11 {
		t.Errorf("after list b changed in the same second: serials %v", s3.Serials)
	}
	if s3.Version != s2.Version+1 || st.Load() != s3 {
		t.Errorf("version %d after %d; Load is the last published: %v", s3.Version, s2.Version, st.Load() == s3)
	}
	// A withheld list (stale and dropped) changes what its policies serve.
	l := lists(t, 2, 2)
	l[0].Withheld, l[0].Set = true, nil
	s4 := st.Publish(snapshot.Build(l, s3.Snap), nil)
	if s4.Serials[0] == s3.Serials[0] || s4.Serials[1] != s3.Serials[1] {
		t.Errorf("withheld list a: serials %v after %v", s4.Serials, s3.Serials)
	}
}

func TestNextSerial(t *testing.T) {
	for _, tc := range []struct{ old, now, want uint32 }{
		{100, 200, 200},
		{200, 200, 201},
		{300, 200, 301},
		{0xffffffff, 5, 5}, // wraps: 5 is after 0xffffffff in serial arithmetic
	} {
		if got := NextSerial(tc.old, tc.now); got != tc.want {
			t.Errorf("NextSerial(%d, %d) = %d, want %d", tc.old, tc.now, got, tc.want)
		}
	}
}

func TestReadyAndLookup(t *testing.T) {
	st, _ := fixture(t)
	if s := st.Load(); s.Ready() || s.Version != 1 || len(s.Policies) != 3 {
		t.Errorf("before any snapshot: ready %v, version %d, %d policies", s.Ready(), s.Version, len(s.Policies))
	}
	l := lists(t, 1, 0) // b never loaded
	if st.Publish(snapshot.Build(l, nil), nil).Ready() {
		t.Error("ready with list b not loaded")
	}
	if !st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil).Ready() {
		t.Error("not ready with every list loaded")
	}
	s := st.Load()
	if p, amb := Unique("pab", s.Blocks); p == nil || amb || p.Block != 1 || p.Index != 2 {
		t.Errorf("Unique(pab) = %+v, %v", p, amb)
	}
	if p := s.Blocks[0].Policy("pb"); p == nil || p.Index != 1 || s.Serial(p) != s.Serials[1] {
		t.Errorf("block 0 policy pb: %+v", p)
	}
	st.AddBlock(2, "", []*Policy{{Policy: s.Policies[0].Policy}}) // a second block defining pa
	if p, amb := Unique("pa", st.Load().Blocks); p != nil || !amb {
		t.Errorf("pa in two blocks: %+v, ambiguous %v", p, amb)
	}
}

// TestSubscribe: a subscriber sees the current State at once, then every swap in order, old and new.
func TestSubscribe(t *testing.T) {
	st, _ := fixture(t)
	first := st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	var got [][2]*State
	st.Subscribe(func(old, next *State) { got = append(got, [2]*State{old, next}) })
	second := st.Publish(snapshot.Build(lists(t, 2, 1), first.Snap), nil)
	if len(got) != 2 || got[0] != [2]*State{nil, first} || got[1] != [2]*State{first, second} {
		t.Errorf("subscriber saw %v, want (nil, first) then (first, second)", got)
	}
}

func BenchmarkPublish(b *testing.B) {
	st := NewStore()
	for _, n := range []string{"a", "b"} {
		st.AddList(snapshot.ListInfo{Name: n, Category: n})
	}
	ps := make([]*Policy, 1000)
	for i := range ps {
		p, err := policy.New(policy.Config{Name: "p", Block: []int{i % 2}}, st.Catalog())
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = &Policy{Policy: p}
	}
	st.AddBlock(0, "", ps)
	snaps := []*snapshot.Snapshot{
		snapshot.Build([]snapshot.List{{Name: "a", Version: 1}, {Name: "b", Version: 1}}, nil),
		snapshot.Build([]snapshot.List{{Name: "a", Version: 2}, {Name: "b", Version: 1}}, nil),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		st.Publish(snaps[i%2], nil)
		i++
	}
}

// TestSerialsAcrossStores: a new Store (a reload) or a new process with the serial file (a restart)
// keeps the serial of every policy whose content is the same, whatever the list versions, and moves on
// the others; a new version with the same entries moves nothing; the old Store of a reload, still
// refreshing, does not overwrite what the new one remembers.
func TestSerialsAcrossStores(t *testing.T) {
	reg := &registry{recs: map[regKey]record{}}
	file := t.TempDir() + "/serials.json"
	open := func(at time.Time, persist bool) *Store {
		st, now := fixture(t)
		st.reg, *now = reg, at
		if persist {
			st.Persist(file)
		}
		return st
	}
	t0 := time.Unix(1_800_000_000, 0)
	first := open(t0, true)
	s1 := first.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	same := first.Publish(snapshot.Build(lists(t, 1, 1), s1.Snap), nil)
	if !slicesEqual(same.Serials, s1.Serials) {
		t.Errorf("the same entries as a new version moved serials %v to %v", s1.Serials, same.Serials)
	}

	// A reload a minute later: list b has changed meanwhile; the versions start again from 1.
	reload := open(t0.Add(time.Minute), false)
	r1 := reload.Publish(snapshot.Build(lists(t, 1, 2), nil), nil)
	if r1.Serials[0] != s1.Serials[0] {
		t.Errorf("reload: pa (list a unchanged) serial %d, want %d", r1.Serials[0], s1.Serials[0])
	}
	for _, i := range []int{1, 2} {
		if int32(r1.Serials[i]-s1.Serials[i]) <= 0 {
			t.Errorf("reload: policy %d (list b changed) serial %d, not after %d", i, r1.Serials[i], s1.Serials[i])
		}
	}
	if r1.ZoneSerials[0] == s1.ZoneSerials[0] || r1.ZoneSerials[1] == s1.ZoneSerials[1] {
		t.Errorf("reload: zone serials %v, both should move from %v", r1.ZoneSerials, s1.ZoneSerials)
	}
	// The old configuration refreshes once more before it stops: it must not win.
	first.Publish(snapshot.Build(lists(t, 3, 3), s1.Snap), nil)
	again := open(t0.Add(2*time.Minute), false)
	if a := again.Publish(snapshot.Build(lists(t, 1, 2), nil), nil); !slicesEqual(a.Serials, r1.Serials) {
		t.Errorf("after the old store refreshed: serials %v, want the reload's %v", a.Serials, r1.Serials)
	}

	// A restart: a fresh process knows only the file, which the first store wrote; list a is as it was.
	reg = &registry{recs: map[regKey]record{}}
	restart := open(t0.Add(time.Hour), true)
	if r := restart.Publish(snapshot.Build(lists(t, 1, 1), nil), nil); !slicesEqual(r.Serials, s1.Serials) || !slicesEqual(r.ZoneSerials, s1.ZoneSerials) {
		t.Errorf("restart with the same content: serials %v %v, want %v %v", r.Serials, r.ZoneSerials, s1.Serials, s1.ZoneSerials)
	}
	// A damaged file is ignored: serials start afresh.
	if err := os.WriteFile(file, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg = &registry{recs: map[regKey]record{}}
	later := t0.Add(2 * time.Hour)
	if r := open(later, true).Publish(snapshot.Build(lists(t, 1, 1), nil), nil); r.Serials[0] != uint32(later.Unix()) {
		t.Errorf("damaged file: serial %d, want %d", r.Serials[0], later.Unix())
	}
}

func slicesEqual(a, b []uint32) bool { return slices.Equal(a, b) }

// TestEdit: an edit of one policy publishes a State in which that policy answers its new definition and
// only its serial (and its block's zone serial) moves; the State before it still answers the old one; an
// edit that fails, or that changes nothing, moves nothing.
func TestEdit(t *testing.T) {
	st, now := fixture(t)
	var seen [][2]*State
	st.Subscribe(func(old, next *State) { seen = append(seen, [2]*State{old, next}) })
	s1 := st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	*now = now.Add(5 * time.Second)
	addr := netip.MustParseAddr("198.51.100.7")
	s2, err := st.Edit(0, "pb", func(c *policy.Config) error {
		c.Blocked = append(c.Blocked, "198.51.100.7")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Load() != s2 || seen[len(seen)-1] != [2]*State{s1, s2} {
		t.Fatal("the edit's State is not the current one, or the subscribers did not see it")
	}
	pb := s2.Blocks[0].Policy("pb")
	if pb == nil || s2.Policies[1] != pb || !pb.MatchAddr(s2.Snap, addr).Listed {
		t.Errorf("the edited policy does not list the new entry in the new State")
	}
	if s1.Blocks[0].Policy("pb").MatchAddr(s1.Snap, addr).Listed || s1.Policies[1].MatchAddr(s1.Snap, addr).Listed {
		t.Error("the State before the edit lists the new entry")
	}
	if !slices.Equal(s2.Serials, []uint32{s1.Serials[0], s1.Serials[1] + 5, s1.Serials[2]}) {
		t.Errorf("serials %v after editing pb, want %v with pb's moved on", s2.Serials, s1.Serials)
	}
	if s2.ZoneSerials[0] == s1.ZoneSerials[0] || s2.ZoneSerials[1] != s1.ZoneSerials[1] {
		t.Errorf("zone serials %v -> %v, want block 0's alone moved", s1.ZoneSerials, s2.ZoneSerials)
	}
	// A refresh after the edit keeps the edited definition.
	s3 := st.Publish(snapshot.Build(lists(t, 2, 1), s2.Snap), nil)
	if !s3.Policies[1].MatchAddr(s3.Snap, addr).Listed || s3.Serials[1] != s2.Serials[1] {
		t.Errorf("after a refresh of list a: pb lists the entry %v, serial %d (want %d)",
			s3.Policies[1].MatchAddr(s3.Snap, addr).Listed, s3.Serials[1], s2.Serials[1])
	}
	n := len(seen)
	if _, err := st.Edit(0, "pb", func(c *policy.Config) error { c.Blocked = append(c.Blocked, "not an entry!"); return nil }); err == nil {
		t.Error("an invalid entry was accepted")
	}
	if _, err := st.Edit(0, "pb", func(*policy.Config) error { return fmt.Errorf("no") }); err == nil {
		t.Error("fn's error was not returned")
	}
	if _, err := st.Edit(1, "pb", func(*policy.Config) error { return nil }); err == nil {
		t.Error("a policy of another block was edited")
	}
	if len(seen) != n || st.Load() != s3 {
		t.Error("a failed edit published a State")
	}
	// An edit that changes nothing keeps every serial.
	s4, err := st.Edit(0, "pb", func(*policy.Config) error { return nil })
	if err != nil || !slices.Equal(s4.Serials, s3.Serials) {
		t.Errorf("an empty edit: %v, serials %v -> %v", err, s3.Serials, s4.Serials)
	}
	// The Config of the State before an edit is not changed by it.
	if slices.Contains(s1.Policies[1].Config.Blocked, "198.51.100.7") {
		t.Error("the edit changed the Config of an earlier State")
	}
}

// TestAddRemovePolicy: a policy added while serving answers its definition with the template's keys and
// origins; removing one before others keeps every other policy's serial (the indices after it move) and
// moves the block's zone serial; a name that exists, or a template that does not, is refused.
func TestAddRemovePolicy(t *testing.T) {
	st, now := fixture(t)
	s1 := st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	st.blocks[0].byName["pa"].RPZSuffixes = &[]string{".rpz.z."} // what threatstop sets
	*now = now.Add(5 * time.Second)
	s2, err := st.AddPolicy(0, "pa", policy.Config{Name: "pnew", Block: []int{1}, Blocked: []string{"198.51.100.7"}})
	if err != nil {
		t.Fatal(err)
	}
	pn := s2.Blocks[0].Policy("pnew")
	if pn == nil || s2.Policies[pn.Index] != pn || pn.Index != 3 || !pn.MatchAddr(s2.Snap, netip.MustParseAddr("198.51.100.7")).Listed {
		t.Fatalf("the added policy: %+v", pn)
	}
	if !slices.Equal(pn.RPZOrigins(), []string{"pnew.rpz.z."}) {
		t.Errorf("origins %q", pn.RPZOrigins())
	}
	if !slices.Equal(s2.Serials[:3], s1.Serials) || s2.Serials[3] != s1.Serials[0]+5 {
		t.Errorf("serials %v -> %v", s1.Serials, s2.Serials)
	}
	if s2.ZoneSerials[0] == s1.ZoneSerials[0] || s2.ZoneSerials[1] != s1.ZoneSerials[1] {
		t.Errorf("zone serials %v -> %v, want block 0's alone moved", s1.ZoneSerials, s2.ZoneSerials)
	}
	if _, err := st.AddPolicy(0, "pa", policy.Config{Name: "pb"}); err == nil {
		t.Error("a second pb was added")
	}
	if _, err := st.AddPolicy(0, "nope", policy.Config{Name: "px"}); err == nil {
		t.Error("added like a policy that does not exist")
	}
	// Remove pa, the first: pb, pab and pnew move down one index and keep their serials.
	*now = now.Add(5 * time.Second)
	s3, err := st.RemovePolicy(0, "pa")
	if err != nil {
		t.Fatal(err)
	}
	if s3.Blocks[0].Policy("pa") != nil || len(s3.Policies) != 3 {
		t.Fatalf("pa still there: %v", s3.PolicyNames())
	}
	for _, name := range []string{"pb", "pnew"} {
		p, o := s3.Blocks[0].Policy(name), s2.Blocks[0].Policy(name)
		if s3.Policies[p.Index] != p || s3.Serial(p) != s2.Serial(o) {
			t.Errorf("%s: index %d, serial %d -> %d", name, p.Index, s2.Serial(o), s3.Serial(p))
		}
	}
	if p := s3.Blocks[1].Policy("pab"); s3.Serial(p) != s2.Serial(s2.Blocks[1].Policy("pab")) || s3.Policies[p.Index] != p {
		t.Error("pab of the other block moved")
	}
	if s3.ZoneSerials[0] == s2.ZoneSerials[0] || s3.ZoneSerials[1] != s2.ZoneSerials[1] {
		t.Errorf("zone serials %v -> %v", s2.ZoneSerials, s3.ZoneSerials)
	}
	// A refresh after both keeps what they did.
	s4 := st.Publish(snapshot.Build(lists(t, 2, 1), s3.Snap), nil)
	if s4.Blocks[0].Policy("pnew") == nil || s4.Blocks[0].Policy("pa") != nil || s4.Serial(s4.Blocks[0].Policy("pnew")) != s3.Serial(s3.Blocks[0].Policy("pnew")) {
		t.Errorf("after a refresh: %v", s4.PolicyNames())
	}
	// The State before the removal still holds pa, at its index.
	if p := s2.Blocks[0].Policy("pa"); p == nil || s2.Policies[p.Index] != p {
		t.Error("the removal changed an earlier State")
	}
}

// TestAddKeys: a device's key transfers the policy like its own keys, and moves no serial.
func TestAddKeys(t *testing.T) {
	st, now := fixture(t)
	s1 := st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	*now = now.Add(5 * time.Second)
	if err := st.AddKeys(0, "pb", []string{"dev.pb.key."}); err != nil {
		t.Fatal(err)
	}
	s2 := st.Load()
	if s2 == s1 || !s2.Blocks[0].Policy("pb").Keys["dev.pb.key."] || !s2.Policies[1].Keys["dev.pb.key."] {
		t.Fatalf("the new State's pb has keys %v", s2.Blocks[0].Policy("pb").KeyNames())
	}
	if s1.Blocks[0].Policy("pb").Keys["dev.pb.key."] {
		t.Error("the key reached the State from before")
	}
	if !slices.Equal(s2.Serials, s1.Serials) {
		t.Errorf("serials %v -> %v: a key is no content", s1.Serials, s2.Serials)
	}
	if err := st.AddKeys(0, "nope", []string{"x."}); err == nil {
		t.Error("a key for no policy was accepted")
	}
}

// TestApply: one batch edits, adds (one like a policy added in the same batch) and removes, and publishes
// one State; only the changed policies' serials move; a batch with one bad change changes nothing.
func TestApply(t *testing.T) {
	st, now := fixture(t)
	s1 := st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	st.blocks[0].byName["pb"].RPZSuffixes = &[]string{".rpz.z."}
	published := 0
	st.Subscribe(func(old, next *State) { published++ })
	published = 0
	*now = now.Add(5 * time.Second)
	s2, err := st.Apply(0, []Change{
		{Config: policy.Config{Name: "pb", Block: []int{1}, Blocked: []string{"198.51.100.7"}}},
		{Config: policy.Config{Name: "n1", Block: []int{0}}, Like: "pb"},
		{Config: policy.Config{Name: "n2", Block: []int{1}}, Like: "n1"},
		{Config: policy.Config{Name: "pa"}, Remove: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if published != 1 {
		t.Errorf("%d States published, want 1", published)
	}
	if got := s2.PolicyNames(); !slices.Equal(got, []string{"pb", "pab", "n1", "n2"}) {
		t.Fatalf("policies %v", got)
	}
	for i, p := range s2.Policies {
		if p.Index != i || s2.Blocks[p.Block].Policy(p.Name) != p {
			t.Errorf("%s: index %d at %d, or not its block's", p.Name, p.Index, i)
		}
	}
	pb := s2.Blocks[0].Policy("pb")
	if !pb.MatchAddr(s2.Snap, netip.MustParseAddr("198.51.100.7")).Listed || s2.Serial(pb) == s1.Serial(s1.Blocks[0].Policy("pb")) {
		t.Errorf("pb's edit: serial %d", s2.Serial(pb))
	}
	if n2 := s2.Blocks[0].Policy("n2"); !slices.Equal(n2.RPZOrigins(), []string{"n2.rpz.z."}) || !n2.MatchName(s2.Snap, "evil.example").Listed {
		t.Errorf("n2, like n1 like pb: origins %q", n2.RPZOrigins())
	}
	if p := s2.Blocks[1].Policy("pab"); s2.Serial(p) != s1.Serial(s1.Blocks[1].Policy("pab")) {
		t.Error("the other block's policy moved")
	}
	// One bad change (an answer outside 127/8) and nothing changes.
	published = 0
	_, err = st.Apply(0, []Change{
		{Config: policy.Config{Name: "n1", Block: []int{1}}},
		{Config: policy.Config{Name: "n3", Answers: map[string]string{"default": "10.0.0.1"}}, Like: "pb"},
	})
	if err == nil || published != 0 || st.Load() != s2 {
		t.Errorf("a batch with a bad answer: %v, %d published", err, published)
	}
	for _, bad := range [][]Change{
		{{Config: policy.Config{Name: "gone"}, Remove: true}},
		{{Config: policy.Config{Name: "n4"}, Like: "nope"}},
		{{Config: policy.Config{Name: "pb"}, Remove: true}, {Config: policy.Config{Name: "n5"}, Like: "pb"}},
	} {
		if _, err := st.Apply(0, bad); err == nil || st.Load() != s2 {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// TestSerialsOldFile: a serial file of an earlier version (identities as keys, whole sums) still gives a
// restart the serials it had.
func TestSerialsOldFile(t *testing.T) {
	st, _ := fixture(t)
	s1 := st.Publish(snapshot.Build(lists(t, 1, 1), nil), nil)
	old := map[string]fileRecord{}
	for _, p := range s1.Policies {
		old["policy "+s1.Blocks[p.Block].Key+" "+p.Name] = fileRecord{Serial: s1.Serials[p.Index], Sum: hex.EncodeToString(s1.Sums[p.Index][:])}
	}
	file := filepath.Join(t.TempDir(), "serials.json")
	if err := writeSerials(file, old); err != nil {
		t.Fatal(err)
	}
	restart, now := fixture(t)
	*now = now.Add(time.Hour)
	restart.Persist(file)
	if r := restart.Publish(snapshot.Build(lists(t, 1, 1), nil), nil); !slicesEqual(r.Serials, s1.Serials) {
		t.Errorf("serials %v from an old file, want %v", r.Serials, s1.Serials)
	}
}
