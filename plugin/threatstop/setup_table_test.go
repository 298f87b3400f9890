package threatstop

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/setuptest"
)

// setupHandler runs the registered setup over a threatstop block and returns the handler it adds to the
// server block, started as OnStartup starts it. The checks read the zones, the policies in Corefile order
// and their keys, and real answers of ServeDNS.
func setupHandler(t *testing.T, input string) (*Threatstop, error) {
	t.Helper()
	c := caddy.NewTestController("dns", input)
	if err := setup(c); err != nil {
		return nil, err
	}
	cfg := dnsserver.GetConfig(c)
	// The first is formerr's guard (no tsig in these blocks), the last the plugin's own.
	if len(cfg.Plugin) != 2 {
		t.Fatalf("setup added %d handlers, want 2", len(cfg.Plugin))
	}
	ts, ok := cfg.Plugin[1](nil).(*Threatstop)
	if !ok {
		t.Fatalf("setup added a %T", cfg.Plugin[1](nil))
	}
	ts.start(ts.store) // what OnStartup does before the first query
	return ts, nil
}

// ask sends one query to ts and returns the answer it wrote.
func ask(t *testing.T, ts *Threatstop, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r := new(dns.Msg)
	r.SetQuestion(name, qtype)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := ts.ServeDNS(context.Background(), rec, r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if rec.Msg == nil {
		t.Fatalf("%s: no answer written", name)
	}
	return rec.Msg
}

func policyNames(ts *Threatstop) []string {
	var names []string
	for _, p := range ts.order {
		names = append(names, p.Name)
	}
	return names
}

// TestSetupTable parses valid threatstop blocks (own entries only: feeds come from threatfeed blocks,
// which TestFirewallSetup and the server tests combine) with caddy.NewTestController, and checks the zones,
// the policies and the answers the handler gives.
func TestSetupTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		check func(t *testing.T, ts *Threatstop)
	}{
		{"one policy, defaults", `threatstop dnsbl.example {
    policy p {
        block evil.example 192.0.2.0/24
    }
}`, func(t *testing.T, ts *Threatstop) {
			if !slices.Equal(ts.Zones, []string{"dnsbl.example."}) || !slices.Equal(policyNames(ts), []string{"p"}) {
				t.Errorf("zones %q policies %q", ts.Zones, policyNames(ts))
			}
			m := ask(t, ts, "evil.example.p.dnsbl.example.", dns.TypeA)
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "127.0.0.2" || m.Answer[0].Header().Ttl != DefaultTTL {
				t.Errorf("listed name: %v", m)
			}
			m = ask(t, ts, "7.2.0.192.p.dnsbl.example.", dns.TypeA)
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("listed address: %v", m)
			}
			m = ask(t, ts, "good.example.p.dnsbl.example.", dns.TypeA)
			if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
				t.Fatalf("clean name: %v", m)
			}
			soa := m.Ns[0].(*dns.SOA)
			if soa.Ns != "ns1.dnsbl.example." || soa.Mbox != "hostmaster.dnsbl.example." || soa.Minttl != DefaultNegativeTTL {
				t.Errorf("default SOA %v", soa)
			}
		}},
		{"zone parameters", `threatstop dnsbl.example other.example {
    ttl 120
    negative_ttl 30
    ns a.ns.example. b.ns.example.
    mbox dns-admin.example.org
    journal 5 64MiB
    list_page 100
    catalog_keys Cat.Key
    policy p {
        block evil.example
        answer custom 127.0.0.9
        keys Xfr.Key.
        clients 10.0.0.0/8
    }
}`, func(t *testing.T, ts *Threatstop) {
			if !slices.Equal(ts.Zones, []string{"dnsbl.example.", "other.example."}) {
				t.Errorf("zones %q", ts.Zones)
			}
			m := ask(t, ts, "evil.example.p.other.example.", dns.TypeA)
			if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "127.0.0.9" || m.Answer[0].Header().Ttl != 120 {
				t.Errorf("listed name: %v", m)
			}
			m = ask(t, ts, "good.example.p.dnsbl.example.", dns.TypeA)
			if len(m.Ns) != 1 {
				t.Fatalf("clean name: %v", m)
			}
			soa := m.Ns[0].(*dns.SOA)
			if soa.Ns != "a.ns.example." || soa.Mbox != "dns-admin.example.org." || soa.Minttl != 30 || soa.Hdr.Ttl != 30 {
				t.Errorf("SOA %v", soa)
			}
			if keys := ts.corefilePolicy("p").KeyNames(); !slices.Equal(keys, []string{"xfr.key."}) {
				t.Errorf("keys of p = %q", keys)
			}
		}},
		{"policies keep their order; an allow entry wins", `threatstop dnsbl.example {
    policy zeta {
        block *.bad.example
        allow ok.bad.example
        action custom nodata
    }
    policy alpha {
        block 198.51.100.0/24
        clients 10.0.0.0/8
    }
}`, func(t *testing.T, ts *Threatstop) {
			if !slices.Equal(policyNames(ts), []string{"zeta", "alpha"}) {
				t.Errorf("policies %q", policyNames(ts))
			}
			if m := ask(t, ts, "x.bad.example.zeta.dnsbl.example.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("under the wildcard: %v", m)
			}
			if m := ask(t, ts, "ok.bad.example.zeta.dnsbl.example.", dns.TypeA); m.Rcode != dns.RcodeNameError {
				t.Errorf("allowed name: %v", m)
			}
			// test.ResponseWriter's client is 10.240.0.1, inside alpha's clients.
			if m := ask(t, ts, "1.100.51.198.alpha.dnsbl.example.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("listed address for a client: %v", m)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := setupHandler(t, tc.input)
			if err != nil {
				t.Fatalf("setup: %v", err)
			}
			tc.check(t, ts)
		})
	}
}

