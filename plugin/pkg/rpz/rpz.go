// Package rpz renders a policy as a DNS Response Policy Zone (draft-vixie-dnsop-dns-rpz; BIND ARM,
// "Response Policy Zones"), the zone that BIND, Unbound, Knot Resolver and PowerDNS Recursor load by zone
// transfer. It owns the mapping from policy entries (policy.Content) to records: trigger owner names
// (rpz-ip for prefixes, the name itself and *.name for names) and one action per trigger.
//
// The zone decides every address and name as the policy does, both for resolvers that walk up to the
// deepest wildcard (PowerDNS Recursor) and for those that follow DNS wildcard rules (BIND: a name that
// exists in the zone hides the wildcards above it, so under an exact trigger the wildcard above it is
// repeated; see Zone).
//
// Cost: about 150 ns and 110 bytes per record, policy.Content included. Records are built in batches
// whose records, owner names and redirect addresses share a few allocations (0.003 per record). See
// BenchmarkZone (1M entries).
package rpz

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/rpzname"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Batch is about how many records Zone hands over at a time: few enough for a transfer to stream, many
// enough to share allocations.
const Batch = 1000

// RPZ actions as CNAME targets (draft-vixie-dnsop-dns-rpz §3).
const (
	targetNXDomain = "."
	targetNoData   = "*."
	targetDrop     = "rpz-drop."
	targetPassthru = "rpz-passthru."
)

// maxOwner is the longest owner name in presentation form, trailing dot included: 255 octets on the
// wire, as our names carry no escapes.
const maxOwner = 254

// suffix is what follows a trigger: "." and the origin, fully qualified.
func suffix(origin string) string {
	if origin == "" || origin == "." {
		return "."
	}
	return "." + dns.Fqdn(origin)
}

// PrefixOwner is the owner name of the rpz-ip trigger of p under origin, in the canonical form of
// rpzname.Encode: the prefix length, then the address reversed, IPv4 as decimal octets (192.0.2.0/24 →
// 24.0.2.0.192.rpz-ip) and IPv6 as 16-bit groups in lowercase hex, "zz" for the longest zero run
// (2001:db8::1/128 → 128.1.zz.db8.2001.rpz-ip), the form BIND writes and checks. A /0 has no trigger
// of its own (a length must be 1 or more); Records and Zone write its two halves.
func PrefixOwner(p netip.Prefix, origin string) string {
	return string(appendPrefix(nil, p)) + suffix(origin)
}

// NameOwner is the owner name of the trigger for name (normalised, no trailing dot) under origin; the
// trigger for its subdomains is "*." in front of it.
func NameOwner(name, origin string) string { return name + suffix(origin) }

// Owner is the owner name of an entry's trigger: PrefixOwner or NameOwner (for a wildcard entry, the
// trigger of the name itself).
func Owner(e policy.Entry, origin string) string {
	if e.Prefix.IsValid() {
		return PrefixOwner(e.Prefix, origin)
	}
	return NameOwner(e.Name, origin)
}

// appendPrefix appends the trigger of p in front of the origin, "rpz-ip" included.
func appendPrefix(dst []byte, p netip.Prefix) []byte {
	return append(append(rpzname.Append(dst, p), '.'), rpzname.Label...)
}

// halves are the two /1 prefixes that make up the /0 of p's family.
func halves(p netip.Prefix) [2]netip.Prefix {
	if p.Addr().Is4() {
		return [2]netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}
	}
	return [2]netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
}

// reserved reports whether a name cannot be a QNAME trigger: under rpz-ip, rpz-nsip, rpz-nsdname or
// rpz-client-ip, a resolver reads it as a trigger of another kind. No such top-level domain exists.
func reserved(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	switch last {
	case "rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip":
		return true
	}
	return false
}

// Records renders one entry on its own: the trigger of a prefix (a /0 as its two /1 halves), of a name,
// or of a name and its subdomains (two owners), each with the entry's action: NXDOMAIN as CNAME ., NODATA
// as CNAME *., drop as CNAME rpz-drop., a redirect as its A and AAAA records, passthru and log-only (and
// allow entries) as CNAME rpz-passthru. Zone also settles how entries overlap; use it for a whole policy.
// A trigger whose owner would be longer than a domain name can be, or that would read as another kind of
// trigger, has no records.
func Records(e policy.Entry, origin string, ttl uint32) []dns.RR {
	w := newWriter(origin, ttl)
	w.write(e, true, e.Sub)
	return w.take()
}

// Zone streams the records of a policy's zone (not the SOA and NS records at the apex: the caller adds
// them), in batches of about Batch records that fn may keep, until fn returns false. Where entries overlap,
// it writes what a resolver needs to decide as the policy does:
//   - an exact entry and a wildcard entry of the same name: the exact one owns the name, the wildcard
//     only *.name;
//   - an exact entry under a blocking wildcard: *.name repeats what the wildcard decides for its
//     subdomains, since BIND stops at the closest name the zone holds, as DNS wildcards do (RFC 4592);
//   - a /0: its two /1 halves, unless an entry of their own is there.
func Zone(p *policy.Policy, s *snapshot.Snapshot, origin string, ttl uint32, fn func([]dns.RR) bool) {
	ZoneOf(p, s, policy.Families{V4: true, V6: true, Names: true}, origin, ttl, fn)
}

