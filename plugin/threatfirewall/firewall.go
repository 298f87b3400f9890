// Package threatfirewall is a CoreDNS plugin, the in-line DNS firewall: in front of a resolving plugin
// (cache, forward), it applies a threatstop policy, chosen per client, to each query name, to every CNAME
// target and address of the answer, and to the client's own address, like a Response Policy Zone in a
// resolver. It reads the policies and the snapshot from the instance's State (package state), the same
// version the DNSBL answers and RPZ zones of the threatstop plugin are built from.
package threatfirewall

import (
	"context"
	"crypto/tls"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/tsig"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/peer"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/rpz"
	"github.com/threatstop/threatstop/plugin/pkg/siem"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// Firewall is the plugin handler.
type Firewall struct {
	Next plugin.Handler

	store    *state.Store
	byClient *bart.Table[*state.Policy] // most specific client prefix wins
	byKey    map[string]*state.Policy   // TSIG key name (verified by the server) → policy
	ecs      bool                       // select by the EDNS Client Subnet address when one is sent
	triggers trigger                    // the triggers that apply
	ttl      uint32                     // TTL of the records and SOA of a rewritten answer
	origin   string                     // the SOA of a rewritten answer is <policy>.rpz.<origin>
	line     int                        // Corefile line of the firewall block, for start-up errors
	rules    []rule                     // as written; resolved into byClient and byKey
	log      *decisionLog
	siem     *siem.Sender // nil: decisions go to the log only
}

// Name implements plugin.Handler.
func (f *Firewall) Name() string { return pluginName }

// ServeDNS implements plugin.Handler. A query the firewall decides before resolving is answered here;
// otherwise the next plugins answer through a writer that holds their answer, which is checked and
// written once they return, where the stack is shallow again.
func (f *Firewall) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	w, done, rcode, err := f.filter(ctx, w, r)
	if done {
		return rcode, err
	}
	if f.Next == nil {
		return plugin.NextOrFailure(pluginName, nil, ctx, w, r)
	}
	rcode, err = f.Next.ServeDNS(ctx, w, r) // directly: NextOrFailure's frame would sit on every query's stack
	if q, ok := w.(*fwQuery); ok {
		if werr := q.flush(); err == nil {
			err = werr
		}
	}
	return rcode, err
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

// fwQuery is one query under a policy, with what its decision needs; it is also the writer through which
// the resolving plugins answer it (one allocation per query).
type fwQuery struct {
	dns.ResponseWriter
	f       *Firewall
	p       *state.Policy
	s       *snapshot.Snapshot
	serial  uint32 // the policy's serial that goes with s
	r       *dns.Msg
	client  netip.Addr
	hit     policy.Hit // the decision, once a trigger matched
	pending *dns.Msg   // the resolving plugins' answer, until ServeDNS flushes it
}

// filter applies the firewall before the resolving plugins run: it either answers (done) or returns the
// writer through which they must answer, which checks their answer.
func (f *Firewall) filter(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (dns.ResponseWriter, bool, int, error) {
	if len(r.Question) == 0 || r.Opcode != dns.OpcodeQuery { // the server answers those itself
		return w, false, 0, nil
	}
	qtype := r.Question[0].Qtype
	if qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return w, false, 0, nil
	}
	p, client := f.pick(ctx, w, r)
	if p == nil {
		return w, false, 0, nil
	}
	// One State: the snapshot and the policy's serial (in the SOA of rewritten answers) that its DNSBL
	// answers and RPZ zone go with.
	st := f.store.Load()
	if p = st.Blocks[p.Block].Policy(p.Name); p == nil { // as the State defines it: policies change while served
		return w, false, 0, nil
	}
	q := &fwQuery{ResponseWriter: w, f: f, p: p, s: st.SnapOf(p), serial: st.Serial(p), r: r, client: client}
	name := strings.ToLower(r.Question[0].Name) // no allocation unless the name has upper case
	switch q.before(name) {
	case pass:
		return w, false, 0, nil
	case decided:
		switch k := q.hit.Action.Kind; {
		case !k.Blocks():
			return w, false, 0, nil
		case k == policy.Drop:
			return w, true, dns.RcodeSuccess, nil // nothing written: the client times out, as on a dropped packet
		}
		m := q.rewrite(q.hit)
		err := w.WriteMsg(m)
		return w, true, m.Rcode, err
	}
	if f.triggers&(trigCNAME|trigIP) == 0 {
		return w, false, 0, nil
	}
	return q, false, 0, nil
}

// outcome of the checks made before the resolving plugins run.
type outcome uint8

const (
	undecided outcome = iota // resolve, then check the answer
	pass                     // resolve and answer untouched (allowed)
	decided                  // q.hit holds the decision
)

// before checks the client and the query name.

func (q *fwQuery) before(name string) outcome {
	f, p := q.f, q.p
	if f.triggers&trigClient != 0 && q.client.IsValid() {
		switch v := p.MatchAddr(q.s, q.client); {
		case v.Allowed: // an allowed client is never filtered
			return pass
		case v.Listed:
			h := p.Decide(q.s, v)
			q.record(trigClient, h, q.client.String(), p.EntryAddr(q.s, h, q.client))
			if h.Action.Kind.Blocks() {
				q.hit = h
				return decided
			}
		}
	}
	if qn := strings.TrimSuffix(name, "."); qn != "" && f.triggers&trigQName != 0 {
		switch v := p.MatchName(q.s, qn); {
		case v.Allowed: // an allowed name is answered as it is, whatever its answer holds
			return pass
		case v.Listed:
			h := p.Decide(q.s, v)
			q.record(trigQName, h, qn, p.EntryName(q.s, h, qn))
			if h.Action.Kind.Blocks() {
				q.hit = h
				return decided
			}
		}
	}
	return undecided
}

// pick chooses the query's policy: by TSIG key (verified by the tsig plugin, which strips the TSIG record
// and passes the key's name in the context), else by the client's address (or the EDNS Client Subnet
// address when enabled and present). The address returned is the one the client trigger checks.
func (f *Firewall) pick(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (*state.Policy, netip.Addr) {
	client := peer.Addr(w)
	if f.ecs {
		if a, ok := ecsAddr(r); ok {
			client = a
		}
	}
	if len(f.byKey) > 0 {
		if key, ok := tsig.ValidatedKeyName(ctx); ok {
			if p := f.byKey[strings.ToLower(dns.Fqdn(key))]; p != nil {
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

// ecsAddr is the address of an EDNS Client Subnet option, masked to its source prefix length. An option
// with source prefix length 0 (`dig +subnet=0`, a stub that opts out of ECS, RFC 7871 §7.1.2) carries no
// address: its 0.0.0.0 is not the client's, and the transport address stands.
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
		if e.SourceNetmask == 0 {
			return netip.Addr{}, false
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

// WriteMsg takes the answer of the resolving plugins; ServeDNS checks and writes it (flush) once they
// return: a check and a write from deep inside their stack would grow it past its size on every query.
func (q *fwQuery) WriteMsg(m *dns.Msg) error {
	if q.pending != nil { // a second message: the first one goes out first
		if err := q.flush(); err != nil {
			return err
		}
	}
	q.pending = m
	return nil
}

// Write filters a packed answer like a message, so that no plugin can bypass the filter.
func (q *fwQuery) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	return len(b), q.WriteMsg(m)
}

// flush writes the pending answer: rewritten when a CNAME target or an address in it is listed, else
// exactly as it came.

func (q *fwQuery) flush() error {
	m := q.pending
	if m == nil {
		return nil
	}
	q.pending = nil
	for _, rr := range m.Answer {
		if q.listed(rr) {
			return q.applyAnswer(m)
		}
	}
	return q.ResponseWriter.WriteMsg(m)
}

// listed checks one answer record: a match is recorded (logged); one whose action blocks is kept in q.hit
// and ends the check. A log-only or passthru match does not: another list may still block the answer.

func (q *fwQuery) listed(rr dns.RR) bool {
	f, p := q.f, q.p
	var ip netip.Addr
	switch rr := rr.(type) {
	case *dns.CNAME:
		if f.triggers&trigCNAME == 0 {
			return false
		}
		target := strings.TrimSuffix(strings.ToLower(rr.Target), ".")
		v := p.MatchName(q.s, target)
		if !v.Listed {
			return false
		}
		h := p.Decide(q.s, v)
		q.record(trigCNAME, h, target, p.EntryName(q.s, h, target))
		q.hit = h
		return h.Action.Kind.Blocks()
	case *dns.A:
		ip, _ = netip.AddrFromSlice(rr.A)
	case *dns.AAAA:
		ip, _ = netip.AddrFromSlice(rr.AAAA)
	default:
		return false
	}
	if !ip.IsValid() || f.triggers&trigIP == 0 {
		return false
	}
	ip = ip.Unmap()
	v := p.MatchAddr(q.s, ip)
	if !v.Listed {
		return false
	}
	h := p.Decide(q.s, v)
	q.record(trigIP, h, ip.String(), p.EntryAddr(q.s, h, ip))
	q.hit = h
	return h.Action.Kind.Blocks()
}

// applyAnswer applies a decision found in an answer: the answer as it came (log-only, passthru), none
// (drop), or the rewritten answer.

func (q *fwQuery) applyAnswer(m *dns.Msg) error {
	switch k := q.hit.Action.Kind; {
	case !k.Blocks():
		return q.ResponseWriter.WriteMsg(m)
	case k == policy.Drop:
		return nil
	}
	return q.ResponseWriter.WriteMsg(q.rewrite(q.hit))
}

// rewrite builds the answer of a blocking action: NXDOMAIN or NODATA with the policy's SOA (so that
// caches keep it for the firewall's TTL, RFC 2308), or the walled-garden addresses of a redirect; with an
// Extended DNS Error naming the list when the client speaks EDNS.
func (q *fwQuery) rewrite(h policy.Hit) *dns.Msg {
	f := q.f
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
			Ns:  "ns1." + f.origin, Mbox: "hostmaster." + f.origin, Serial: q.serial,
			Refresh: rpz.SOARefresh, Retry: rpz.SOARetry, Expire: rpz.SOAExpire, Minttl: f.ttl,
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

// record counts a decision and writes its log line; a passthru is counted only.
func (q *fwQuery) record(trig trigger, h policy.Hit, value, entry string) {
	decisions.WithLabelValues(q.p.Name, h.List, h.Action.Kind.String()).Inc()
	if h.Action.Kind == policy.Passthru {
		return
	}
	now := time.Now()
	q.f.log.print(decisionLine(now, q.client, q.r.Question[0], q.p.Name, trig, value, entry, h))
	if q.f.siem != nil {
		c := ""
		if q.client.IsValid() {
			c = q.client.String()
		}
		remote := ""
		if trig == trigIP {
			remote = value
		}
		q.f.siem.Send(siem.Event{Time: now, Kind: "decision", Policy: q.p.Name, Client: c, Remote: remote, QName: q.r.Question[0].Name,
			List: h.List, Category: h.Category, Action: h.Action.Kind.String()})
	}
}

// decisionLine is the stable, documented format of a decision: "decision" and key=value pairs in a fixed
// order, values without spaces.
func decisionLine(now time.Time, client netip.Addr, qs dns.Question, pol string, trig trigger, value, entry string, h policy.Hit) string {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("[INFO] plugin/threatstop: decision time=")
	b.WriteString(now.UTC().Format(time.RFC3339Nano))
	field := func(k, v string) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		if v == "" {
			v = "-"
		}
		writeValue(&b, v)
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

// writeValue writes a decision line's value without a space or a control character. Names come in
// presentation format, where miekg/dns writes a space in a label as `\ `: that becomes `\032` (replacing
// the space alone would give `\\032`, an escaped backslash before "032"); other escapes (`\.`, `\\`,
// `\DDD`) are kept as they are; a bare space or control character becomes \DDD, and so does a backslash
// that starts no escape.
func writeValue(b *strings.Builder, v string) {
	if !strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '\\' || r == 0x7f }) {
		b.WriteString(v)
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			switch n := v[i+1]; {
			case n == ' ':
				b.WriteString(`\032`)
				i++
				continue
			case n > ' ' && n != 0x7f:
				b.WriteByte(c)
				b.WriteByte(n)
				i++
				continue
			}
		}
		if c <= ' ' || c == '\\' || c == 0x7f {
			b.WriteByte('\\')
			b.WriteByte('0' + c/100)
			b.WriteByte('0' + c/10%10)
			b.WriteByte('0' + c%10)
			continue
		}
		b.WriteByte(c)
	}
}

// ConnectionState passes the TLS state of the connection on (dns.ConnectionStater), which the server's
// writer offers and embedding alone would hide from the plugins after this one.
func (q *fwQuery) ConnectionState() *tls.ConnectionState {
	if cs, ok := q.ResponseWriter.(dns.ConnectionStater); ok {
		return cs.ConnectionState()
	}
	return nil
}
