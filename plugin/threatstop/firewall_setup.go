package threatstop

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/coredns/caddy"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"
)

// Defaults of the firewall.
const (
	DefaultFirewallTTL = 60 // how long a rewritten answer may be cached
	DefaultOrigin      = "threatstop.local."
)

// fwRule is a firewall line that names a policy, resolved once every block is parsed.
type fwRule struct {
	prefixes []netip.Prefix // client rule
	key      string         // key rule: TSIG key name
	policy   string
	line     int
}

// policiesKey keys the policies of every threatstop block in the instance's storage, so that a firewall
// in one server block can use a policy that a DNSBL block defines.
type policiesKey struct{}

func policyRegistry(c *caddy.Controller) map[string]*policyEntry {
	if m, ok := c.Get(policiesKey{}).(map[string]*policyEntry); ok {
		return m
	}
	m := map[string]*policyEntry{}
	c.Set(policiesKey{}, m)
	return m
}

func parseFirewall(c *caddy.Controller) (*firewall, error) {
	f := &firewall{triggers: trigQName | trigCNAME | trigIP, ttl: DefaultFirewallTTL, origin: DefaultOrigin, line: c.Line()}
	if len(c.RemainingArgs()) != 0 {
		return nil, c.ArgErr()
	}
	for c.NextBlock() {
		key := c.Val()
		args := c.RemainingArgs()
		switch key {
		case "client":
			if len(args) < 2 {
				return nil, c.Errf("client needs one or more prefixes and a policy")
			}
			r := fwRule{policy: args[len(args)-1], line: c.Line()}
			for _, a := range args[:len(args)-1] {
				p, err := parseNet(a)
				if err != nil {
					return nil, c.Errf("client: %q is not an address or a prefix", a)
				}
				r.prefixes = append(r.prefixes, p)
			}
			f.rules = append(f.rules, r)
		case "key":
			if len(args) != 2 {
				return nil, c.Errf("key needs a TSIG key name and a policy")
			}
			if _, ok := dns.IsDomainName(args[0]); !ok {
				return nil, c.Errf("key %q is not a key name", args[0])
			}
			f.rules = append(f.rules, fwRule{key: strings.ToLower(dns.Fqdn(args[0])), policy: args[1], line: c.Line()})
		case "ecs":
			if len(args) != 0 {
				return nil, c.ArgErr()
			}
			f.ecs = true
		case "triggers":
			if len(args) == 0 {
				return nil, c.Errf("triggers needs one or more of qname, cname, ip, client")
			}
			f.triggers = 0
			for _, a := range args {
				t, ok := triggerNames[a]
				if !ok {
					return nil, c.Errf("unknown trigger %q (want qname, cname, ip, client)", a)
				}
				f.triggers |= t
			}
		case "ttl":
			if len(args) != 1 {
				return nil, c.ArgErr()
			}
			v, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil || v > 86400 {
				return nil, c.Errf("ttl needs a number of seconds up to 86400, not %q", args[0])
			}
			f.ttl = uint32(v)
		case "origin":
			if len(args) != 1 {
				return nil, c.ArgErr()
			}
			if _, ok := dns.IsDomainName(args[0]); !ok {
				return nil, c.Errf("origin %q is not a domain name", args[0])
			}
			f.origin = dns.CanonicalName(args[0])
		default:
			return nil, c.Errf("firewall: unknown property %q", key)
		}
	}
	if len(f.rules) == 0 {
		return nil, c.Errf("firewall needs at least one client or key line")
	}
	return f, nil
}

// resolve binds the rules to policies: those of the same block first, then those that one other
// threatstop block of the same Corefile (parsed earlier) defines.
func (f *firewall) resolve(file string, own, others map[string]*policyEntry) error {
	f.byClient = new(bart.Table[*policyEntry])
	f.byKey = map[string]*policyEntry{}
	for _, r := range f.rules {
		p := own[r.policy]
		if p == nil {
			q, ok := others[r.policy]
			switch {
			case !ok:
				return fmt.Errorf("%s:%d - Error during parsing: firewall: unknown policy %q (define it in this threatstop block or in one of an earlier server block)", file, r.line, r.policy)
			case q == nil:
				return fmt.Errorf("%s:%d - Error during parsing: firewall: policy %q is defined in more than one server block; define it in this threatstop block", file, r.line, r.policy)
			}
			p = q
		}
		if r.key != "" {
			if _, dup := f.byKey[r.key]; dup {
				return fmt.Errorf("%s:%d - Error during parsing: firewall: key %s is given twice", file, r.line, r.key)
			}
			f.byKey[r.key] = p
			continue
		}
		for _, pfx := range r.prefixes {
			if _, dup := f.byClient.Get(pfx); dup {
				return fmt.Errorf("%s:%d - Error during parsing: firewall: client %s is given twice", file, r.line, pfx)
			}
			f.byClient.Insert(pfx, p)
		}
	}
	return nil
}
