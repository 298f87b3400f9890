package threatstop

import (
	"context"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// The list pages of a policy serve its blocked addresses as plain RRsets, for firewalls that can only
// put a hostname into an address object: _list.POLICY.ZONE TXT says the serial and how many pages and
// entries there are; N._list.POLICY.ZONE (N from 0) is one page: its single addresses as A and AAAA, all
// its prefixes as one APL record (RFC 3123) and as TXT CIDR strings. The entries are policy.Blocked: the
// minimal disjoint prefixes that the policy blocks, allow carve-outs already cut out, so a device that
// blocks the union of the pages blocks what the policy blocks.
const listLabel = "_list"

// DefaultListPage is the most entries a page holds.
const DefaultListPage = 4000

// listBudget bounds the records of one page in every form (A or AAAA, APL, TXT): with the header, the
// question and a TSIG record, a page always fits in one TCP message (65,535 bytes).
const listBudget = 60000

// txtStrings is how many CIDR strings one TXT record of a page carries.
const txtStrings = 50

// listPages is one policy's list at one serial, split into pages. Page boundaries depend on the entries
// themselves (an entry whose hash is 0 modulo a third of the page size ends a page), not on their
// positions, so a change of a few entries changes the pages that hold them and leaves the others as they
// were; a page also ends when it is full (entries or bytes).
type listPages struct {
	serial  uint32
	entries []netip.Prefix
	starts  []int // page i is entries[starts[i]:starts[i+1]]
	v4, v6  int
}

func (l *listPages) pages() int { return len(l.starts) - 1 }

func (l *listPages) page(i int) []netip.Prefix { return l.entries[l.starts[i]:l.starts[i+1]] }

// buildPages flattens p at snapshot s and cuts it into pages of at most size entries.
func buildPages(p *policy.Policy, s *snapshot.Snapshot, serial uint32, size int) *listPages {
	l := &listPages{serial: serial, starts: []int{0}}
	p.Blocked(s, func(q netip.Prefix) bool {
		l.entries = append(l.entries, q)
		if q.Addr().Is4() {
			l.v4++
		} else {
			l.v6++
		}
		return true
	})
	if len(l.entries) == 0 {
		return l
	}
	every := uint32(max(1, size/3))
	n, cost := 0, 0
	for i, q := range l.entries {
		c := entryCost(q)
		if n > 0 && (n == size || cost+c > listBudget) {
			l.starts = append(l.starts, i)
			n, cost = 0, 0
		}
		n, cost = n+1, cost+c
		if boundary(q)%every == 0 && i+1 < len(l.entries) {
			l.starts = append(l.starts, i+1)
			n, cost = 0, 0
		}
	}
	l.starts = append(l.starts, len(l.entries))
	return l
}

// entryCost is an upper bound of the bytes an entry adds to a page in its largest form: an A (16 bytes
// with a compressed owner) or AAAA (28) record for a single address, its APL item (4 + address bytes),
// its TXT string (length byte, text, and a share of the record's 12 bytes).
func entryCost(q netip.Prefix) int {
	txt := 2 + len(q.String())
	apl := 4 + (q.Bits()+7)/8
	single := 0
	if q.IsSingleIP() {
		single = 16
		if q.Addr().Is6() {
			single = 28
		}
	}
	return max(txt, apl, single)
}

// boundary is a hash of the entry that stays the same across serials and restarts.
func boundary(q netip.Prefix) uint32 {
	h := fnv.New32a()
	b, _ := q.Addr().MarshalBinary()
	h.Write(b)
	h.Write([]byte{byte(q.Bits())})
	return h.Sum32()
}

// pagesOf returns p's pages at the state's serial, computing them once per serial: the first query after
// a change pays for one pass over the policy's content, later ones read the same pages.
func (t *Threatstop) pagesOf(p *policyEntry, sp *state.Policy, st *state.State) *listPages {
	serial := st.Serial(sp)
	if l := p.pages.Load(); l != nil && l.serial == serial {
		return l
	}
	p.pagesMu.Lock()
	defer p.pagesMu.Unlock()
	if l := p.pages.Load(); l != nil && l.serial == serial {
		return l
	}
	l := buildPages(sp.Policy, st.SnapOf(sp), serial, t.listPage) // as this State defines it
	p.pages.Store(l)
	return l
}

// isList reports whether inner (the query name in front of POLICY.ZONE) is the list or one of its pages.
func isList(inner string) bool {
	return inner == listLabel || strings.HasSuffix(inner, "."+listLabel)
}

// serveList answers _list.POLICY.ZONE and its pages.
func (t *Threatstop) serveList(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, p *policyEntry, sp *state.Policy, st *state.State, z *zone, inner, apex string, qtype uint16) (int, error) {
	serial := st.Serial(sp)
	l := t.pagesOf(p, sp, st)
	name := r.Question[0].Name
	m := reply(r)
	m.Compress = true // a page repeats its owner thousands of times
	if inner == listLabel {
		if qtype == dns.TypeTXT || qtype == dns.TypeANY {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: t.hdr(name, dns.TypeTXT, t.ttl), Txt: []string{
				"serial=" + strconv.FormatUint(uint64(serial), 10),
				"pages=" + strconv.Itoa(l.pages()),
				"entries=" + strconv.Itoa(len(l.entries)),
				"ipv4=" + strconv.Itoa(l.v4),
				"ipv6=" + strconv.Itoa(l.v6),
				"page_size=" + strconv.Itoa(t.listPage),
			}})
		}
		return t.writeList(w, r, m, apex, z, serial)
	}
	label := strings.TrimSuffix(inner, "."+listLabel)
	n, err := strconv.Atoi(label)
	if err != nil || n < 0 || n >= l.pages() || label != strconv.Itoa(n) {
		return t.nxdomain(w, r, apex, z, serial)
	}
	page := l.page(n)
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		for _, q := range page {
			if !q.IsSingleIP() || q.Addr().Is4() != (qtype == dns.TypeA) {
				continue
			}
			if qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: t.hdr(name, dns.TypeA, t.ttl), A: q.Addr().AsSlice()})
			} else {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: t.hdr(name, dns.TypeAAAA, t.ttl), AAAA: q.Addr().AsSlice()})
			}
		}
	case dns.TypeAPL:
		apl := &dns.APL{Hdr: t.hdr(name, dns.TypeAPL, t.ttl), Prefixes: make([]dns.APLPrefix, len(page))}
		for i, q := range page {
			apl.Prefixes[i] = dns.APLPrefix{Network: net.IPNet{IP: q.Addr().AsSlice(), Mask: net.CIDRMask(q.Bits(), q.Addr().BitLen())}}
		}
		m.Answer = append(m.Answer, apl)
	case dns.TypeTXT, dns.TypeANY:
		for len(page) > 0 {
			k := min(len(page), txtStrings)
			txt := &dns.TXT{Hdr: t.hdr(name, dns.TypeTXT, t.ttl), Txt: make([]string, k)}
			for i, q := range page[:k] {
				txt.Txt[i] = q.String()
			}
			m.Answer = append(m.Answer, txt)
			page = page[k:]
		}
	}
	return t.writeList(w, r, m, apex, z, serial)
}

// writeList writes a list answer: NODATA with the SOA when it holds nothing; over UDP, an answer larger
// than the client's buffer goes out empty with TC set, so the client asks again over TCP rather than
// taking part of a page.
func (t *Threatstop) writeList(w dns.ResponseWriter, r *dns.Msg, m *dns.Msg, apex string, z *zone, serial uint32) (int, error) {
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{t.soa(apex, z, serial, true)}
	}
	if req := (request.Request{W: w, Req: r}); req.Proto() == "udp" && m.Len() > req.Size() {
		m.Answer, m.Ns, m.Truncated = nil, nil, true
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}
