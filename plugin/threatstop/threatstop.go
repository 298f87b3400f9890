// Package threatstop is a CoreDNS plugin that answers DNSxL lookups (RFC 5782) for per-customer policies
// from the snapshot that the threatfeed plugin compiles: "4.3.2.1.<policy>.<zone>" for 1.2.3.4, 32 reversed
// nibbles for IPv6, "<domain>.<policy>.<zone>" for names. A listed entry answers 127.0.0.x and TXT
// reasons; anything else answers NXDOMAIN with the policy's SOA. The handler only reads: the snapshot and
// the policies' serials are swapped in whole with one atomic store when a feed changes.
package threatstop

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/pace"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/qname"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/threatfeed"
)

// Threatstop is the plugin handler.
type Threatstop struct {
	Next  plugin.Handler
	Zones []string

	feeds    *threatfeed.Feeds
	policies map[string]*policyEntry
	order    []*policyEntry // by policy index

	ttl, negTTL uint32
	ns          []string // NS targets; default ns1.<zone>
	mbox        string   // SOA RNAME; default hostmaster.<zone>
	zones       []zone   // Zones with their SOA and NS names, longest first

	state atomic.Pointer[state]
	fw    *firewall // nil: no in-line firewall

	notifier      notifier        // the transfer plugin of the server block, if any: NOTIFY on changes
	catalogKeys   map[string]bool // TSIG keys that may transfer the catalog zone
	catalogSerial uint32          // the catalog's serial: when this instance started
	journal       journal         // recent versions, for IXFR
	listPage      int             // the most entries a list page holds
}

// zone is one served zone with the names its SOA and NS records use, computed once.
type zone struct {
	name string
	ns   []string
	mbox string
}

// policyEntry is a policy with what the handler keeps beside it.
type policyEntry struct {
	*policy.Policy
	index   int
	owner   *Threatstop // the block that defines it, whose state holds its serial
	clients *bart.Lite  // nil: every client may ask

	keys            map[string]bool // TSIG key names that may transfer the policy's RPZ zone
	transferClients *bart.Lite      // networks that may transfer it without a key
	counters        counters

	pages   atomic.Pointer[listPages] // the list pages at the latest serial asked for
	pagesMu sync.Mutex                // one computation of the pages at a time
}

// state is what one query reads: a snapshot and the serials that go with it.
type state struct {
	snap       *snapshot.Snapshot
	serials    []uint32 // by policy index
	zoneSerial uint32
}

// ServeDNS implements plugin.Handler. It is tiny on purpose: its frame is on the stack of every query
// that goes on to cache and forward, and each query runs on a fresh goroutine, whose stack is copied
// whenever it grows past its size: a few hundred bytes more there cost a stack copy per query.
func (t *Threatstop) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	w, done, rcode, err := t.route(ctx, w, r)
	if done {
		return rcode, err
	}
	if t.Next == nil {
		return t.next(ctx, w, r)
	}
	rcode, err = t.Next.ServeDNS(ctx, w, r) // directly: see next
	if q, ok := w.(*fwQuery); ok {
		// The firewall checks and writes the answer here, where the stack is shallow again.
		if werr := q.flush(); err == nil {
			err = werr
		}
	}
	return rcode, err
}

