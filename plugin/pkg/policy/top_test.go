package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// TestTop: the n best scored entries of one kind, own entries first, ties in content order, allow
// carve-outs cut out as Blocked does; n <= 0 is Blocked itself.
func TestTop(t *testing.T) {
	var a, b entryset.Builder
	for _, p := range []string{"45.0.0.1/32", "45.0.1.0/24"} {
		a.AddPrefix(netip.MustParsePrefix(p))
	}
	for _, p := range []string{"45.0.0.2/32", "45.0.1.0/24", "45.0.2.0/24"} {
		b.AddPrefix(netip.MustParsePrefix(p))
	}
	a.AddName("bad.a.example", false)
	b.AddName("wild.b.example", true)
	b.AddName("low.b.example", false)
	s := snapshot.Build([]snapshot.List{
		{Name: "a", Category: "c", Set: a.Set(), Confidence: 90, Version: 1},
		{Name: "b", Category: "c", Set: b.Set(), Confidence: 30, Version: 1},
	}, nil)
	p, err := New(Config{Name: "p", Block: []int{0, 1}, Blocked: []string{"46.0.0.1", "evil.own.example"}, Allowed: []string{"45.0.1.128/25"}}, Catalog(s.Lists))
	if err != nil {
		t.Fatal(err)
	}
	top := func(n int) []string {
		var out []string
		p.BlockedTop(s, s, true, n, func(q netip.Prefix) bool { out = append(out, q.String()); return true })
		return out
	}
	for n, want := range map[int][]string{
		1: {"46.0.0.1/32"},
		2: {"45.0.1.0/25", "46.0.0.1/32"},                               // 45.0.1.0/24 held by both: 93
		3: {"45.0.0.1/32", "45.0.1.0/25", "46.0.0.1/32"},                // then a's 90
		4: {"45.0.0.1/32", "45.0.0.2/32", "45.0.1.0/25", "46.0.0.1/32"}, // then the first at 30
		0: {"45.0.0.1/32", "45.0.0.2/32", "45.0.1.0/25", "45.0.2.0/24", "46.0.0.1/32"},
	} {
		if got := top(n); !slices.Equal(got, want) {
			t.Errorf("top %d: %v, want %v", n, got, want)
		}
	}
	var all []string
	p.Blocked(s, func(q netip.Prefix) bool {
		if q.Addr().Is4() {
			all = append(all, q.String())
		}
		return true
	})
	if !slices.Equal(all, top(0)) {
		t.Errorf("Blocked %v, top 0 %v", all, top(0))
	}
	names := func(n int) []string {
		var out []string
		p.NamesTop(s, s, n, func(name string, sub bool) bool { out = append(out, fmt.Sprintf("%s %v", name, sub)); return true })
		return out
	}
	if got := names(2); !slices.Equal(got, []string{"bad.a.example false", "evil.own.example false"}) {
		t.Errorf("names top 2: %v", got)
	}
	if got := names(0); len(got) != 4 || !slices.Contains(got, "wild.b.example true") {
		t.Errorf("all names: %v", got)
	}
}