// ZoneOf streams the records of some kinds of entries only: exactly those records of Zone, since the
// records of one kind never depend on entries of another.
func ZoneOf(p *policy.Policy, s *snapshot.Snapshot, f policy.Families, origin string, ttl uint32, fn func([]dns.RR) bool) {
	ZoneWhere(p, s, f, nil, origin, ttl, fn)
}

// ZoneWhere streams the records of the entries that keep accepts (all when keep is nil): exactly the
// records Zone writes for them, provided keep accepts an entry together with every entry inside it (the
// prefixes within a prefix, the names under a name), as a policy.Region does. The IXFR journal renders
// only the region that changed.
func ZoneWhere(p *policy.Policy, s *snapshot.Snapshot, f policy.Families, keep func(policy.Entry) bool, origin string, ttl uint32, fn func([]dns.RR) bool) {
	z := zone{writer: newWriter(origin, ttl), fn: fn}
	z.run(p, s, f, keep)
}

// MaxName is the length of the longest name whose triggers (name and *.name) fit under origin: a domain
// name has at most 255 octets, and the owner NAME.ORIGIN is one. Shorter names, and every prefix, always fit.
func MaxName(origin string) int { return maxOwner - len(suffix(origin)) - 2 }

// Omitted returns the triggers that Zone leaves out of the policy's zone under origin because their owner
// would be longer than a domain name can be: a name entry (Sub false: the name's own trigger; Sub true:
// *.name), the repeated wildcard of an exact name under a blocking wildcard included. Only names longer
// than MaxName can be among them, and the policy has none unless one of its sets (Policy.Sets) holds one;
// a caller that knows the longest name can skip the walk over the policy's names.
func Omitted(p *policy.Policy, s *snapshot.Snapshot, origin string) []policy.Entry {
	var out []policy.Entry
	z := zone{writer: newWriter(origin, 0), fn: func([]dns.RR) bool { return true }}
	z.omit = func(e policy.Entry) { out = append(out, e) }
	limit := MaxName(origin)
	// Names under a name are longer, so this keeps an entry together with every entry inside it.
	z.run(p, s, policy.Families{Names: true}, func(e policy.Entry) bool { return len(e.Name) > limit })
	return out
}

// run writes the records of the entries that keep accepts (all when keep is nil).
func (z *zone) run(p *policy.Policy, s *snapshot.Snapshot, f policy.Families, keep func(policy.Entry) bool) {
	if keep == nil {
		p.ContentOf(s, f, z.entry)
	} else {
		p.ContentOf(s, f, func(e policy.Entry) bool { return !keep(e) || z.entry(e) })
	}
	if !z.stopped {
		z.flushHalves(policy.Entry{})
		z.settle(policy.Entry{})
		if len(z.rrs) > 0 {
			z.fn(z.take())
		}
	}
}

// zone is the state of one Zone: what an entry still waits for.
type zone struct {
	writer
	fn func([]dns.RR) bool

	halves  []policy.Entry // the /1 halves of a /0 entry not written yet: an entry of their own may come
	exact   string         // the exact name just written
	under   *policy.Hit    // what the wildcards above exact decide for its subdomains, still to write
	stopped bool
}

func (z *zone) entry(e policy.Entry) bool {
	z.flushHalves(e)
	z.settle(e)
	switch {
	case e.Prefix.IsValid() && e.Prefix.Bits() == 0:
		for _, h := range halves(e.Prefix) {
			x := e
			x.Prefix = h
			z.halves = append(z.halves, x)
		}
	case e.Prefix.IsValid():
		z.write(e, true, true)
	case e.Sub:
		z.write(e, e.Name != z.exact, true) // an exact entry of the same name came first and owns the name
		z.exact = ""
	default:
		z.write(e, true, false)
		z.exact, z.under = e.Name, e.Under
	}
	if len(z.rrs) >= Batch && !z.fn(z.take()) {
		z.stopped = true
	}
	return !z.stopped
}

// flushHalves writes the pending /1 halves that e comes after; a half that e is dropped for e's decision.
// The zero Entry comes after them all.
func (z *zone) flushHalves(e policy.Entry) {
	for len(z.halves) > 0 {
		h := z.halves[0]
		if e.Prefix.IsValid() && e.Prefix.Addr().Is4() == h.Prefix.Addr().Is4() && e.Prefix.Addr().Less(h.Prefix.Addr()) {
			return
		}
		z.halves = z.halves[1:]
		if e.Prefix != h.Prefix {
			z.write(h, true, true)
		}
	}
}

