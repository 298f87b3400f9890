// Package threatstop is a CoreDNS plugin that answers DNSxL lookups (RFC 5782) for per-customer policies
// from the instance's State (package state: the snapshot that the threatfeed plugin compiles, the
// policies and their serials): "4.3.2.1.<policy>.<zone>" for 1.2.3.4, 32 reversed
// nibbles for IPv6, "<domain>.<policy>.<zone>" for names. A listed entry answers 127.0.0.x and TXT
// reasons; anything else answers NXDOMAIN with the policy's SOA. The handler only reads the State, which
// is swapped in whole with one atomic store when a feed changes.
package threatstop

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/qname"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatfirewall"
)

// Threatstop is the plugin handler.
type Threatstop struct {
	Next  plugin.Handler
	Zones []string

	store *state.Store
	block *state.Block   // this block's policies in the store's States
	order []*policyEntry // the Corefile's, in its order

	// entries holds, by name, what the handler keeps beside each policy a State serves (the Corefile's
	// and those added while serving); the State itself says which policies exist and what they are.
	entries   atomic.Pointer[map[string]*policyEntry]
	entriesMu sync.Mutex // adds an entry

	ttl, negTTL uint32
	ns          []string // NS targets; default ns1.<zone>
	mbox        string   // SOA RNAME; default hostmaster.<zone>
	zones       []zone   // Zones with their SOA and NS names, longest first

	notifier      notifier        // the transfer plugin of the server block, if any: NOTIFY on changes
	catalogKeys   map[string]bool // TSIG keys that may transfer the catalog zone
	catalogSerial atomic.Uint32   // the catalog's serial: when this configuration started, or its members last changed
	journal       journal         // recent versions, for IXFR
	config        *configZone     // the policies' definitions, for edges that follow them
	follow        *follower       // the aggregator's configuration zone this edge follows; nil: none
	listPage      int             // the most entries a list page holds
	renotify      *time.Timer     // the catalog's second NOTIFY after a start

	fw *threatfirewall.Firewall // a deprecated firewall block inside this one; nil: none
}

// zone is one served zone with the names its SOA and NS records use, computed once.
type zone struct {
	name string
	ns   []string
	mbox string
}

// policyEntry is a policy (as the State holds it) with what the handler keeps beside it.
type policyEntry struct {
	*state.Policy
	counters counters
	hits     hitCounters
	xfrLine  int // the Corefile line of its (last) transfer_clients; 0: none

	pages   atomic.Pointer[listPages] // the list pages at the latest serial asked for
	pagesMu sync.Mutex                // one computation of the pages at a time
}

// ServeDNS implements plugin.Handler: the DNSBL zones (with the RPZ zones, list pages and catalog below
// them) are answered here; everything else passes on.
func (t *Threatstop) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) == 0 { // the server answers these itself; a plugin before this one may not
		return t.next(ctx, w, r)
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name) // no allocation unless the name has upper case
	if r.Opcode == dns.OpcodeNotify && t.follow != nil && name == t.follow.src.Zone {
		return t.follow.notify(w, r)
	}
	if z := t.match(name); z != nil {
		return t.serveZone(ctx, w, r, z, name, q.Qtype, q.Qclass)
	}
	return t.next(ctx, w, r)
}

