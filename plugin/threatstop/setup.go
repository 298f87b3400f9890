package threatstop

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/formerr"
	"github.com/threatstop/threatstop/plugin/pkg/peer"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatfirewall"
)

const pluginName = "threatstop"

var log = clog.NewWithPlugin(pluginName)

func init() { plugin.Register(pluginName, setup) }

// Defaults of the zone parameters.
const (
	DefaultTTL         = 300 // positive answers
	DefaultNegativeTTL = 60  // SOA minimum: how long a resolver caches "not listed"
)

var policyNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// reserved policy names: labels the zone layout uses for other things.
var reserved = map[string]bool{rpzLabel: true, catalogLabel: true, configLabel: true}

// Reserved reports whether name is a label the zone layout uses, which no policy may be called.
func Reserved(name string) bool { return reserved[name] }

func setup(c *caddy.Controller) error {
	store := state.FromController(c)
	t, err := parse(c, store)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	if err := t.bind(c, store); err != nil {
		return plugin.Error(pluginName, err)
	}
	cfg := dnsserver.GetConfig(c)
	if cfg.TLSConfig != nil && !slices.Contains(cfg.TLSConfig.NextProtos, "dot") {
		// Zone transfers over TLS (RFC 9103, section 7.1) take the ALPN "dot", which CoreDNS's DNS over
		// TLS server does not offer: BIND refuses to transfer without it. The block's tls:// servers
		// take this configuration (DoH and gRPC set their own).
		cfg.TLSConfig.NextProtos = append(cfg.TLSConfig.NextProtos, "dot")
	}
	file := c.File()
	c.OnStartup(func() error {
		// The chain is built by now: first make sure transfer_clients can transfer at all.
		if err := t.checkTSIG(file, cfg.Handler("tsig")); err != nil {
			return plugin.Error(pluginName, err)
		}
		if t.follow != nil {
			// Before start: the policies a reload's follower serves at once are then the configured
			// ones, whose metric series stay.
			t.follow.start(t)
		}
		t.start(store)
		if n, ok := cfg.Handler("transfer").(notifier); ok {
			t.notifier = n
			if len(t.catalogKeys) > 0 { // a reload may have added or removed policies, or changed them
				t.notifyCatalogs()
				// On a reload the old configuration's servers stop only after this hook, and until then
				// they may answer a secondary's SOA query with the old serial; the secondary would then
				// wait for its refresh timer. Tell the secondaries again once the old servers are gone.
				t.renotify = time.AfterFunc(catalogRenotify, t.notifyCatalogs)
			}
		}
		t.journal.takeOver(t.block.Key)
		t.config = takeOverConfig(t.block.Key)
		store.Subscribe(t.update)
		serveSerials(store)
		return nil
	})
	c.OnRestartFailed(func() error {
		if t.follow != nil {
			t.follow.restartPrev()
		}
		dropNewer(store)
		return nil
	})
	c.OnShutdown(func() error {
		if t.follow != nil {
			t.follow.stop()
		}
		unserveSerials(store)
		if t.renotify != nil {
			t.renotify.Stop()
		}
		t.journal.release(t.block.Key)
		releaseConfig(t.block.Key, t.config)
		return nil
	})
	if len(t.order) > 0 || len(t.Zones) > 0 {
		formerr.Install(c)
		cfg.AddPlugin(func(next plugin.Handler) plugin.Handler {
			t.Next = next
			return t
		})
	}
	if t.fw != nil {
		t.fw.Register(c) // after threatstop: the DNSBL zones are answered before the firewall sees a query
	}
	return nil
}

