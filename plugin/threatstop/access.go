package threatstop

import (
	"context"

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