// serveZone answers a query in one of the DNSBL zones.
func (t *Threatstop) serveZone(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone, name string, qtype, qclass uint16) (int, error) {
	if qclass != dns.ClassINET {
		return dns.RcodeRefused, nil
	}
	st := t.store.Load()
	zoneSerial := st.ZoneSerials[t.block.Index]

	rest := name[:len(name)-len(z.name)] // "4.3.2.1.demo." or "" at the zone apex
	if rest == "" {
		if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
			return t.refuse(w, r) // the DNSBL zone is not transferable: only the policies' RPZ zones are
		}
		return t.apex(w, r, z.name, z, zoneSerial, qtype)
	}
	rest = rest[:len(rest)-1]
	label, inner := rest, ""
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		label, inner = rest[i+1:], rest[:i]
	}
	if label == rpzLabel && inner != "" {
		return t.serveRPZ(ctx, w, r, z, inner, name, qtype)
	}
	if label == catalogLabel && inner == "" {
		return t.serveCatalog(ctx, w, r, z, name, qtype)
	}
	if label == configLabel && inner == "" {
		return t.serveConfig(ctx, w, r, z, name, qtype)
	}
	if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return t.refuse(w, r)
	}
	sp := st.Blocks[t.block.Index].Policy(label) // as this State defines it: policies change while served
	if sp == nil {
		return t.nxdomain(w, r, z.name, z, zoneSerial)
	}
	p := t.entryOf(sp, len(st.Catalog))
	list := isList(inner)
	// The list pages are the policy's whole content, allow carve-outs included: only for those that may
	// read it, whether or not the policy has clients.
	if list && !t.mayRead(ctx, w, sp) || !list && !mayLookUp(w, sp) {
		p.counters.refused.Inc()
		return dns.RcodeRefused, nil
	}
	apex := name[len(name)-len(z.name)-len(label)-1:]
	serial := st.Serial(sp)
	if inner == "" {
		return t.apex(w, r, apex, z, serial, qtype)
	}
	if list {
		return t.serveList(ctx, w, r, p, sp, st, z, inner, apex, qtype)
	}

	q := qname.Decode(inner)
	if q.Kind == qname.Invalid {
		p.counters.invalid.Inc()
		return t.nxdomain(w, r, apex, z, serial)
	}
	view := st.SnapOf(sp) // what the policy answers from: its choice by score, when it makes one
	v, testPoint := check(sp.Policy, view, q)
	if !v.Listed {
		p.counters.clean.Inc()
		return t.nxdomain(w, r, apex, z, serial)
	}
	p.counters.listed.Inc()
	p.hits.count(sp.Policy, sp.Name, view, v)
	// Only its clients (when it has them) and those that may read the policy learn which of its
	// listings are its own entries.
	own := v.Custom && t.mayRead(ctx, w, sp)
	return t.listed(w, r, sp, view, v, own, testPoint, apex, z, serial, qtype)
}

// match returns the longest served zone that holds name (lowercase, fully qualified), without the
// allocation of dns.IsSubDomain.
func (t *Threatstop) match(name string) *zone {
	for i := range t.zones {
		z := &t.zones[i]
		if z.name == "." {
			return z
		}
		if strings.HasSuffix(name, z.name) && (len(name) == len(z.name) || name[len(name)-len(z.name)-1] == '.') {
			return z
		}
	}
	return nil
}

// Name implements plugin.Handler.
func (t *Threatstop) Name() string { return pluginName }

// update follows a new State: the serial gauges, the journal, and NOTIFY for each policy whose serial
// moved on.
func (t *Threatstop) update(old, next *state.State) {
	for _, p := range next.Blocks[t.block.Index].Policies {
		omitted := next.Omitted[p.Index]
		op := t.beforeOf(old, p)
		moved := op == nil || old.Serial(op) != next.Serial(p) || len(old.Omitted[op.Index]) != len(omitted)
		if !moved {
			continue // with thousands of policies, a refresh or an edit changes a few: their gauges alone
		}
		if len(omitted) == 0 {
			// Only policies that leave names out have the series: with thousands of policies, a zero
			// for each would cost more than the rest of their metrics.
			rpzOmitted.DeleteLabelValues(p.Name)
		} else {
			rpzOmitted.WithLabelValues(p.Name).Set(float64(len(omitted)))
			log.Warningf("policy %s serial %d: %d names too long for its RPZ zone (owner over 255 octets), answered by DNSBL lookups but not in zone transfers, so not on edges or secondaries either: %s",
				p.Name, next.Serial(p), len(omitted), omittedNames(omitted, 3))
		}
	}
	if old != nil && !sameMembers(old.Blocks[t.block.Index], next.Blocks[t.block.Index]) {
		// A policy added or removed while serving: the catalog's members changed, and a removed policy's
		// series and entry go.
		policySeries.Replace(next.PolicyNames())
		t.pruneEntries(next.Blocks[t.block.Index])
		t.catalogSerial.Store(nextCatalogSerial(max(t.catalogSerial.Load(), uint32(time.Now().Unix()))))
		if t.notifier != nil {
			for _, z := range t.zones {
				t.notifyZone(catalogLabel + "." + z.name)
			}
		}
	}
	t.journal.add(next)
	t.notify(old, next)
	if t.config != nil && t.config.update(next, t.block.Index, uint32(time.Now().Unix())) && t.notifier != nil {
		for _, z := range t.zones {
			t.notifyZone(configLabel + "." + z.name)
		}
	}
}