// bind adds the block's policies to the store and resolves a firewall block's rules against them and
// those of the blocks before.
func (t *Threatstop) bind(c *caddy.Controller, store *state.Store) error {
	earlier := store.Blocks()
	policies := make([]*state.Policy, len(t.order))
	render := t.renderSum()
	var suffixes []string // shared by the block's policies, as the digest is
	for _, z := range t.zones {
		suffixes = append(suffixes, "."+rpzLabel+"."+z.name)
	}
	for i, p := range t.order {
		p.Render, p.RPZSuffixes = &render, &suffixes
		policies[i] = p.Policy
	}
	t.store = store
	// The block is the same one across reloads and restarts while it listens where it did for the same
	// zones: its policies keep their serials when their content is the same.
	key := strings.Join(c.ServerBlockKeys, ",") + " " + strings.Join(t.Zones, ",")
	t.block = store.AddBlock(c.ServerBlockIndex, key, policies)
	if t.fw != nil {
		return t.fw.Resolve(c.File(), store, t.block, earlier)
	}
	return nil
}

// renderSum is a digest of what the block adds to every policy's zone: TTLs and the SOA and NS names.
func (t *Threatstop) renderSum() [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "ttl %d %d\n", t.ttl, t.negTTL)
	for _, z := range t.zones {
		fmt.Fprintf(h, "zone %s %s %q\n", z.name, z.mbox, z.ns)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// start makes the block ready to answer: metrics series and the catalog's serial. It runs in OnStartup.
func (t *Threatstop) start(store *state.Store) {
	policySeries.Replace(store.Load().PolicyNames()) // the series of policies a reload removed go
	entries := map[string]*policyEntry{}
	lists := len(store.Catalog())
	for _, p := range t.order {
		p.counters = newCounters(p.Name)
		p.hits = make(hitCounters, lists+1)
		entries[p.Name] = p
	}
	t.entries.Store(&entries)
	t.catalogSerial.Store(nextCatalogSerial(uint32(time.Now().Unix())))
}

// notifyCatalogs announces the catalog and the configuration zone: after a start, edges that follow the
// configuration check it at once (one that could not reach this server retries only after a backoff).
func (t *Threatstop) notifyCatalogs() {
	for _, z := range t.zones {
		t.notifyZone(catalogLabel + "." + z.name)
		t.notifyZone(configLabel + "." + z.name)
	}
}

// parse reads a threatstop block into a configuration; the lists its policies name are those of the
// store's catalog (every threatfeed block is parsed by now: threatfeed comes first in the directive order).
func parse(c *caddy.Controller, store *state.Store) (*Threatstop, error) {
	t := &Threatstop{ttl: DefaultTTL, negTTL: DefaultNegativeTTL}
	t.journal.versions, t.journal.maxBytes = DefaultJournal, DefaultJournalBytes
	t.listPage = DefaultListPage
	catalog := store.Catalog()
	journalSet := false
	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++
		zoneArgs := c.RemainingArgs()
		t.Zones = plugin.OriginsFromArgsOrServerBlock(zoneArgs, c.ServerBlockKeys)
		for c.NextBlock() {
			switch c.Val() {
			case "firewall":
				if t.fw != nil {
					return nil, c.Err("firewall is defined twice")
				}
				// Deprecated: the firewall is the threatfirewall plugin now; the block is read as one.
				log.Warningf("%s:%d: the firewall block inside threatstop is deprecated and goes in the next release: "+
					"move its lines into a threatfirewall { } block of the same server block", c.File(), c.Line())
				fw, err := threatfirewall.Parse(c)
				if err != nil {
					return nil, err
				}
				t.fw = fw
			case "ttl", "negative_ttl":
				key := c.Val()
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				v, err := strconv.ParseUint(args[0], 10, 32)
				if err != nil || v > 86400*7 {
					return nil, c.Errf("%s needs a number of seconds up to 604800, not %q", key, args[0])
				}
				if key == "ttl" {
					t.ttl = uint32(v)
				} else {
					t.negTTL = uint32(v)
				}
			case "ns":
				args := c.RemainingArgs()
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				for _, a := range args {
					if _, ok := dns.IsDomainName(a); !ok {
						return nil, c.Errf("ns %q is not a domain name", a)
					}
					t.ns = append(t.ns, dns.CanonicalName(a))
				}
			case "journal":
				args := c.RemainingArgs()
				if len(args) < 1 || len(args) > 2 {
					return nil, c.ArgErr()
				}
				v, err := strconv.Atoi(args[0])
				if err != nil || v < 1 || v > 1000 {
					return nil, c.Errf("journal needs a number of versions from 1 to 1000, not %q", args[0])
				}
				t.journal.versions, journalSet = v, true
				if len(args) == 2 {
					b, err := parseBytes(args[1])
					if err != nil {
						return nil, c.Errf("journal: %v", err)
					}
					t.journal.maxBytes = b
				}
			case "list_page":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				v, err := strconv.Atoi(args[0])
				if err != nil || v < 1 || v > DefaultListPage {
					return nil, c.Errf("list_page needs a number of entries from 1 to %d, not %q", DefaultListPage, args[0])
				}
				t.listPage = v
			case "catalog_keys":
				args := c.RemainingArgs()
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				if t.catalogKeys == nil {
					t.catalogKeys = map[string]bool{}
				}
				for _, k := range args {
					if _, ok := dns.IsDomainName(k); !ok {
						return nil, c.Errf("catalog_keys: %q is not a TSIG key name", k)
					}
					t.catalogKeys[strings.ToLower(dns.Fqdn(k))] = true
				}
			case "mbox":
				args := c.RemainingArgs()
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				if _, ok := dns.IsDomainName(args[0]); !ok {
					return nil, c.Errf("mbox %q is not a domain name (write hostmaster.example.org for hostmaster@example.org)", args[0])
				}
				t.mbox = dns.CanonicalName(args[0])
			case "follow":
				if t.follow != nil {
					return nil, c.Err("follow is defined twice")
				}
				f, err := parseFollow(c)
				if err != nil {
					return nil, err
				}
				t.follow = f
			case "policy":
				p, err := parsePolicy(c, store, catalog)
				if err != nil {
					return nil, err
				}
				if t.corefilePolicy(p.Name) != nil {
					return nil, fmt.Errorf("%s:%d - Error during parsing: policy %q is defined twice", c.File(), p.Line, p.Name)
				}
				t.order = append(t.order, p)
			default:
				return nil, c.Errf("unknown property %q", c.Val())
			}
		}
		// A firewall serves the whole server block; DNSBL zones are then only the ones named.
		if t.fw != nil && len(zoneArgs) == 0 {
			t.Zones = nil
		}
		if t.fw != nil && slices.Contains(t.Zones, ".") {
			return nil, fmt.Errorf("%s:%d - Error during parsing: firewall: the DNSBL zone \".\" would take every name, "+
				"leaving none to filter; name the DNSBL zones (threatstop threatstop.local { ... })", c.File(), t.fw.Line())
		}
	}
	if len(t.order) == 0 && t.fw == nil {
		return nil, c.Err("threatstop needs at least one policy { ... }")
	}
	// With no TSIG key and no transfer client, no zone can be transferred, so no IXFR asks for an old
	// version: keep none (a feed refreshed every minute would otherwise hold up to DefaultJournalBytes).
	if !journalSet && !t.transferable() {
		t.journal.versions = 1
	}
	if f := t.follow; f != nil && f.like != "" && t.corefilePolicy(f.like) == nil {
		return nil, fmt.Errorf("%s:%d - Error during parsing: follow: like %q: no such policy in this block", c.File(), f.line, f.like)
	}
	if t.follow != nil && len(t.order) == 0 {
		return nil, fmt.Errorf("%s:%d - Error during parsing: follow needs a policy in this block, which the policies it adds are served like", c.File(), t.follow.line)
	}
	if f := t.follow; f != nil && f.like == "" {
		f.like = t.order[0].Name
	}
	t.zones = zonesOf(t.Zones, t.ns, t.mbox)
	return t, nil
}

