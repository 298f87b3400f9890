package threatfirewall

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/formerr"
	"github.com/threatstop/threatstop/plugin/pkg/peer"
	"github.com/threatstop/threatstop/plugin/pkg/siem"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

const pluginName = "threatfirewall"

func init() { plugin.Register(pluginName, setup) }

// Defaults of the firewall.
const (
	DefaultFirewallTTL = 60 // how long a rewritten answer may be cached
	DefaultOrigin      = "threatstop.local."
)

// rule is a firewall line that names a policy, resolved once every threatstop block is parsed.
type rule struct {
	prefixes []netip.Prefix // client rule
	key      string         // key rule: TSIG key name
	policy   string
	line     int
}

// setup parses the threatfirewall block and binds its rules to the policies of the threatstop blocks,
// which are all parsed by now: threatstop comes before threatfirewall in the directive order, and caddy
// runs one directive in every server block before the next.
func setup(c *caddy.Controller) error {
	var f *Firewall
	for c.Next() {
		if f != nil {
			return plugin.Error(pluginName, plugin.ErrOnce)
		}
		var err error
		if f, err = Parse(c); err != nil {
			return plugin.Error(pluginName, err)
		}
	}
	store := state.FromController(c)
	var own *state.Block
	var others []*state.Block
	for _, b := range store.Blocks() {
		if own == nil && b.ServerBlock == c.ServerBlockIndex {
			own = b
		} else {
			others = append(others, b)
		}
	}
	if err := f.Resolve(c.File(), store, own, others); err != nil {
		return plugin.Error(pluginName, err)
	}
	f.Register(c)
	return nil
}

// Register adds the firewall to the server block's chain and its start and stop to the instance's.
func (f *Firewall) Register(c *caddy.Controller) {
	cfg := dnsserver.GetConfig(c)
	file := c.File()
	c.OnStartup(func() error {
		if len(f.byKey) > 0 && cfg.Handler("tsig") == nil {
			return plugin.Error(pluginName, fmt.Errorf("%s:%d - firewall: key rules need the tsig plugin in "+
				"the same server block, which verifies the signatures", file, f.line))
		}
		policySeries.Replace(f.store.Load().PolicyNames()) // the series of policies a reload removed go
		f.log.start()
		if f.siem != nil {
			f.siem.Start()
		}
		return nil
	})
	c.OnShutdown(func() error {
		f.log.stop()
		if f.siem != nil {
			f.siem.Stop()
		}
		return nil
	})
	formerr.Install(c)
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
		f.Next = next
		return f
	})
}

// Parse reads a firewall block: c is at its keyword (threatfirewall, or firewall inside a threatstop
// block). The rules name policies; Resolve binds them.
func Parse(c *caddy.Controller) (*Firewall, error) {
	f := &Firewall{triggers: trigQName | trigCNAME | trigIP, ttl: DefaultFirewallTTL, origin: DefaultOrigin, line: c.Line(),
		log: newDecisionLog(os.Stdout)}
	if len(c.RemainingArgs()) != 0 {
		return nil, c.ArgErr()
	}
	for c.NextBlock() {
		key := c.Val()
		if key == "siem" {
			s, err := siem.Parse(c.RemainingArgs())
			if err != nil {
				return nil, c.Err(err.Error())
			}
			s.OnDrop = siemDropped.Inc
			f.siem = s
			continue
		}
		args := c.RemainingArgs()
		switch key {
		case "client":
			if len(args) < 2 {
				return nil, c.Errf("client needs one or more prefixes and a policy")
			}
			r := rule{policy: args[len(args)-1], line: c.Line()}
			for _, a := range args[:len(args)-1] {
				p, err := peer.Prefix(a)
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
			f.rules = append(f.rules, rule{key: strings.ToLower(dns.Fqdn(args[0])), policy: args[1], line: c.Line()})
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
		return nil, fmt.Errorf("%s:%d - Error during parsing: firewall needs at least one client or key line", c.File(), f.line)
	}
	return f, nil
}

// Line is the Corefile line of the firewall block.
func (f *Firewall) Line() int { return f.line }

// Resolve binds the rules to policies: those of the server block's own threatstop block first, then the
// one policy of that name among the other blocks. Errors name the rule's line of file.
func (f *Firewall) Resolve(file string, store *state.Store, own *state.Block, others []*state.Block) error {
	f.store = store
	f.byClient = new(bart.Table[*state.Policy])
	f.byKey = map[string]*state.Policy{}
	find := func(name string) (*state.Policy, bool) {
		if own != nil {
			if p := own.Policy(name); p != nil {
				return p, false
			}
		}
		return state.Unique(name, others)
	}
	for _, r := range f.rules {
		p, ambiguous := find(r.policy)
		switch {
		case ambiguous:
			return fmt.Errorf("%s:%d - Error during parsing: firewall: policy %q is defined in more than one server block; define it in this server block's threatstop block", file, r.line, r.policy)
		case p == nil:
			return fmt.Errorf("%s:%d - Error during parsing: firewall: unknown policy %q (define it in a threatstop block)", file, r.line, r.policy)
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
