package threatstop

import (
	"net/netip"
	"slices"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/rpz"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// listed answers a listed entry: A records per category, TXT records naming the lists, NODATA for any
// other type. own says whether the client may learn that the policy's own block entries list it; when it
// may not, they answer like a listing of the default category, with the reason hiddenReason where no
// feed lists the entry too.
func (t *Threatstop) listed(w dns.ResponseWriter, r *dns.Msg, p *state.Policy, s *snapshot.Snapshot, v policy.Verdict, own, testPoint bool, apex string, z *zone, serial uint32, qtype uint16) (int, error) {
	m := reply(r)
	name := r.Question[0].Name
	if qtype == dns.TypeA || qtype == dns.TypeANY {
		var addrs []netip.Addr
		switch {
		case testPoint:
			addrs = append(addrs, p.DefaultAnswer())
		default:
			if own {
				addrs = append(addrs, p.CustomAnswer())
			}
			p.EachList(s, v, func(id int) { addrs = append(addrs, p.Answer(id)) })
			if len(addrs) == 0 {
				addrs = append(addrs, p.DefaultAnswer())
			}
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		for _, a := range slices.Compact(addrs) {
			m.Answer = append(m.Answer, &dns.A{Hdr: t.hdr(name, dns.TypeA, t.ttl), A: a.AsSlice()})
		}
	}
	if qtype == dns.TypeTXT || qtype == dns.TypeANY {
		switch {
		case testPoint:
			m.Answer = append(m.Answer, t.txt(name, "RFC 5782 test point"))
		default:
			n := len(m.Answer)
			if own {
				m.Answer = append(m.Answer, t.txt(name, "list="+policy.CustomList+" category="+policy.CustomList+" policy="+p.Name))
			}
			p.EachList(s, v, func(id int) {
				l := s.Lists[id]
				m.Answer = append(m.Answer, t.txt(name, "list="+l.Name+" category="+l.Category))
			})
			if len(m.Answer) == n {
				m.Answer = append(m.Answer, t.txt(name, hiddenReason))
			}
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{t.soa(apex, z, serial, true)}
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// hiddenReason is the TXT reason of an entry that only the policy's own block entries list, to a client
// that may not learn which entries those are.
const hiddenReason = "listed"

// apex answers at the zone apex or a policy apex: SOA and NS, NODATA for other types.
func (t *Threatstop) apex(w dns.ResponseWriter, r *dns.Msg, apex string, z *zone, serial uint32, qtype uint16) (int, error) {
	m := reply(r)
	if qtype == dns.TypeSOA || qtype == dns.TypeANY {
		m.Answer = append(m.Answer, t.soa(apex, z, serial, false))
	}
	if qtype == dns.TypeNS || qtype == dns.TypeANY {
		for _, ns := range z.ns {
			m.Answer = append(m.Answer, &dns.NS{Hdr: t.hdr(apex, dns.TypeNS, t.ttl), Ns: ns})
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{t.soa(apex, z, serial, true)}
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// nxdomain answers a name that does not exist (an entry that is not listed) with the SOA of apex.
func (t *Threatstop) nxdomain(w dns.ResponseWriter, r *dns.Msg, apex string, z *zone, serial uint32) (int, error) {
	m := reply(r)
	m.Rcode = dns.RcodeNameError
	m.Ns = []dns.RR{t.soa(apex, z, serial, true)}
	w.WriteMsg(m)
	return dns.RcodeNameError, nil
}

func reply(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	return m
}

func (t *Threatstop) hdr(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

func (t *Threatstop) txt(name, s string) dns.RR {
	return &dns.TXT{Hdr: t.hdr(name, dns.TypeTXT, t.ttl), Txt: []string{s}}
}

// soa is the SOA of apex; negative is for the authority section of NXDOMAIN and NODATA answers, where
// its TTL is the negative-caching TTL (RFC 2308 §3).
func (t *Threatstop) soa(apex string, z *zone, serial uint32, negative bool) dns.RR {
	ttl := t.ttl
	if negative {
		ttl = min(t.ttl, t.negTTL)
	}
	return &dns.SOA{
		Hdr: t.hdr(apex, dns.TypeSOA, ttl), Ns: z.ns[0], Mbox: z.mbox, Serial: serial,
		Refresh: rpz.SOARefresh, Retry: rpz.SOARetry, Expire: rpz.SOAExpire, Minttl: t.negTTL,
	}
}