// lastCatalogSerial is the catalog serial of the latest configuration of this process: a reload within
// the same second must still move the catalog's serial on, or secondaries would miss the new members.
var lastCatalogSerial atomic.Uint32

// catalogRenotify is when a catalog's NOTIFY is sent again after a start or reload.
const catalogRenotify = 2 * time.Second

func nextCatalogSerial(now uint32) uint32 {
	for {
		old := lastCatalogSerial.Load()
		next := now
		if old != 0 {
			next = state.NextSerial(old, now)
		}
		if lastCatalogSerial.CompareAndSwap(old, next) {
			return next
		}
	}
}

// transferable reports whether any zone of t can be transferred: a policy with keys or transfer_clients,
// or catalog keys (which may transfer every member zone).
func (t *Threatstop) transferable() bool {
	if len(t.catalogKeys) > 0 {
		return true
	}
	for _, p := range t.order {
		if len(p.Keys) > 0 || p.TransferClients != nil {
			return true
		}
	}
	return false
}

func parsePolicy(c *caddy.Controller, store *state.Store, catalog policy.Catalog) (*policyEntry, error) {
	line := c.Line()
	args := c.RemainingArgs()
	if len(args) != 1 {
		return nil, c.Errf("policy needs exactly one name")
	}
	name := args[0]
	switch {
	case !policyNameRE.MatchString(name):
		return nil, c.Errf("policy name %q must be one DNS label of lowercase letters, digits and '-'", name)
	case reserved[name]:
		return nil, c.Errf("policy name %q is reserved", name)
	}
	cfg := policy.Config{Name: name, Answers: map[string]string{}, Actions: map[string]policy.Action{}}
	var clients, xfrClients []netip.Prefix
	xfrLine := 0
	keys := map[string]bool{}
	for c.NextBlock() {
		key := c.Val()
		args := c.RemainingArgs()
		if len(args) == 0 {
			return nil, c.Errf("%s needs at least one argument", key)
		}
		switch key {
		case "lists", "allow_lists":
			for _, l := range args {
				id, ok := store.ListID(l)
				if !ok {
					return nil, c.Errf("policy %s: unknown feed %q in %s (define it in a threatfeed block)", name, l, key)
				}
				if key == "lists" {
					cfg.Block = append(cfg.Block, id)
				} else {
					cfg.Allow = append(cfg.Allow, id)
				}
			}
		case "categories":
			for _, cat := range args {
				ids := store.Category(cat)
				if len(ids) == 0 {
					return nil, c.Errf("policy %s: no feed has category %q", name, cat)
				}
				cfg.Block = append(cfg.Block, ids...)
			}
		case "block", "allow":
			for _, e := range args {
				if err := policy.ValidEntry(e); err != nil {
					return nil, c.Errf("policy %s: %s: %v", name, key, err)
				}
			}
			if key == "block" {
				cfg.Blocked = append(cfg.Blocked, args...)
			} else {
				cfg.Allowed = append(cfg.Allowed, args...)
			}
		case "answer":
			if len(args) != 2 {
				return nil, c.Errf("answer needs a category (or default, or %s) and an address", policy.CustomList)
			}
			if _, err := policy.ParseAnswer(args[1]); err != nil {
				return nil, c.Errf("policy %s: %v", name, err)
			}
			if args[0] != "default" && args[0] != policy.CustomList && !knownCategory(catalog, args[0]) {
				return nil, c.Errf("policy %s: answer for category %q, which no feed has", name, args[0])
			}
			cfg.Answers[args[0]] = args[1]
		case "action":
			// "action ACTION [ADDRESS...]" or "action CATEGORY ACTION [ADDRESS...]"; a category may be
			// named like an action (Spamhaus DROP as "drop"), so the second word decides.
			key := "default"
			if !policy.IsAction(args[0]) || len(args) > 1 && policy.IsAction(args[1]) {
				key, args = args[0], args[1:]
				if key != policy.CustomList && !knownCategory(catalog, key) {
					return nil, c.Errf("policy %s: action for category %q, which no feed has", name, key)
				}
			}
			a, err := policy.ParseAction(args)
			if err != nil {
				return nil, c.Errf("policy %s: %v", name, err)
			}
			cfg.Actions[key] = a
		case "min_score":
			// "min_score N" or "min_score CATEGORY N"
			if len(args) > 2 {
				return nil, c.Errf("min_score needs a score, or a category and a score")
			}
			n, err := strconv.Atoi(args[len(args)-1])
			if err != nil || n < 0 || n > policy.MaxScore {
				return nil, c.Errf("policy %s: min_score needs a whole number from 0 to %d, not %q", name, policy.MaxScore, args[len(args)-1])
			}
			if len(args) == 1 {
				cfg.MinScore = n
				continue
			}
			if !knownCategory(catalog, args[0]) {
				return nil, c.Errf("policy %s: min_score for category %q, which no feed has", name, args[0])
			}
			if cfg.MinScores == nil {
				cfg.MinScores = map[string]int{}
			}
			cfg.MinScores[args[0]] = n
		case "max_entries":
			n, err := 0, error(nil)
			if len(args) == 1 {
				n, err = strconv.Atoi(args[0])
			}
			if len(args) != 1 || err != nil || n < 1 {
				return nil, c.Errf("policy %s: max_entries needs a whole number of at least 1", name)
			}
			cfg.MaxEntries = n
		case "clients", "transfer_clients":
			for _, a := range args {
				p, err := peer.Prefix(a)
				if err != nil {
					return nil, c.Errf("policy %s: %s: %v", name, key, err)
				}
				if key == "clients" {
					clients = append(clients, p)
				} else {
					xfrClients, xfrLine = append(xfrClients, p), c.Line()
				}
			}
		case "keys":
			for _, k := range args {
				if _, ok := dns.IsDomainName(k); !ok {
					return nil, c.Errf("policy %s: keys: %q is not a TSIG key name", name, k)
				}
				keys[strings.ToLower(dns.Fqdn(k))] = true
			}
		default:
			return nil, c.Errf("policy %s: unknown property %q", name, key)
		}
	}
	p, err := policy.New(cfg, catalog)
	if err != nil {
		return nil, c.Errf("policy %s: %v", name, err)
	}
	sp := &state.Policy{Policy: p, Config: cfg, Line: line, Keys: keys, Clients: liteOf(clients), TransferClients: liteOf(xfrClients)}
	return &policyEntry{Policy: sp, xfrLine: xfrLine}, nil
}

