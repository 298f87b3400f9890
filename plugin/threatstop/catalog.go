package threatstop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/miekg/dns"
)

// The catalog zone (RFC 9432) catalog.<zone> lists every policy's RPZ zone, so that a BIND or Knot
// secondary configured once with the catalog picks up new customers' zones without an edit. It names
// every customer, so transferring it needs a key of its own (catalog_keys), never a policy's.
const catalogLabel = "catalog"

// serveCatalog answers at catalog.<zone>: the SOA and NS at its apex, transfers for catalog keys.
func (t *Threatstop) serveCatalog(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone, name string, qtype uint16) (int, error) {
	switch qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		if !t.catalogKey(ctx) {
			catalogRefused.Inc()
			return t.refuse(w, r)
		}
		return t.next(ctx, w, r)
	}
	return t.apex(w, r, name, z, t.catalogSerial.Load(), qtype)
}

// catalogRecords is the whole catalog zone of z at serial, between its two SOA records. Its members change
// with the Corefile and with policies added or removed while serving: its serial is the time this instance
// started, moved on at each such change.
func (t *Threatstop) catalogRecords(z *zone, serial uint32) []dns.RR {
	apex := catalogLabel + "." + z.name
	soa := t.soa(apex, z, serial, false)
	rrs := []dns.RR{
		soa,
		&dns.NS{Hdr: t.hdr(apex, dns.TypeNS, t.ttl), Ns: "invalid."}, // RFC 9432 §4.1: not resolvable
		&dns.TXT{Hdr: t.hdr("version."+apex, dns.TypeTXT, t.ttl), Txt: []string{"2"}},
	}
	for _, p := range t.store.Load().Blocks[t.block.Index].Policies {
		member := p.Name + "." + rpzLabel + "." + z.name
		rrs = append(rrs, &dns.PTR{Hdr: t.hdr(memberID(member)+".zones."+apex, dns.TypePTR, t.ttl), Ptr: member})
	}
	return append(rrs, soa)
}

// memberID is the unique label of a member zone (RFC 9432 §4.3): derived from its name, so it stays the
// same across restarts and on every server that serves the same policies.
func memberID(zone string) string {
	sum := sha256.Sum256([]byte(zone))
	return hex.EncodeToString(sum[:10])
}
