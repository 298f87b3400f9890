package policy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

func set(t *testing.T, entries ...string) *entryset.Set {
	t.Helper()
	var b entryset.Builder
	for _, e := range entries {
		if err := AddEntry(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	return b.Set()
}

// fixture: four lists over shared entries.
func fixture(t *testing.T) (*snapshot.Snapshot, Catalog) {
	lists := []snapshot.List{
		{Name: "drop", Category: "spam", Set: set(t, "198.51.100.0/24", "2001:db8::/32")},
		{Name: "c2", Category: "botnet", Set: set(t, "198.51.100.7", "c2.example", "*.botnet.example")},
		{Name: "tor", Category: "tor", Set: set(t, "203.0.113.9")},
		{Name: "good", Category: "allow", Set: set(t, "198.51.100.200", "*.cdn.botnet.example")},
	}
	s := snapshot.Build(lists, nil)
	return s, Catalog(s.Lists)
}

func lists(p *Policy, s *snapshot.Snapshot, v Verdict) []string {
	var out []string
	p.EachList(s, v, func(id int) { out = append(out, s.Lists[id].Name) })
	return out
}

func TestCheck(t *testing.T) {
	s, cat := fixture(t)
	p, err := New(Config{
		Name:    "demo",
		Block:   []int{0, 1},
		Allow:   []int{3},
		Blocked: []string{"192.0.2.0/28", "evil.example", "*.phish.example"},
		Allowed: []string{"198.51.100.1", "ok.phish.example", "2001:db8::/48"},
		Answers: map[string]string{"botnet": "127.0.0.3", "custom": "127.0.0.10"},
	}, cat)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q       string
		listed  bool
		allowed bool
		custom  bool
		lists   []string
	}{
		{q: "198.51.100.7", listed: true, lists: []string{"drop", "c2"}},  // covering /24 and the /32
		{q: "198.51.100.8", listed: true, lists: []string{"drop"}},        // covered by the /24 only
		{q: "198.51.100.1", allowed: true},                                // own allow inside a listed prefix
		{q: "198.51.100.200", allowed: true},                              // allow list inside a listed prefix
		{q: "203.0.113.9"},                                                // tor is not in this policy
		{q: "192.0.2.5", listed: true, custom: true},                      // own block prefix
		{q: "192.0.2.16"},                                                 // just outside it
		{q: "2001:db8:1::1", listed: true, lists: []string{"drop"}},       // IPv6 covering prefix
		{q: "2001:db8::1", allowed: true},                                 // own allow /48 inside it
		{q: "::ffff:198.51.100.8", listed: true, lists: []string{"drop"}}, // IPv4-mapped
		{q: "c2.example", listed: true, lists: []string{"c2"}},            // exact name
		{q: "www.c2.example"},                                             // exact does not cover subdomains
		{q: "botnet.example", listed: true, lists: []string{"c2"}},        // *.name lists the name
		{q: "a.b.botnet.example", listed: true, lists: []string{"c2"}},    // and its subdomains
		{q: "x.cdn.botnet.example", allowed: true},                        // allow list wins below it
		{q: "evil.example", listed: true, custom: true},                   // own exact block
		{q: "www.evil.example"},                                           //
		{q: "x.phish.example", listed: true, custom: true},                // own wildcard block
		{q: "ok.phish.example", allowed: true},                            // own allow wins
		{q: "clean.example"},
	} {
		var v Verdict
		if a, err := netip.ParseAddr(tc.q); err == nil {
			v = p.MatchAddr(s, a)
		} else {
			v = p.MatchName(s, tc.q)
		}
		if v.Listed != tc.listed || v.Allowed != tc.allowed || v.Custom != tc.custom {
			t.Errorf("%s: %+v, want listed=%v allowed=%v custom=%v", tc.q, v, tc.listed, tc.allowed, tc.custom)
		}
		if got := lists(p, s, v); !slices.Equal(got, tc.lists) {
			t.Errorf("%s: lists %v, want %v", tc.q, got, tc.lists)
		}
	}
	if a := p.Answer(1); a != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("botnet answer %s", a)
	}
	if a := p.Answer(0); a != DefaultAnswer {
		t.Errorf("spam answer %s, want the default", a)
	}
	if a := p.CustomAnswer(); a != netip.MustParseAddr("127.0.0.10") {
		t.Errorf("custom answer %s", a)
	}
	if !p.Uses(0) || !p.Uses(3) || p.Uses(2) {
		t.Error("Uses does not match the policy's lists")
	}
}

// TestPoliciesShareSnapshot: two policies over one snapshot see only their own lists.
func TestPoliciesShareSnapshot(t *testing.T) {
	s, cat := fixture(t)
	spam, _ := New(Config{Name: "spam", Block: []int{0}}, cat)
	tor, _ := New(Config{Name: "tor", Block: []int{2}}, cat)
	a := netip.MustParseAddr("203.0.113.9")
	if spam.MatchAddr(s, a).Listed || !tor.MatchAddr(s, a).Listed {
		t.Error("a list outside a policy's mask decided its answer")
	}
}

func TestConfigErrors(t *testing.T) {
	_, cat := fixture(t)
	for _, cfg := range []Config{
		{Name: "p", Answers: map[string]string{"spam": "10.0.0.1"}},
		{Name: "p", Answers: map[string]string{"spam": "::1"}},
		{Name: "p", Blocked: []string{"not a name"}},
		{Name: "p", Allowed: []string{"1.2.3.4/33"}},
	} {
		if _, err := New(cfg, cat); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

// TestCanonical: every spelling of an entry has the form AddEntry stores, and one form.
func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":           "198.51.100.7",
		" 198.51.100.7 ":         "198.51.100.7",
		"::ffff:198.51.100.7":    "198.51.100.7",
		"198.51.100.7/32":        "198.51.100.7",
		"203.0.113.9/24":         "203.0.113.0/24",
		"::ffff:203.0.113.0/120": "203.0.113.0/24",
		"2001:DB8:0::/32":        "2001:db8::/32",
		"2001:db8::1/128":        "2001:db8::1",
		"EVIL.example.":          "evil.example",
		"*.Phish.Example":        "*.phish.example",
		"bücher.example":         "xn--bcher-kva.example",
		"xn--bcher-kva.example":  "xn--bcher-kva.example",
		"*.bücher.example":       "*.xn--bcher-kva.example",
	} {
		got, err := Canonical(in)
		if err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
			continue
		}
		// The form is AddEntry's: a set built from it equals one built from the spelling.
		var a, b entryset.Builder
		if AddEntry(&a, strings.TrimSpace(in)) != nil || AddEntry(&b, got) != nil || !a.Set().Equal(b.Set()) {
			t.Errorf("Canonical(%q) = %q is another entry than AddEntry's", in, got)
		}
	}
	for _, bad := range []string{"", "not an entry!", "198.51.100.7/33", "*."} {
		if _, err := Canonical(bad); err == nil {
			t.Errorf("Canonical(%q) accepted", bad)
		}
	}
}
