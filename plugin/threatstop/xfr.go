package threatstop

import (
	"context"
	"strings"

	"github.com/coredns/coredns/plugin/transfer"
	"github.com/coredns/coredns/plugin/tsig"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/peer"
	"github.com/threatstop/threatstop/plugin/pkg/rpz"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// The RPZ zone of a policy is <policy>.rpz.<zone>: the whole policy, for resolvers (BIND, Unbound,
// PowerDNS Recursor; Knot Resolver from a file) and firewalls that load it by zone transfer. threatstop renders it from the
// snapshot at transfer time and hands it to the transfer plugin, which streams it to the client.
const rpzLabel = "rpz"

// serveRPZ answers inside an RPZ zone: rest is the part of the query name in front of ".rpz.<zone>".
// A zone transfer goes to the transfer plugin once the client may have it; a secondary's SOA query at
// the apex is answered; names inside the zone are not looked up one by one (the DNSBL names are the
// lookup interface), so they are REFUSED.
func (t *Threatstop) serveRPZ(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone, rest, name string, qtype uint16) (int, error) {
	st := t.store.Load()
	block := st.Blocks[t.block.Index]
	sp := block.Policy(rest)
	if sp == nil {
		if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
			return t.refuse(w, r)
		}
		label := rest[strings.LastIndexByte(rest, '.')+1:]
		if block.Policy(label) == nil {
			return t.nxdomain(w, r, z.name, z, st.ZoneSerials[t.block.Index])
		}
		return t.refuse(w, r)
	}
	p := t.entryOf(sp, len(st.Catalog))
	switch qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		if !mayTransfer(ctx, w, sp) && !t.catalogKey(ctx) {
			p.counters.xfrRefused.Inc()
			return t.refuse(w, r)
		}
		if qtype == dns.TypeIXFR && (&request.Request{W: w, Req: r}).Proto() == "udp" {
			// RFC 1995 §2: over UDP, the changes if they fit, else the SOA alone, and the client comes
			// back over TCP. From the current serial that is the SOA; from an older one the changes
			// are the whole zone (no journal yet), which does not fit: the SOA.
			m := reply(r)
			m.Answer = []dns.RR{t.soa(name, z, st.Serial(sp), false)}
			w.WriteMsg(m)
			return dns.RcodeSuccess, nil
		}
		return t.next(ctx, compressed{w}, r)
	}
	return t.apex(w, r, name, z, st.Serial(sp), qtype)
}

// catalogKey reports whether the request is signed with a catalog key: the operator's secondaries, which
// follow the catalog, may transfer every member zone.
func (t *Threatstop) catalogKey(ctx context.Context) bool {
	key, ok := tsig.ValidatedKeyName(ctx)
	return ok && t.catalogKeys[strings.ToLower(dns.Fqdn(key))]
}

// mayTransfer reports whether the client may transfer the policy's zone: a request signed with one of the
// policy's TSIG keys (verified by the tsig plugin), or from one of its transfer_clients networks.
func mayTransfer(ctx context.Context, w dns.ResponseWriter, p *state.Policy) bool {
	if key, ok := tsig.ValidatedKeyName(ctx); ok && p.Keys[strings.ToLower(dns.Fqdn(key))] {
		return true
	}
	return p.TransferClients != nil && p.TransferClients.Contains(peer.Addr(w))
}

func (t *Threatstop) refuse(w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeRefused)
	w.WriteMsg(m)
	return dns.RcodeRefused, nil
}

// transferCatalog transfers the catalog zone: small, so always whole (or the SOA when up to date).
func (t *Threatstop) transferCatalog(zone string, serial uint32) (<-chan []dns.RR, error) {
	zone = strings.ToLower(dns.Fqdn(zone))
	z := t.match(zone)
	if z != nil && zone == configLabel+"."+z.name {
		return t.transferConfig(z, serial), nil
	}
	if z == nil || zone != catalogLabel+"."+z.name {
		return nil, transfer.ErrNotAuthoritative
	}
	current := t.catalogSerial.Load()
	rrs := t.catalogRecords(z, current)
	if serial != 0 && int32(serial-current) >= 0 {
		rrs = rrs[:1]
	}
	ch := make(chan []dns.RR, 1)
	ch <- rrs
	close(ch)
	return ch, nil
}

// rpzZone finds the policy name and served zone of an RPZ zone name ("" when it is not one).
func (t *Threatstop) rpzZone(name string) (string, *zone) {
	name = strings.ToLower(dns.Fqdn(name))
	z := t.match(name)
	if z == nil || len(name) <= len(z.name) {
		return "", nil
	}
	rest := strings.TrimSuffix(name[:len(name)-len(z.name)], ".")
	pol, ok := strings.CutSuffix(rest, "."+rpzLabel)
	if !ok {
		return "", nil
	}
	return pol, z
}

