// Package formerr answers FORMERR to requests that the RFCs call malformed but that miekg/dns and CoreDNS
// pass on to the plugins: more than one OPT record (RFC 6891 §6.1.1) and a TSIG MAC shorter or longer
// than RFC 8945 §5.2.2.1 allows. The stock tsig plugin would answer a bad MAC size NOTAUTH, and for a MAC
// of one octet miekg/dns cannot write its answer at all (README.md, "Conformance"), so the check sits in
// front of the tsig plugin of the block.
//
// Cost: one pass over the additional section, a few nanoseconds and no allocation per well-formed request.
package formerr

import (
	"context"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
)

// macSizes is the output length in octets of each TSIG algorithm miekg/dns knows (RFC 8945 §6).
var macSizes = map[string]int{
	dns.HmacMD5:    16,
	dns.HmacSHA1:   20,
	dns.HmacSHA224: 28,
	dns.HmacSHA256: 32,
	dns.HmacSHA384: 48,
	dns.HmacSHA512: 64,
}

// Check returns what makes r malformed, or "" when nothing does.
func Check(r *dns.Msg) string {
	opts := 0
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return "more than one OPT record (RFC 6891 §6.1.1)"
	}
	if t := r.IsTsig(); t != nil {
		// RFC 8945 §5.2.2.1: longer than the hash, or shorter than the larger of 10 octets and half
		// the hash, is FORMERR. An algorithm not known here is the tsig plugin's (BADKEY).
		if size, ok := macSizes[strings.ToLower(dns.Fqdn(t.Algorithm))]; ok {
			if n := int(t.MACSize); n > size || n < max(10, size/2) {
				return "a TSIG MAC of a size RFC 8945 §5.2.2.1 does not allow"
			}
		}
	}
	return ""
}

// Guard is the handler: FORMERR (the question echoed, no OPT, unsigned) to a malformed request, the rest
// passed on.
type Guard struct{ Next plugin.Handler }

// Name implements plugin.Handler.
func (Guard) Name() string { return "formerr" }

// ServeDNS implements plugin.Handler.
func (g Guard) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if Check(r) == "" {
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeFormatError)
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil // written
}

// installed marks a server block's config as guarded, in the instance's storage (a reload starts anew).
type installed struct{ cfg *dnsserver.Config }

// Install puts a Guard into the chain of c's server block, once however many plugins ask: in front of
// the block's tsig plugin when it has one (it is set up before any plugin of ours), else here, in front
// of the calling plugin, which adds itself next.
func Install(c *caddy.Controller) {
	cfg := dnsserver.GetConfig(c)
	if c.Get(installed{cfg}) != nil {
		return
	}
	c.Set(installed{cfg}, true)
	if cfg.TsigSecret == nil { // only the tsig plugin sets it
		cfg.AddPlugin(func(next plugin.Handler) plugin.Handler { return Guard{Next: next} })
		return
	}
	// Which plugin is tsig is known only once the chain is built, from the back: each plugin, and a
	// no-op one at the front for a tsig that comes first, gets a guarded tsig as its next. tsig itself
	// stays as it is, so cfg.Handler("tsig") still finds it.
	guardTsig := func(next plugin.Handler) plugin.Handler {
		if next != nil && next.Name() == "tsig" {
			return Guard{Next: next}
		}
		return next
	}
	for i, f := range cfg.Plugin {
		cfg.Plugin[i] = func(next plugin.Handler) plugin.Handler { return f(guardTsig(next)) }
	}
	cfg.Plugin = append([]plugin.Plugin{guardTsig}, cfg.Plugin...)
}
