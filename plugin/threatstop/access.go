package threatstop

import (
	"context"
	"fmt"
	"net"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/tsig"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/peer"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// Who may read what of a policy. Its DNSBL names answer its clients, or everyone when it has none. Its
// whole content (the RPZ zone, the list pages, and which of its listings are its own entries) goes only to
// those that the policy names: requests signed with one of its keys or with a catalog key (verified by
// the tsig plugin), requests from its transfer_clients, and, outside zone transfers, its clients when it
// has them. Everyone else gets REFUSED for the content, and DNSBL answers that do not tell its own
// entries from a listing of the default category.

// mayRead reports whether the client may read the policy's whole content outside a zone transfer: its
// list pages, and the reasons of its DNSBL answers.
func (t *Threatstop) mayRead(ctx context.Context, w dns.ResponseWriter, p *state.Policy) bool {
	if p.Clients != nil && p.Clients.Contains(peer.Addr(w)) {
		return true
	}
	return mayTransfer(ctx, w, p) || t.catalogKey(ctx)
}

// mayLookUp reports whether the client may ask the policy's DNSBL names: its clients, everyone when it
// has none.
func mayLookUp(w dns.ResponseWriter, p *state.Policy) bool {
	return p.Clients == nil || p.Clients.Contains(peer.Addr(w))
}

// checkTSIG fails when a policy has transfer_clients but the server block's tsig plugin (h; nil: none)
// refuses unsigned transfers of its zone before threatstop sees them (its require option): those networks
// could never transfer, and nothing would say why. Without require, threatstop still refuses every
// unsigned transfer from elsewhere, and tsig still verifies every signature.
func (t *Threatstop) checkTSIG(file string, h plugin.Handler) error {
	ts, ok := h.(*tsig.TSIGServer)
	if !ok {
		return nil
	}
	for _, p := range t.order {
		if p.TransferClients == nil {
			continue
		}
		for _, z := range t.zones {
			zone := p.Name + "." + rpzLabel + "." + z.name
			if qtype := unsignedRefused(ts, zone); qtype != 0 {
				return fmt.Errorf("%s:%d - Error during parsing: policy %s: transfer_clients: the tsig plugin of this server block "+
					"refuses an unsigned %s of %s (require), so these networks could never transfer it; drop require from tsig "+
					"(threatstop refuses unsigned transfers from anywhere else itself) or drop transfer_clients",
					file, p.xfrLine, p.Name, dns.TypeToString[qtype], zone)
			}
		}
	}
	return nil
}

// unsignedRefused returns the first transfer type (AXFR, IXFR) that ts refuses unsigned for zone, 0 for
// none. It asks a copy of ts whose next handler only records that the request got through: the plugin's
// own code decides, whatever its options (require, require_opcode, zones).
func unsignedRefused(ts *tsig.TSIGServer, zone string) uint16 {
	probe := *ts
	for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		passed := false
		probe.Next = plugin.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) {
			passed = true
			return dns.RcodeSuccess, nil
		})
		m := new(dns.Msg)
		m.SetQuestion(zone, qtype)
		probe.ServeDNS(context.Background(), discard{}, m)
		if !passed {
			return qtype
		}
	}
	return 0
}

// discard is the response writer of unsignedRefused's requests: it drops the refusal.
type discard struct{ dns.ResponseWriter }

func (discard) WriteMsg(*dns.Msg) error { return nil }
func (discard) RemoteAddr() net.Addr    { return &net.TCPAddr{IP: net.IPv6loopback} }
func (discard) LocalAddr() net.Addr     { return &net.TCPAddr{IP: net.IPv6loopback} }