// Transfer implements transfer.Transferer for the policies' RPZ zones. The snapshot and the serial come
// from one state, so a transfer is consistent even while a feed changes. An IXFR from the current serial
// (or a later one) gets the single SOA; from an earlier one, the whole zone (RFC 1995 §4 allows it).
func (t *Threatstop) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	name, z := t.rpzZone(zone)
	st := t.store.Load()
	var sp *state.Policy
	if name != "" {
		sp = st.Blocks[t.block.Index].Policy(name)
	}
	if sp == nil {
		return t.transferCatalog(zone, serial)
	}
	current := st.Serial(sp)
	apex := sp.Name + "." + rpzLabel + "." + z.name
	soa := t.soa(apex, z, current, false)
	ch := make(chan []dns.RR, 2)
	if serial != 0 && int32(serial-current) >= 0 {
		ch <- []dns.RR{soa}
		close(ch)
		return ch, nil
	}
	if serial != 0 {
		// A version from before a reload is usable when the block rendered it alike (TTLs, SOA names).
		if old, op, d := t.journal.find(t.block, sp, serial, current); old != nil && op.RenderSum() == sp.RenderSum() {
			// RFC 1995 §4: the new SOA, then the old SOA, the records gone, the new SOA, the records
			// added, and the new SOA again.
			go func() {
				defer close(ch)
				if op == sp { // the same definition: only the lists' changes
					d.compute(sp.Policy, old.SnapOf(op), st.SnapOf(sp), apex, t.ttl)
				} else { // from before a reload or an edit
					d.computeAcross(op.Policy, old.SnapOf(op), sp.Policy, st.SnapOf(sp), apex, t.ttl)
				}
				t.journal.computed()
				ch <- []dns.RR{soa, t.soa(apex, z, serial, false)}
				sendBatches(ch, d.del)
				ch <- []dns.RR{soa}
				sendBatches(ch, d.add)
				ch <- []dns.RR{soa}
			}()
			return ch, nil
		}
	}
	go func() {
		defer close(ch)
		head := []dns.RR{soa}
		for _, ns := range z.ns {
			head = append(head, &dns.NS{Hdr: t.hdr(apex, dns.TypeNS, t.ttl), Ns: ns})
		}
		ch <- head
		rpz.Zone(sp.Policy, st.SnapOf(sp), apex, t.ttl, func(rrs []dns.RR) bool {
			ch <- rrs
			return true
		})
		ch <- []dns.RR{soa}
	}()
	return ch, nil
}

// notifier sends NOTIFY for a zone to the secondaries of the transfer plugin.
type notifier interface{ Notify(zone string) error }

// notify tells the secondaries of each policy whose serial moved on.
func (t *Threatstop) notify(old, next *state.State) {
	if t.notifier == nil || old == nil {
		return
	}

	for _, p := range next.Blocks[t.block.Index].Policies {
		if op := t.beforeOf(old, p); op != nil && next.Serial(p) == old.Serial(op) {
			continue
		}
		for _, z := range t.zones {
			t.notifyZone(p.Name + "." + rpzLabel + "." + z.name)
		}
	}
}

// notifyZone sends the NOTIFY in the background: the transfer plugin waits for each secondary's answer.
func (t *Threatstop) notifyZone(zone string) {
	go func() {
		if err := t.notifier.Notify(zone); err != nil {
			log.Warningf("NOTIFY for %s: %v", zone, err)
		}
	}()
}

// compressed writes the messages of a zone transfer with name compression, which the transfer plugin
// leaves off: RPZ owners share long suffixes (".rpz-ip.POLICY.rpz.ZONE"), so a signed transfer shrinks to
// about 40%. (An unsigned one stays uncompressed: CoreDNS's scrub writer turns compression off for every
// message that fits without it, and miekg/dns skips that step only for messages with a TSIG record.)
type compressed struct{ dns.ResponseWriter }

func (c compressed) WriteMsg(m *dns.Msg) error {
	m.Compress = true
	return c.ResponseWriter.WriteMsg(m)
}

// sendBatches sends records in batches of about a thousand, as rpz.Zone does.
func sendBatches(ch chan<- []dns.RR, rrs []dns.RR) {
	for len(rrs) > 0 {
		n := min(len(rrs), 1000)
		ch <- rrs[:n]
		rrs = rrs[n:]
	}
}
