package threatlog

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin/tsig"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// checkTTL is the TTL of _check answers: short, the lists change.
const checkTTL = 60

// serveCheck answers <ioc>._check.<zone>. The indicator is an IPv4 address in plain dotted form
// (1.2.3.4), an IPv6 address with '-' for ':' in one label (2001-db8--1), or a domain name. Anyone gets
// the shared feeds that hold it; a query signed with one of a policy's TSIG keys (verified by the tsig
// plugin) also gets that policy's verdict, its own block entries included. Nothing held: NXDOMAIN.
func (t *Threatlog) serveCheck(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, ioc, apex string) (int, error) {
	checks.WithLabelValues("dns").Inc()
	q := r.Question[0]
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}
	pol := ""
	if key, ok := tsig.ValidatedKeyName(ctx); ok {
		if k, ok := t.keys[strings.ToLower(dns.Fqdn(key))]; ok {
			pol = k.policy
		}
	}
	res, err := t.check(decodeIOC(ioc), pol)
	if err != nil {
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}
	var txt []string
	if e := res.Explain; e != nil {
		s := fmt.Sprintf("score=%d sources=%d sensors=%d", e.Score, e.Sources, e.Sensors)
		if e.FirstSeen != nil {
			s += " first_seen=" + e.FirstSeen.Format(time.RFC3339)
		}
		if e.LastSeen != nil {
			s += " last_seen=" + e.LastSeen.Format(time.RFC3339)
		}
		txt = append(txt, s)
	}
	for _, x := range res.Matches {
		s := fmt.Sprintf("list=%s category=%s entry=%s relation=%s", x.List, x.Category, x.Entry, x.Relation)
		if x.Relation == "covers" {
			s += fmt.Sprintf(" score=%d", x.Score)
		}
		if x.Count > 0 {
			s += fmt.Sprintf(" count=%d", x.Count)
		}
		if x.Since != nil {
			s += fmt.Sprintf(" since=%s source=%s", x.Since.Format(time.RFC3339), x.SinceSource)
		}
		txt = append(txt, s)
	}
	if res.Policy != nil {
		s := "policy=" + res.Policy.Name + " verdict=" + res.Policy.Verdict
		if len(res.Policy.Lists) > 0 {
			s += " lists=" + strings.Join(res.Policy.Lists, ",")
		}
		txt = append(txt, s)
	}
	if len(txt) == 0 {
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}
	ttl := uint32(checkTTL)
	if pol != "" {
		ttl = 0 // a signed answer is one customer's: no cache may give it to another
	}
	if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
		for _, s := range txt {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: []string{s}})
		}
	}
	// Over UDP, an answer larger than the client's buffer (with room for the TSIG record of a signed
	// one) goes out empty with TC set: the client asks again over TCP.
	room := 0
	if pol != "" {
		room = 128
	}
	if req := (request.Request{W: w, Req: r}); req.Proto() == "udp" && m.Len()+room > req.Size() {
		m.Answer, m.Truncated = nil, true
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// decodeIOC turns the labels in front of _check into an indicator: one label with '-' and hex digits
// that reads as an IPv6 address with ':' for '-'; anything else as written (dotted IPv4 or a name).
func decodeIOC(labels string) string {
	if !strings.Contains(labels, ".") && strings.Contains(labels, "-") {
		if a, err := netip.ParseAddr(strings.ReplaceAll(labels, "-", ":")); err == nil && a.Is6() {
			return a.String()
		}
	}
	return labels
}