// TestSetupTableErrors: each invalid threatstop block fails setup with an error that names its line.
// Cases that TestFirewallSetupErrors and threatfeed's TestCorefileErrors already cover are not repeated.
func TestSetupTableErrors(t *testing.T) {
	// top is a threatstop block with a valid policy p (lines 2-4) and then lines from line 5 on.
	top := func(lines ...string) string {
		return "threatstop {\n    policy p {\n        block evil.example\n    }\n    " + strings.Join(lines, "\n    ") + "\n}"
	}
	// pol is a threatstop block with policy p holding lines from line 3 on.
	pol := func(lines ...string) string {
		return "threatstop {\n    policy p {\n        " + strings.Join(lines, "\n        ") + "\n    }\n}"
	}
	for _, tc := range []struct {
		name  string
		input string
		line  int
		want  string
	}{
		{"unknown property", top("colour red"), 5, `unknown property "colour"`},
		{"ttl without a value", top("ttl"), 5, "Wrong argument count"},
		{"ttl over a week", top("ttl 604801"), 5, `ttl needs a number of seconds up to 604800, not "604801"`},
		{"negative_ttl not a number", top("negative_ttl soon"), 5, "negative_ttl needs a number of seconds"},
		{"ns without a name", top("ns"), 5, "Wrong argument count"},
		{"ns not a name", top("ns a..b"), 5, `ns "a..b" is not a domain name`},
		{"mbox as an address", top("mbox hostmaster@example.org extra"), 5, "Wrong argument count"},
		{"mbox not a name", top("mbox a..b"), 5, `mbox "a..b" is not a domain name`},
		{"journal of 0 versions", top("journal 0"), 5, "journal needs a number of versions from 1 to 1000"},
		{"journal of three arguments", top("journal 5 64MiB more"), 5, "Wrong argument count"},
		{"journal with a bad size", top("journal 5 lots"), 5, `journal: "lots" is not a size in bytes`},
		{"list_page of 0", top("list_page 0"), 5, "list_page needs a number of entries from 1 to"},
		{"catalog_keys without a key", top("catalog_keys"), 5, "Wrong argument count"},
		{"policy without a name", "threatstop {\n    policy {\n        block evil.example\n    }\n}", 2, "policy needs exactly one name"},
		{"policy with two names", "threatstop {\n    policy a b {\n        block evil.example\n    }\n}", 2, "policy needs exactly one name"},
		{"policy name in upper case", "threatstop {\n    policy Office {\n        block evil.example\n    }\n}", 2, `policy name "Office" must be one DNS label`},
		{"policy catalog is reserved", "threatstop {\n    policy catalog {\n        block evil.example\n    }\n}", 2, `policy name "catalog" is reserved`},
		{"policy defined twice", top("policy p {", "    block other.example", "}"), 5, `policy "p" is defined twice`}, // the second definition's line
		{"policy property without arguments", pol("block"), 3, "block needs at least one argument"},
		{"answer with one argument", pol("block evil.example", "answer 127.0.0.3"), 4, "answer needs a category (or default, or custom) and an address"},
		{"answer for custom outside 127/8", pol("block evil.example", "answer custom 10.0.0.1"), 4, `policy p: answer "10.0.0.1" is not an IPv4 address in 127.0.0.0/8`},
		{"lists without feeds defined", pol("lists drop"), 3, `policy p: unknown feed "drop" in lists`},
		{"action for an unknown kind", pol("block evil.example", "action bounce"), 4, `policy p: action for category "bounce", which no feed has`},
		{"redirect without an address", pol("block evil.example", "action redirect"), 4, "action redirect needs at least one"},
		{"error after valid lines", pol("block evil.example", "allow ok.evil.example", "clients 10.0.0.0/8", "keys a..b"), 6, `keys: "a..b" is not a TSIG key name`},
		{"no policy and no firewall", "threatstop {\n    ttl 60\n}", 3, "threatstop needs at least one policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := setupHandler(t, tc.input); err == nil {
				t.Fatalf("setup accepted:\n%s", tc.input)
			} else {
				setuptest.AssertLineError(t, err, tc.line, tc.want)
			}
		})
	}
}

// TestSetupOnce: a second threatstop block in one server block is refused.
func TestSetupOnce(t *testing.T) {
	_, err := setupHandler(t, "threatstop {\n    policy a {\n        block x.example\n    }\n}\nthreatstop {\n    policy b {\n        block y.example\n    }\n}")
	if !errors.Is(err, plugin.ErrOnce) {
		t.Fatalf("error %v, want %v", err, plugin.ErrOnce)
	}
}
