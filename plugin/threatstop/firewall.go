package threatstop

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// firewall is the in-line DNS firewall: in front of a resolving plugin (cache, forward), it applies a
// policy, chosen per client, to each query name, to every CNAME target and address of the answer, and to
// the client's own address, like a Response Policy Zone in a resolver, from the same snapshot as the
// DNSBL answers.
type firewall struct {
	byClient *bart.Table[*policyEntry] // most specific client prefix wins
	byKey    map[string]*policyEntry   // TSIG key name (verified by the server) → policy
	ecs      bool                      // select by the EDNS Client Subnet address when one is sent
	triggers trigger                   // the triggers that apply
	ttl      uint32                    // TTL of the records and SOA of a rewritten answer
	origin   string                    // the SOA of a rewritten answer is <policy>.rpz.<origin>
	line     int                       // Corefile line of the firewall block, for start-up errors
	rules    []fwRule                  // as written; resolved into byClient and byKey
}

// trigger is a set of the places where a listed entry is looked for.
type trigger uint8

const (
	trigQName  trigger = 1 << iota // the query name
	trigCNAME                      // a CNAME target in the answer
	trigIP                         // an A or AAAA address in the answer
	trigClient                     // the address of the client
)

var triggerNames = map[string]trigger{"qname": trigQName, "cname": trigCNAME, "ip": trigIP, "client": trigClient}

func (t trigger) String() string {
	switch t {
	case trigQName:
		return "qname"
	case trigCNAME:
		return "cname"
	case trigIP:
		return "ip"
	case trigClient:
		return "client"
	}
	return "?"
}

// EDE codes of a rewritten answer (RFC 8914): the feeds are the operator's policy (Blocked); a policy's own
// block entries are the customer's request (Filtered).
const (
	edeBlocked  = dns.ExtendedErrorCodeBlocked
	edeFiltered = dns.ExtendedErrorCodeFiltered
)

// fwQuery is one query under a policy, with what its decision needs.
type fwQuery struct {
	t      *Threatstop
	p      *policyEntry
	s      *snapshot.Snapshot
	r      *dns.Msg
	client netip.Addr
}

// serveFirewall filters a query outside the DNSBL zones.
func (t *Threatstop) serveFirewall(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, name string, qtype uint16) (int, error) {
	f := t.fw
	if r.Opcode != dns.OpcodeQuery || qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return plugin.NextOrFailure(t.Name(), t.Next, ctx, w, r)
	}
	p, client := f.pick(w, r)
	if p == nil {
		return plugin.NextOrFailure(t.Name(), t.Next, ctx, w, r)
	}
	q := &fwQuery{t: t, p: p, s: t.feeds.Snapshot(), r: r, client: client}
	if f.triggers&trigClient != 0 && client.IsValid() {
		switch v := p.MatchAddr(q.s, client); {
		case v.Allowed: // an allowed client is never filtered
			return plugin.NextOrFailure(t.Name(), t.Next, ctx, w, r)
		case v.Listed:
			return q.hit(ctx, w, trigClient, v, client.String(), p.EntryAddr(q.s, p.Decide(q.s, v), client))
		}
	}
	if qn := strings.TrimSuffix(name, "."); qn != "" && f.triggers&trigQName != 0 {
		switch v := p.MatchName(q.s, qn); {
		case v.Allowed: // an allowed name is answered as it is, whatever its answer holds
			return plugin.NextOrFailure(t.Name(), t.Next, ctx, w, r)
		case v.Listed:
			return q.hit(ctx, w, trigQName, v, qn, p.EntryName(q.s, p.Decide(q.s, v), qn))
		}
	}
	if f.triggers&(trigCNAME|trigIP) == 0 {
		return plugin.NextOrFailure(t.Name(), t.Next, ctx, w, r)
	}
	return plugin.NextOrFailure(t.Name(), t.Next, ctx, &answerFilter{ResponseWriter: w, q: q}, r)
}

