package snapshot

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

func TestScores(t *testing.T) {
	set := func(entries ...string) *entryset.Set {
		var b entryset.Builder
		for _, e := range entries {
			switch {
			case e[0] == '*':
				b.AddName(e[2:], true)
			default:
				if p, err := netip.ParsePrefix(e); err == nil {
					b.AddPrefix(p)
				} else {
					b.AddName(e, false)
				}
			}
		}
		return b.Set()
	}
	a := set("1.2.3.0/24", "10.0.0.0/8", "2001:db8::/32", "bad.example", "x.example", "*.x.example")
	b := set("1.2.3.0/24", "10.1.0.0/16", "2001:db8::/32", "*.bad.example")
	// c holds 10.1.0.0/16 with an entry confidence of its own (255: certain) and 1.2.3.0/24 with none.
	c := set("1.2.3.0/24", "10.1.0.0/16")
	c.Conf = []uint8{0, 255}
	s := Build([]List{
		{Name: "a", Set: a, Confidence: 50},
		{Name: "b", Set: b, Confidence: 50},
		{Name: "c", Set: c, Confidence: 90}, // its own confidences win over this
		{Name: "d", Set: set("1.2.3.0/24")}, // no confidence: adds nothing
	}, nil)
	for _, tc := range []struct {
		list  int
		entry string
		sub   bool
		want  uint8
	}{
		{0, "1.2.3.0/24", false, 75}, // two independent sources at 50: 1 − 0.5·0.5
		{3, "1.2.3.0/24", false, 75}, // every list holding it has the indicator's score
		{0, "10.0.0.0/8", false, 50}, // a covering prefix is another indicator
		{1, "10.1.0.0/16", false, 100},
		{2, "10.1.0.0/16", false, 100},
		{0, "2001:db8::/32", false, 75},
		{0, "bad.example", false, 75}, // exact in a, with subdomains in b: one indicator
		{1, "bad.example", true, 75},
		{0, "x.example", false, 50}, // a list vouches once for a name it holds both ways
		{0, "x.example", true, 50},
	} {
		var got uint8
		var ok bool
		if p, err := netip.ParsePrefix(tc.entry); err == nil {
			got, ok = s.ScorePrefix(tc.list, p)
		} else {
			got, ok = s.ScoreName(tc.list, tc.entry, tc.sub)
		}
		if !ok || got != tc.want {
			t.Errorf("list %d entry %s (sub %v): score %d (held %v), want %d", tc.list, tc.entry, tc.sub, got, ok, tc.want)
		}
	}
	if _, ok := s.ScorePrefix(1, netip.MustParsePrefix("10.0.0.0/8")); ok {
		t.Error("b does not hold 10.0.0.0/8")
	}
	// Without any confidence nothing is scored, and a rebuild with other confidences is not taken over.
	plain := Build([]List{{Name: "a", Set: a}}, nil)
	if plain.Scored() {
		t.Error("unscored snapshot reports scores")
	}
	again := Build([]List{{Name: "a", Set: a, Confidence: 40}}, plain)
	if got, _ := again.ScorePrefix(0, netip.MustParsePrefix("10.0.0.0/8")); got != 40 {
		t.Errorf("rebuild with a confidence: score %d, want 40", got)
	}
	// A part that one list alone fills scores flat (no score per entry), the same as computed: IPv4
	// from a, names from n.
	n := set("bad.example", "*.y.example")
	flat := Build([]List{{Name: "a", Set: set("1.2.3.0/24", "10.0.0.0/8"), Confidence: 70}, {Name: "n", Set: n, Confidence: 30}}, nil)
	if flat.parts[partV4].flat == nil || flat.parts[partNames].flat == nil || flat.parts[partV4].scores != nil || !flat.Scored() {
		t.Error("a part one list fills: not scored flat")
	}
	for _, tc := range []struct {
		list  int
		entry string
		want  uint8
	}{{0, "10.0.0.0/8", 70}, {0, "1.2.3.0/24", 70}, {1, "bad.example", 30}, {1, "*.y.example", 30}} {
		var got uint8
		var ok bool
		if p, err := netip.ParsePrefix(tc.entry); err == nil {
			got, ok = flat.ScorePrefix(tc.list, p)
		} else {
			name, sub := strings.CutPrefix(tc.entry, "*.")
			got, ok = flat.ScoreName(tc.list, name, sub)
		}
		if !ok || got != tc.want {
			t.Errorf("flat: list %d %s: %d (held %v), want %d", tc.list, tc.entry, got, ok, tc.want)
		}
	}
}
