package threatstop

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/threatstop/threatstop/plugin/threatfeed"
)

func parseInput(t *testing.T, input string) (*Threatstop, error) {
	t.Helper()
	c := caddy.NewTestController("dns", input)
	return parse(c, threatfeed.FromController(c))
}

func TestFirewallSetup(t *testing.T) {
	ts, err := parseInput(t, `threatstop {
		policy a {
			block evil.example
		}
		policy b {
			block 203.0.113.0/24
		}
		firewall {
			client 10.0.0.0/8 2001:db8::/32 a
			client 10.1.0.0/16 b
			key Office.Key. b
			ecs
			triggers qname client
			ttl 30
			origin fw.example.org
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	f := ts.fw
	if len(ts.Zones) != 0 {
		t.Errorf("a firewall block without zone arguments serves DNSBL zones %v", ts.Zones)
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

	ts, err = parseInput(t, `threatstop dnsbl.example {
		policy a {
			block evil.example
		}
		firewall {
			client 0.0.0.0/0 a
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Zones) != 1 || ts.Zones[0] != "dnsbl.example." {
		t.Errorf("named zones with a firewall: %v", ts.Zones)
	}
}

// block is a threatstop block with policy a (its extra lines in policy) and a firewall block (fw lines;
// none: no firewall block); the firewall's first line is line 5.
func block(policy, fw []string) string {
	b := "threatstop {\npolicy a {\nblock x.example\n" + strings.Join(policy, "\n") + "\n}\n"
	if fw != nil {
		b += "firewall {\n" + strings.Join(fw, "\n") + "\n}\n"
	}
	return b + "}\n"
}

func TestFirewallSetupErrors(t *testing.T) {
	all := "client 0.0.0.0/0 a"
	for _, tc := range []struct {
		policy, fw []string
		want       string
	}{
		{nil, []string{"client 10.0.0.0/8 nosuch"}, `Testfile:7 - Error during parsing: firewall: unknown policy "nosuch"`},
		{nil, []string{}, "at least one client or key line"},
		{nil, []string{"client a"}, "Testfile:7 - Error during parsing: client needs one or more prefixes and a policy"},
		{nil, []string{"client 10.0.0.300/8 a"}, `Testfile:7 - Error during parsing: client: "10.0.0.300/8" is not an address`},
		{nil, []string{all, "client 10.0.0.0/8 a", "client 10.0.0.0/8 a"}, "Testfile:9 - Error during parsing: firewall: client 10.0.0.0/8 is given twice"},
		{nil, []string{all, "key k. a", "key K a"}, "Testfile:9 - Error during parsing: firewall: key k. is given twice"},
		{nil, []string{all, "triggers qname answers"}, `Testfile:8 - Error during parsing: unknown trigger "answers"`},
		{nil, []string{all, "ttl forever"}, "ttl needs a number of seconds"},
		{nil, []string{all, "origin bad..name"}, `origin "bad..name" is not a domain name`},
		{nil, []string{all, "block 1.2.3.4"}, `Testfile:8 - Error during parsing: firewall: unknown property "block"`},
		{nil, []string{all, "}", "firewall {", all}, "firewall is defined twice"},
		{[]string{"action blackhole"}, nil, `Testfile:4 - Error during parsing: policy a: action for category "blackhole", which no feed has`},
		{[]string{"action custom redirect"}, nil, "action redirect needs at least one"},
		{[]string{"action redirect blockpage.example"}, nil, `redirect address "blockpage.example" is not an IP address`},
		{[]string{"action nodata please"}, nil, "action nodata takes no arguments"},
		{[]string{"keys bad..key"}, nil, `Testfile:4 - Error during parsing: policy a: keys: "bad..key" is not a TSIG key name`},
		{[]string{"transfer_clients 10.0.0.300"}, nil, `Testfile:4 - Error during parsing: policy a: transfer_clients:`},
		{[]string{"keys"}, nil, "keys needs at least one argument"},
	} {
		input := block(tc.policy, tc.fw)
		_, err := parseInput(t, input)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n  error %v, want one containing %q", input, err, tc.want)
		}
	}
	// A category named like an action takes an action of its own.
	if _, err := parseInput(t, block([]string{"action drop nxdomain"}, nil)); err == nil || !strings.Contains(err.Error(), `action for category "drop", which no feed has`) {
		t.Errorf("action drop nxdomain: %v, want it read as category drop", err)
	}
	if _, err := parseInput(t, `threatstop . {
		policy a {
			block x.example
		}
		firewall {
			client 0.0.0.0/0 a
		}
	}`); err == nil || !strings.Contains(err.Error(), `Testfile:5 - Error during parsing: firewall: the DNSBL zone "." would take every name`) {
		t.Errorf("DNSBL zone . with a firewall: %v", err)
	}
	if _, err := parseInput(t, "threatstop {\ncatalog_keys bad..key\npolicy a {\nblock x.example\n}\n}\n"); err == nil ||
		!strings.Contains(err.Error(), `Testfile:2 - Error during parsing: catalog_keys: "bad..key" is not a TSIG key name`) {
		t.Errorf("catalog_keys with a bad name: %v", err)
	}
	// The same lines without the mistake parse.
	if _, err := parseInput(t, block([]string{"action custom redirect 192.0.2.80", "action log-only"}, []string{all, "key k. a", "triggers qname client"})); err != nil {
		t.Errorf("valid block: %v", err)
	}
}