// pick chooses the query's policy: by verified TSIG key, else by the client's address (or the EDNS Client
// Subnet address when enabled and present). The address returned is the one the client trigger checks.
func (f *firewall) pick(w dns.ResponseWriter, r *dns.Msg) (*policyEntry, netip.Addr) {
	client := clientAddr(w)
	if f.ecs {
		if a, ok := ecsAddr(r); ok {
			client = a
		}
	}
	if len(f.byKey) > 0 {
		if sig := r.IsTsig(); sig != nil && w.TsigStatus() == nil {
			if p := f.byKey[strings.ToLower(sig.Hdr.Name)]; p != nil {
				return p, client
			}
		}
	}
	if !client.IsValid() {
		return nil, client
	}
	p, _ := f.byClient.Lookup(client)
	return p, client
}

// ecsAddr is the address of an EDNS Client Subnet option, masked to its source prefix length.
func ecsAddr(r *dns.Msg) (netip.Addr, bool) {
	opt := r.IsEdns0()
	if opt == nil {
		return netip.Addr{}, false
	}
	for _, o := range opt.Option {
		e, ok := o.(*dns.EDNS0_SUBNET)
		if !ok {
			continue
		}
		a, ok := netip.AddrFromSlice(e.Address)
		if !ok {
			return netip.Addr{}, false
		}
		a = a.Unmap()
		p, err := a.Prefix(int(e.SourceNetmask))
		if err != nil {
			return netip.Addr{}, false
		}
		return p.Addr(), true
	}
	return netip.Addr{}, false
}

// answerFilter sees the answer of the resolving plugins and rewrites it when a CNAME target or an
// address in it is listed; a clean answer is written on exactly as it came.
type answerFilter struct {
	dns.ResponseWriter
	q *fwQuery
}

func (a *answerFilter) WriteMsg(m *dns.Msg) error {
	q, f := a.q, a.q.t.fw
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.CNAME:
			if f.triggers&trigCNAME == 0 {
				continue
			}
			target := strings.TrimSuffix(strings.ToLower(rr.Target), ".")
			if v := q.p.MatchName(q.s, target); v.Listed {
				h := q.p.Decide(q.s, v)
				return q.decide(a.ResponseWriter, m, trigCNAME, h, target, q.p.EntryName(q.s, h, target))
			}
		case *dns.A:
			if ip, ok := netip.AddrFromSlice(rr.A); ok && f.triggers&trigIP != 0 {
				if done, err := a.checkIP(m, ip.Unmap()); done {
					return err
				}
			}
		case *dns.AAAA:
			if ip, ok := netip.AddrFromSlice(rr.AAAA); ok && f.triggers&trigIP != 0 {
				if done, err := a.checkIP(m, ip.Unmap()); done {
					return err
				}
			}
		}
	}
	return a.ResponseWriter.WriteMsg(m)
}

func (a *answerFilter) checkIP(m *dns.Msg, ip netip.Addr) (bool, error) {
	q := a.q
	v := q.p.MatchAddr(q.s, ip)
	if !v.Listed {
		return false, nil
	}
	h := q.p.Decide(q.s, v)
	return true, q.decide(a.ResponseWriter, m, trigIP, h, ip.String(), q.p.EntryAddr(q.s, h, ip))
}

// Write filters a packed answer like a message, so that no plugin can bypass the filter.
func (a *answerFilter) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	return len(b), a.WriteMsg(m)
}

// hit decides a query on its client or its name, before any resolving plugin runs.
func (q *fwQuery) hit(ctx context.Context, w dns.ResponseWriter, trig trigger, v policy.Verdict, value, entry string) (int, error) {
	h := q.p.Decide(q.s, v)
	q.record(trig, h, value, entry)
	if !h.Action.Kind.Blocks() {
		return plugin.NextOrFailure(q.t.Name(), q.t.Next, ctx, w, q.r)
	}
	if h.Action.Kind == policy.Drop {
		return dns.RcodeSuccess, nil // nothing written: the client times out, as it would on a dropped packet
	}
	m := q.rewrite(h)
	w.WriteMsg(m)
	return m.Rcode, nil
}