// liteOf is a trie of prefixes, nil for none.
func liteOf(prefixes []netip.Prefix) *bart.Lite {
	if prefixes == nil {
		return nil
	}
	l := new(bart.Lite)
	for _, p := range prefixes {
		l.Insert(p)
	}
	return l
}

// zonesOf computes each zone's SOA and NS names, longest zone first so that the most specific one matches.
func zonesOf(names, ns []string, mbox string) []zone {
	zones := make([]zone, len(names))
	for i, n := range names {
		z := zone{name: n, ns: ns, mbox: mbox}
		if len(z.ns) == 0 {
			z.ns = []string{dnsutil.Join("ns1", n)}
		}
		if z.mbox == "" {
			z.mbox = dnsutil.Join("hostmaster", n)
		}
		zones[i] = z
	}
	slices.SortStableFunc(zones, func(a, b zone) int { return len(b.name) - len(a.name) })
	return zones
}

func knownCategory(cat policy.Catalog, category string) bool {
	for _, l := range cat {
		if l.Category == category {
			return true
		}
	}
	return false
}

// parseBytes reads a size such as 65536, 64KiB, 256MiB or 1GiB.
func parseBytes(s string) (int, error) {
	num, mult := s, 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 0 || v > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size in bytes (such as 65536, 64MiB or 1GiB)", s)
	}
	return v * mult, nil
}