// settle writes the subdomains of the last exact name unless e is the wildcard of that name. With DNS
// wildcard rules a name the zone holds hides the wildcards above it: where one of them blocks the
// subdomains, they get a wildcard of their own with the same action. Allowed subdomains need none: no
// rewrite is what an allow gives.
func (z *zone) settle(e policy.Entry) {
	if z.under == nil {
		return
	}
	if !e.Sub || e.Name != z.exact {
		z.write(policy.Entry{Name: z.exact, Sub: true, Hit: *z.under}, false, true)
	}
	z.under = nil
}

// writer builds records in batches: owner names are appended to one buffer and become one string when
// the batch is taken; records come from arrays shared by the batch.
type writer struct {
	suffix string
	ttl    uint32
	rrs    []dns.RR
	spans  []span // the owner of each record in buf
	buf    []byte
	cnames arena[dns.CNAME]
	as     arena[dns.A]
	aaaas  arena[dns.AAAA]
	ips    map[netip.Addr]net.IP // redirect addresses, converted once and shared: records are never modified
	omit   func(policy.Entry)    // if set, told of each trigger too long for the zone (Omitted)
}

type span struct{ start, end int32 }

func newWriter(origin string, ttl uint32) writer {
	return writer{suffix: suffix(origin), ttl: ttl, rrs: make([]dns.RR, 0, Batch+8)}
}

// write appends the records of e; for a name entry, apex and wild choose the owners (name, *.name).
func (w *writer) write(e policy.Entry, apex, wild bool) {
	if e.Prefix.IsValid() && e.Prefix.Bits() == 0 {
		for _, h := range halves(e.Prefix) {
			e.Prefix = h
			w.write(e, true, true)
		}
		return
	}
	start := len(w.buf)
	switch {
	case e.Prefix.IsValid():
		w.buf = appendPrefix(w.buf, e.Prefix)
	case reserved(e.Name):
		return
	default:
		w.buf = append(w.buf, "*."...)
		w.buf = append(w.buf, e.Name...)
	}
	w.buf = append(w.buf, w.suffix...)
	end := len(w.buf)
	if e.Prefix.IsValid() {
		if end-start <= maxOwner {
			w.records(span{int32(start), int32(end)}, e)
		}
		return
	}
	if apex {
		if end-start-2 <= maxOwner {
			w.records(span{int32(start + 2), int32(end)}, e)
		} else if w.omit != nil {
			x := e
			x.Sub = false
			w.omit(x)
		}
	}
	if wild {
		if end-start <= maxOwner {
			w.records(span{int32(start), int32(end)}, e)
		} else if w.omit != nil {
			x := e
			x.Sub = true
			w.omit(x)
		}
	}
}

// records appends the action of e at owner o.
func (w *writer) records(o span, e policy.Entry) {
	kind := policy.Passthru
	if !e.Allow {
		kind = e.Hit.Action.Kind
	}
	target := targetPassthru
	switch kind {
	case policy.NXDomain:
		target = targetNXDomain
	case policy.NoData:
		target = targetNoData
	case policy.Drop:
		target = targetDrop
	case policy.Redirect:
		if len(e.Hit.Action.Redirect) == 0 {
			target = targetNXDomain // a redirect with nowhere to go still blocks
			break
		}
		for _, a := range e.Hit.Action.Redirect {
			if a.Is4() {
				rr := w.as.next()
				rr.Hdr, rr.A = w.hdr(dns.TypeA), w.ip(a)
				w.add(rr, o)
			} else {
				rr := w.aaaas.next()
				rr.Hdr, rr.AAAA = w.hdr(dns.TypeAAAA), w.ip(a)
				w.add(rr, o)
			}
		}
		return
	}
	rr := w.cnames.next()
	rr.Hdr, rr.Target = w.hdr(dns.TypeCNAME), target
	w.add(rr, o)
}

func (w *writer) hdr(t uint16) dns.RR_Header {
	return dns.RR_Header{Rrtype: t, Class: dns.ClassINET, Ttl: w.ttl}
}

func (w *writer) ip(a netip.Addr) net.IP {
	ip, ok := w.ips[a]
	if !ok {
		if w.ips == nil {
			w.ips = map[netip.Addr]net.IP{}
		}
		ip = a.AsSlice()
		w.ips[a] = ip
	}
	return ip
}

func (w *writer) add(rr dns.RR, o span) {
	w.rrs = append(w.rrs, rr)
	w.spans = append(w.spans, o)
}

// take hands over the batch, owner names filled in, and starts the next one.
func (w *writer) take() []dns.RR {
	owners := string(w.buf)
	for i, rr := range w.rrs {
		rr.Header().Name = owners[w.spans[i].start:w.spans[i].end]
	}
	rrs := w.rrs
	w.rrs, w.spans, w.buf = make([]dns.RR, 0, Batch+8), w.spans[:0], w.buf[:0]
	return rrs
}

// arena hands out records from shared arrays; a full array is left to the records taken from it.
type arena[T any] struct{ s []T }

func (a *arena[T]) next() *T {
	if len(a.s) == cap(a.s) {
		a.s = make([]T, 0, Batch)
	}
	a.s = a.s[:len(a.s)+1]
	return &a.s[len(a.s)-1]
}