// route answers the query (done) or returns the writer through which the next plugins answer it: the
// DNSBL zones answer here, the firewall filters everything else, and without one all passes on.
//
//go:noinline
func (t *Threatstop) route(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (dns.ResponseWriter, bool, int, error) {
	pace.Served()             // background work yields to queries only while there are some
	if len(r.Question) == 0 { // the server answers these itself; a plugin before this one may not
		return w, false, 0, nil
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name) // no allocation unless the name has upper case
	if z := t.match(name); z != nil {
		rcode, err := t.serveZone(ctx, w, r, z, name, q.Qtype, q.Qclass)
		return w, true, rcode, err
	}
	if t.fw != nil {
		return t.filter(ctx, w, r, name, q.Qtype)
	}
	return w, false, 0, nil
}

// serveZone answers a query in one of the DNSBL zones.
//
//go:noinline
func (t *Threatstop) serveZone(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone, name string, qtype, qclass uint16) (int, error) {
	if qclass != dns.ClassINET {
		return dns.RcodeRefused, nil
	}
	st := t.state.Load()

	rest := name[:len(name)-len(z.name)] // "4.3.2.1.demo." or "" at the zone apex
	if rest == "" {
		if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
			return t.refuse(w, r) // the DNSBL zone is not transferable: only the policies' RPZ zones are
		}
		return t.apex(w, r, z.name, z, st.zoneSerial, qtype)
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
	if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return t.refuse(w, r)
	}
	p := t.policies[label]
	if p == nil {
		return t.nxdomain(w, r, z.name, z, st.zoneSerial)
	}
	list := isList(inner)
	// The list pages are the policy's whole content: its clients may read them, and so may whoever may
	// transfer its RPZ zone.
	if p.clients != nil && !p.clients.Contains(clientAddr(w)) && !(list && p.mayTransfer(ctx, w)) {
		p.counters.refused.Inc()
		return dns.RcodeRefused, nil
	}
	apex := name[len(name)-len(z.name)-len(label)-1:]
	serial := st.serials[p.index]
	if inner == "" {
		return t.apex(w, r, apex, z, serial, qtype)
	}
	if list {
		return t.serveList(ctx, w, r, p, st, z, inner, apex, qtype)
	}

	var v policy.Verdict
	switch q := qname.Decode(inner); q.Kind {
	case qname.Addr:
		v = p.CheckAddr(st.snap, q.Addr)
	case qname.Name:
		v = p.CheckName(st.snap, q.Name)
	default:
		p.counters.invalid.Inc()
		return t.nxdomain(w, r, apex, z, serial)
	}
	if !v.Listed {
		p.counters.clean.Inc()
		return t.nxdomain(w, r, apex, z, serial)
	}
	p.counters.listed.Inc()
	return t.listed(w, r, p, st.snap, v, apex, z, serial, qtype)
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

// clientAddr is the querier's address; unknown transports give the zero Addr, which no clients list holds.
// An address that wraps the real client's (PROXY protocol: RemoteAddr is then a *proxyproto.Addr, which
// implements Unwrap like request.Proto expects) is unwrapped: without that, every proxied query would
// have no address, and the firewall would pass it unfiltered.
func clientAddr(w dns.ResponseWriter) netip.Addr {
	a := w.RemoteAddr()
	for range 4 { // a wrapper of a wrapper at most, in practice
		var ip net.IP
		switch v := a.(type) {
		case *net.UDPAddr:
			if v != nil {
				ip = v.IP
			}
		case *net.TCPAddr:
			if v != nil {
				ip = v.IP
			}
		case interface{ Unwrap() net.Addr }:
			if a = v.Unwrap(); a == nil {
				return netip.Addr{}
			}
			continue
		default:
			return netip.Addr{}
		}
		addr, _ := netip.AddrFromSlice(ip)
		return addr.Unmap()
	}
	return netip.Addr{}
}

// update derives the state for a new snapshot: a policy's serial moves on when a list it uses changed.
func (t *Threatstop) update(s *snapshot.Snapshot) {
	now := uint32(time.Now().Unix())
	old := t.state.Load()
	next := &state{snap: s, serials: make([]uint32, len(t.order)), zoneSerial: now}
	if old != nil {
		next.zoneSerial = old.zoneSerial
	}
	changed := false
	for i, p := range t.order {
		switch {
		case old == nil:
			next.serials[i] = now
		case usesChanged(p.Policy, old.snap, s):
			next.serials[i] = nextSerial(old.serials[i], now)
			changed = true
		default:
			next.serials[i] = old.serials[i]
		}
		policySerial.WithLabelValues(p.Name).Set(float64(next.serials[i]))
	}
	if old != nil && changed {
		next.zoneSerial = nextSerial(old.zoneSerial, now)
	}
	t.state.Store(next)
	t.journal.add(next)
	t.notify(old, next)
}

// usesChanged reports whether a list that p uses has another version in b than in a.
func usesChanged(p *policy.Policy, a, b *snapshot.Snapshot) bool {
	if len(a.Lists) != len(b.Lists) {
		return true
	}
	for i := range b.Lists {
		if p.Uses(i) && (a.Lists[i].Version != b.Lists[i].Version || a.Lists[i].Withheld != b.Lists[i].Withheld) {
			return true
		}
	}
	return false
}

// nextSerial is the serial after old: the current time when that is later in RFC 1982 arithmetic, which
// keeps serials increasing across restarts, else old+1.
func nextSerial(old, now uint32) uint32 {
	if int32(now-old) > 0 {
		return now
	}
	return old + 1
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
