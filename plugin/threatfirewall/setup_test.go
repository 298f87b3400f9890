package threatfirewall

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

func TestSetup(t *testing.T) {
	f, err := parseFirewall(t, `threatfirewall {
		client 10.0.0.0/8 2001:db8::/32 a
		client 10.1.0.0/16 b
		key Office.Key. b
		ecs
		triggers qname client
		ttl 30
		origin fw.example.org
	}`, map[string][]string{"a": {"evil.example"}, "b": {"203.0.113.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"10.2.3.4": "a", "10.1.2.3": "b", "2001:db8::1": "a", "192.168.1.1": ""} {
		p, ok := f.byClient.Lookup(netip.MustParseAddr(addr))
		if got := ""; ok {
			got = p.Name
			if got != want {
				t.Errorf("client %s: policy %s, want %s", addr, got, want)
			}
		} else if want != "" {
			t.Errorf("client %s: no policy, want %s", addr, want)
		}
	}
	if p := f.byKey["office.key."]; p == nil || p.Name != "b" {
		t.Errorf("key rule: %v", f.byKey)
	}
	if !f.ecs || f.triggers != trigQName|trigClient || f.ttl != 30 || f.origin != "fw.example.org." {
		t.Errorf("options: ecs=%v triggers=%b ttl=%d origin=%s", f.ecs, f.triggers, f.ttl, f.origin)
	}
	f, err = parseFirewall(t, "threatfirewall {\nclient 0.0.0.0/0 a\n}", map[string][]string{"a": {"evil.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.ecs || f.triggers != trigQName|trigCNAME|trigIP || f.ttl != DefaultFirewallTTL || f.origin != DefaultOrigin {
		t.Errorf("defaults: ecs=%v triggers=%b ttl=%d origin=%s", f.ecs, f.triggers, f.ttl, f.origin)
	}
}

// TestSetupErrors: each mistake in a threatfirewall block is an error naming its line (the block's first
// rule is line 2).
func TestSetupErrors(t *testing.T) {
	all := "client 0.0.0.0/0 a"
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"client 10.0.0.0/8 nosuch"}, `Testfile:2 - Error during parsing: firewall: unknown policy "nosuch"`},
		{[]string{}, "Testfile:1 - Error during parsing: firewall needs at least one client or key line"},
		{[]string{"client a"}, "Testfile:2 - Error during parsing: client needs one or more prefixes and a policy"},
		{[]string{"client 10.0.0.300/8 a"}, `Testfile:2 - Error during parsing: client: "10.0.0.300/8" is not an address`},
		{[]string{all, "client 10.0.0.0/8 a", "client 10.0.0.0/8 a"}, "Testfile:4 - Error during parsing: firewall: client 10.0.0.0/8 is given twice"},
		{[]string{all, "key k. a", "key K a"}, "Testfile:4 - Error during parsing: firewall: key k. is given twice"},
		{[]string{all, "key bad..key a"}, `Testfile:3 - Error during parsing: key "bad..key" is not a key name`},
		{[]string{all, "key k."}, "Testfile:3 - Error during parsing: key needs a TSIG key name and a policy"},
		{[]string{all, "triggers"}, "Testfile:3 - Error during parsing: triggers needs one or more of"},
		{[]string{all, "triggers qname answers"}, `Testfile:3 - Error during parsing: unknown trigger "answers"`},
		{[]string{all, "ttl forever"}, `Testfile:3 - Error during parsing: ttl needs a number of seconds up to 86400, not "forever"`},
		{[]string{all, "ttl 86401"}, "Testfile:3 - Error during parsing: ttl needs a number of seconds up to 86400"},
		{[]string{all, "ecs yes"}, "Testfile:3 - Error during parsing: Wrong argument count"},
		{[]string{all, "origin bad..name"}, `Testfile:3 - Error during parsing: origin "bad..name" is not a domain name`},
		{[]string{all, "block 1.2.3.4"}, `Testfile:3 - Error during parsing: firewall: unknown property "block"`},
	} {
		input := "threatfirewall {\n" + strings.Join(tc.lines, "\n") + "\n}\n"
		_, err := parseFirewall(t, input, map[string][]string{"a": {"x.example"}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n  error %v, want one containing %q", input, err, tc.want)
		}
	}
	if _, err := parseFirewall(t, "threatfirewall extra {\nclient 0.0.0.0/0 a\n}\n", map[string][]string{"a": nil}); err == nil ||
		!strings.Contains(err.Error(), "Testfile:1 - Error during parsing: Wrong argument count") {
		t.Errorf("threatfirewall with an argument: %v", err)
	}
}

// TestResolve: a rule takes the server block's own policy first; a policy of another block only when one
// block alone defines it.
func TestResolve(t *testing.T) {
	mk := func(name string) *state.Policy {
		p, err := policy.New(policy.Config{Name: name, Blocked: []string{"x.example"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &state.Policy{Policy: p}
	}
	store := state.NewStore()
	own := store.AddBlock(0, "", []*state.Policy{mk("a")})
	other1 := store.AddBlock(1, "", []*state.Policy{mk("a"), mk("b"), mk("c")})
	other2 := store.AddBlock(2, "", []*state.Policy{mk("c")})
	parse := func(line string) (*Firewall, error) {
		c := caddy.NewTestController("dns", "threatfirewall {\n"+line+"\n}\n")
		c.Next()
		f, err := Parse(c)
		if err != nil {
			t.Fatal(err)
		}
		return f, f.Resolve("Testfile", store, own, []*state.Block{other1, other2})
	}
	f, err := parse("client 10.0.0.0/8 a\nclient 10.1.0.0/16 b")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := f.byClient.Lookup(netip.MustParseAddr("10.2.0.1")); p != own.Policies[0] {
		t.Errorf("policy a: %+v, want the own block's", p)
	}
	if p, _ := f.byClient.Lookup(netip.MustParseAddr("10.1.0.1")); p != other1.Policies[1] {
		t.Errorf("policy b: %+v, want the one of the block that defines it", p)
	}
	if _, err := parse("client 10.0.0.0/8 c"); err == nil || !strings.Contains(err.Error(), `Testfile:2 - Error during parsing: firewall: policy "c" is defined in more than one server block`) {
		t.Errorf("a policy of two other blocks: %v", err)
	}
}