// before is the policy called name in old (nil when old is nil or has none): this block's.
func (t *Threatstop) before(old *state.State, name string) *state.Policy {
	if old == nil || t.block.Index >= len(old.Blocks) {
		return nil
	}
	return old.Blocks[t.block.Index].Policy(name)
}

// beforeOf is before(old, p.Name), without the lookup when p is where it was in old (an edit leaves the
// others there).
func (t *Threatstop) beforeOf(old *state.State, p *state.Policy) *state.Policy {
	if old != nil && p.Index < len(old.Policies) && old.Policies[p.Index] == p {
		return p
	}
	return t.before(old, p.Name)
}

// sameMembers reports whether two versions of a block hold the same policies, by name and in order.
func sameMembers(a, b *state.Block) bool {
	if len(a.Policies) != len(b.Policies) {
		return false
	}
	for i, p := range a.Policies {
		if b.Policies[i].Name != p.Name {
			return false
		}
	}
	return true
}

// corefilePolicy is the Corefile's policy called name, or nil.
func (t *Threatstop) corefilePolicy(name string) *policyEntry {
	for _, p := range t.order {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// pruneEntries drops the entries of policies b no longer holds.
func (t *Threatstop) pruneEntries(b *state.Block) {
	t.entriesMu.Lock()
	defer t.entriesMu.Unlock()
	cur := t.entries.Load()
	if cur == nil {
		return
	}
	n := make(map[string]*policyEntry, len(b.Policies))
	for name, e := range *cur {
		if b.Policy(name) != nil {
			n[name] = e
		}
	}
	t.entries.Store(&n)
}

// entryOf is the handler's entry for policy p: created on the first query of a policy added while
// serving (a State is served before its subscribers run), with hit counters for lists lists. It takes
// nothing of the Store's: a Store that publishes holds its lock while its subscribers (update) run.
func (t *Threatstop) entryOf(p *state.Policy, lists int) *policyEntry {
	if m := t.entries.Load(); m != nil {
		if e := (*m)[p.Name]; e != nil {
			return e
		}
	}
	t.entriesMu.Lock()
	defer t.entriesMu.Unlock()
	var m map[string]*policyEntry
	if cur := t.entries.Load(); cur != nil {
		m = *cur
	}
	if e := m[p.Name]; e != nil {
		return e
	}
	n := make(map[string]*policyEntry, len(m)+1)
	maps.Copy(n, m)
	e := &policyEntry{Policy: p, counters: newCounters(p.Name), hits: make(hitCounters, lists+1)}
	n[p.Name] = e
	t.entries.Store(&n)
	return e
}

// omittedNames lists the first n omitted triggers, and how many more there are.
func omittedNames(omitted []policy.Entry, n int) string {
	var b strings.Builder
	for i, e := range omitted[:min(n, len(omitted))] {
		if i > 0 {
			b.WriteString(", ")
		}
		if e.Sub {
			b.WriteString("*.")
		}
		b.WriteString(e.Name)
	}
	if len(omitted) > n {
		fmt.Fprintf(&b, " and %d more", len(omitted)-n)
	}
	return b.String()
}

// next passes a query on. It calls the next handler directly: plugin.NextOrFailure's 200-byte frame
// (for tracing, which this binary does not compile in) would sit on the stack of every resolved query,
// and a deeper stack costs a stack copy per query.
func (t *Threatstop) next(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if t.Next == nil {
		return plugin.NextOrFailure(t.Name(), nil, ctx, w, r)
	}
	return t.Next.ServeDNS(ctx, w, r)
}