// decide applies a hit found in an answer: the rewritten answer, none for drop, or the answer as it came.
func (q *fwQuery) decide(w dns.ResponseWriter, m *dns.Msg, trig trigger, h policy.Hit, value, entry string) error {
	q.record(trig, h, value, entry)
	switch {
	case !h.Action.Kind.Blocks():
		return w.WriteMsg(m)
	case h.Action.Kind == policy.Drop:
		return nil
	}
	return w.WriteMsg(q.rewrite(h))
}

// rewrite builds the answer of a blocking action: NXDOMAIN or NODATA with the policy's SOA (so that
// caches keep it for the firewall's TTL, RFC 2308), or the walled-garden addresses of a redirect; with an
// Extended DNS Error naming the list when the client speaks EDNS.
func (q *fwQuery) rewrite(h policy.Hit) *dns.Msg {
	f := q.t.fw
	r := q.r
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	qs := r.Question[0]
	if h.Action.Kind == policy.Redirect {
		for _, a := range h.Action.Redirect {
			hdr := dns.RR_Header{Name: qs.Name, Class: dns.ClassINET, Ttl: f.ttl}
			switch {
			case a.Is4() && (qs.Qtype == dns.TypeA || qs.Qtype == dns.TypeANY):
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case a.Is6() && (qs.Qtype == dns.TypeAAAA || qs.Qtype == dns.TypeANY):
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	if h.Action.Kind == policy.NXDomain {
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		apex := q.p.Name + ".rpz." + f.origin
		m.Ns = []dns.RR{&dns.SOA{
			Hdr: dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: f.ttl},
			Ns:  "ns1." + f.origin, Mbox: "hostmaster." + f.origin, Serial: q.serial(),
			Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: f.ttl,
		}}
	}
	if opt := r.IsEdns0(); opt != nil {
		o := m.SetEdns0(max(opt.UDPSize(), dns.MinMsgSize), opt.Do()).IsEdns0()
		code := uint16(edeBlocked)
		if h.ListID < 0 {
			code = edeFiltered
		}
		o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: code,
			ExtraText: "threatstop policy=" + q.p.Name + " list=" + h.List + " category=" + h.Category})
	}
	return m
}

// serial is the policy's current serial, for the SOA of its rewritten answers.
func (q *fwQuery) serial() uint32 {
	if st := q.p.owner.state.Load(); st != nil && q.p.index < len(st.serials) {
		return st.serials[q.p.index]
	}
	return uint32(q.s.Built.Unix())
}

// record counts a decision and writes its log line; a passthru is counted only.
func (q *fwQuery) record(trig trigger, h policy.Hit, value, entry string) {
	decisions.WithLabelValues(q.p.Name, h.List, h.Action.Kind.String()).Inc()
	if h.Action.Kind == policy.Passthru {
		return
	}
	log.Info(decisionLine(time.Now(), q.client, q.r.Question[0], q.p.Name, trig, value, entry, h))
}

// decisionLine is the stable, documented format of a decision: "decision" and key=value pairs in a fixed
// order, values without spaces.
func decisionLine(now time.Time, client netip.Addr, qs dns.Question, pol string, trig trigger, value, entry string, h policy.Hit) string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("decision time=")
	b.WriteString(now.UTC().Format(time.RFC3339Nano))
	field := func(k, v string) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		if v == "" {
			v = "-"
		}
		b.WriteString(strings.ReplaceAll(v, " ", "\\032"))
	}
	c := "-"
	if client.IsValid() {
		c = client.String()
	}
	field("client", c)
	field("qname", qs.Name)
	qt, ok := dns.TypeToString[qs.Qtype]
	if !ok {
		qt = "TYPE" + strconv.Itoa(int(qs.Qtype))
	}
	field("qtype", qt)
	field("policy", pol)
	field("trigger", trig.String())
	field("value", value)
	field("entry", entry)
	field("list", h.List)
	field("category", h.Category)
	field("action", h.Action.Kind.String())
	return b.String()
}
