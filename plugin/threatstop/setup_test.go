package threatstop

import (
	"bytes"
	golog "log"
	"os"
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// parseInput parses a threatstop block as setup does, binding its policies (and a firewall block's
// rules) to a fresh store.
func parseInput(t *testing.T, input string) (*Threatstop, error) {
	t.Helper()
	c := caddy.NewTestController("dns", input)
	store := state.FromController(c)
	ts, err := parse(c, store)
	if err != nil {
		return nil, err
	}
	return ts, ts.bind(c, store)
}

// block is a threatstop block with policy a (its extra lines in policy) and a firewall block (fw lines;
// none: no firewall block); the firewall's first line is line 7 when policy is empty.
func block(policy, fw []string) string {
	b := "threatstop {\npolicy a {\nblock x.example\n" + strings.Join(policy, "\n") + "\n}\n"
	if fw != nil {
		b += "firewall {\n" + strings.Join(fw, "\n") + "\n}\n"
	}
	return b + "}\n"
}

// TestSetupErrors: each mistake in a threatstop block (its policies, and the deprecated firewall block
// inside it, which is still read) is an error naming its line.
func TestSetupErrors(t *testing.T) {
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
		{[]string{"lists nosuch"}, nil, `Testfile:4 - Error during parsing: policy a: unknown feed "nosuch" in lists`},
		{[]string{"categories nosuch"}, nil, `Testfile:4 - Error during parsing: policy a: no feed has category "nosuch"`},
		{[]string{"colour red"}, nil, `Testfile:4 - Error during parsing: policy a: unknown property "colour"`},
	} {
		input := block(tc.policy, tc.fw)
		_, err := parseInput(t, input)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n  error %v, want one containing %q", input, err, tc.want)
		}
	}
	for _, tc := range []struct{ input, want string }{
		{"threatstop {\n}\n", "Testfile:2 - Error during parsing: threatstop needs at least one policy"},
		{"threatstop {\npolicy Bad_Name {\nblock x.example\n}\n}\n", `Testfile:2 - Error during parsing: policy name "Bad_Name" must be one DNS label`},
		{"threatstop {\npolicy rpz {\nblock x.example\n}\n}\n", `Testfile:2 - Error during parsing: policy name "rpz" is reserved`},
		{"threatstop {\npolicy a {\nblock x.example\n}\npolicy a {\nblock y.example\n}\n}\n", `Testfile:5 - Error during parsing: policy "a" is defined twice`},
		{"threatstop {\nttl 1w\npolicy a {\nblock x.example\n}\n}\n", `Testfile:2 - Error during parsing: ttl needs a number of seconds up to 604800, not "1w"`},
		{"threatstop {\njournal 0\npolicy a {\nblock x.example\n}\n}\n", `Testfile:2 - Error during parsing: journal needs a number of versions from 1 to 1000`},
		{"threatstop {\nlist_page 5000\npolicy a {\nblock x.example\n}\n}\n", `Testfile:2 - Error during parsing: list_page needs a number of entries from 1 to`},
		{"threatstop {\nmbox bad..name\npolicy a {\nblock x.example\n}\n}\n", `Testfile:2 - Error during parsing: mbox "bad..name" is not a domain name`},
		{"threatstop {\ncolour red\npolicy a {\nblock x.example\n}\n}\n", `Testfile:2 - Error during parsing: unknown property "colour"`},
	} {
		_, err := parseInput(t, tc.input)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n  error %v, want one containing %q", tc.input, err, tc.want)
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

// TestSetup: the options of a block reach the handler; a firewall block without zone arguments leaves
// the block no DNSBL zone, with named zones it keeps those.
func TestSetup(t *testing.T) {
	ts, err := parseInput(t, `threatstop dnsbl.example {
		ttl 120
		negative_ttl 30
		ns ns1.example.org ns2.example.org
		mbox Admin.Example.org
		list_page 100
		journal 4 64MiB
		catalog_keys cat.key.
		policy a {
			block evil.example
			keys A.Key
			clients 10.0.0.0/8
			transfer_clients 192.0.2.1
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if ts.ttl != 120 || ts.negTTL != 30 || ts.listPage != 100 || ts.journal.versions != 4 || ts.journal.maxBytes != 64<<20 {
		t.Errorf("ttl %d negative_ttl %d list_page %d journal %d %d", ts.ttl, ts.negTTL, ts.listPage, ts.journal.versions, ts.journal.maxBytes)
	}
	if len(ts.zones) != 1 || ts.zones[0].name != "dnsbl.example." || strings.Join(ts.zones[0].ns, " ") != "ns1.example.org. ns2.example.org." || ts.zones[0].mbox != "admin.example.org." {
		t.Errorf("zones %+v", ts.zones)
	}
	if !ts.catalogKeys["cat.key."] {
		t.Errorf("catalog keys %v", ts.catalogKeys)
	}
	p := ts.corefilePolicy("a")
	if p == nil || !p.Keys["a.key."] || p.Clients == nil || p.TransferClients == nil || p.Line != 9 {
		t.Fatalf("policy a: %+v", p)
	}
	if got := ts.store.Load().Policies; len(got) != 1 || got[0] != p.Policy {
		t.Errorf("the store's policies %v, want policy a", got)
	}

	ts, err = parseInput(t, "threatstop {\npolicy a {\nblock x.example\n}\nfirewall {\nclient 0.0.0.0/0 a\n}\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Zones) != 0 || ts.fw == nil {
		t.Errorf("a firewall block without zone arguments: zones %v, firewall %v", ts.Zones, ts.fw)
	}
}

// TestFirewallBlockDeprecated: the firewall block inside threatstop still works and warns, naming its line
// and where its lines go now.
func TestFirewallBlockDeprecated(t *testing.T) {
	var buf bytes.Buffer
	golog.SetOutput(&buf)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	ts, err := parseInput(t, "threatstop {\npolicy a {\nblock x.example\n}\nfirewall {\nclient 0.0.0.0/0 a\n}\n}\n")
	if err != nil || ts.fw == nil {
		t.Fatalf("legacy firewall block: %v", err)
	}
	if out := buf.String(); !strings.Contains(out, "Testfile:5: the firewall block inside threatstop is deprecated") || !strings.Contains(out, "threatfirewall { }") {
		t.Errorf("warning %q does not name line 5 and threatfirewall", out)
	}
}
