package formerr

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

func query() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion("2.0.0.127.demo.threatstop.test.", dns.TypeA)
	return m
}

func withMAC(m *dns.Msg, algo string, size int) *dns.Msg {
	m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: "k.key.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: algo, TimeSigned: uint64(time.Now().Unix()), Fudge: 300, MACSize: uint16(size), MAC: strings.Repeat("ab", size)})
	return m
}

func TestCheck(t *testing.T) {
	twoOPT := query()
	twoOPT.SetEdns0(1232, false)
	twoOPT.SetEdns0(4096, true)
	oneOPT := query()
	oneOPT.SetEdns0(1232, true)
	ixfr := new(dns.Msg) // an IXFR query carries the SOA held in its authority section (RFC 1995)
	ixfr.SetIxfr("demo.rpz.threatstop.test.", 7, "ns.", "h.")
	notify := new(dns.Msg)
	notify.SetNotify("demo.rpz.threatstop.test.")
	for name, c := range map[string]struct {
		m   *dns.Msg
		bad bool
	}{
		"plain":                 {query(), false},
		"one OPT":               {oneOPT, false},
		"two OPT":               {twoOPT, true},
		"IXFR with SOA":         {ixfr, false},
		"NOTIFY":                {notify, false},
		"sha256 full":           {withMAC(query(), dns.HmacSHA256, 32), false},
		"sha256 half":           {withMAC(query(), dns.HmacSHA256, 16), false},
		"sha256 1 octet":        {withMAC(query(), dns.HmacSHA256, 1), true},
		"sha256 0 octets":       {withMAC(query(), dns.HmacSHA256, 0), true},
		"sha256 15":             {withMAC(query(), dns.HmacSHA256, 15), true},
		"sha256 33":             {withMAC(query(), dns.HmacSHA256, 33), true},
		"sha1 10":               {withMAC(query(), dns.HmacSHA1, 10), false},
		"sha1 9":                {withMAC(query(), dns.HmacSHA1, 9), true},
		"sha512 32":             {withMAC(query(), dns.HmacSHA512, 32), false},
		"sha512 31":             {withMAC(query(), dns.HmacSHA512, 31), true},
		"upper-case algorithm":  {withMAC(query(), "HMAC-SHA256", 1), true},
		"unknown algorithm":     {withMAC(query(), "hmac-foo.", 1), false},
		"OPT and TSIG":          {withMAC(oneOPT.Copy(), dns.HmacSHA256, 32), false},
		"two OPT, a good TSIG":  {withMAC(twoOPT.Copy(), dns.HmacSHA256, 32), true},
		"one OPT, a short TSIG": {withMAC(oneOPT.Copy(), dns.HmacSHA384, 23), true},
	} {
		if got := Check(c.m) != ""; got != c.bad {
			t.Errorf("%s: malformed %v, want %v (%q)", name, got, c.bad, Check(c.m))
		}
	}
}

func TestGuard(t *testing.T) {
	next := test.NextHandler(dns.RcodeSuccess, nil)
	g := Guard{Next: next}
	m := query()
	m.SetEdns0(1232, false)
	m.SetEdns0(4096, true)
	w := dnstest.NewRecorder(&test.ResponseWriter{})
	if rc, err := g.ServeDNS(context.Background(), w, m); err != nil || !plugin.ClientWrite(rc) {
		t.Fatalf("rcode %d, %v: the answer must count as written", rc, err)
	}
	if w.Msg == nil || w.Msg.Rcode != dns.RcodeFormatError || len(w.Msg.Question) != 1 || w.Msg.IsEdns0() != nil {
		t.Fatalf("answer %v, want FORMERR with the question and no OPT", w.Msg)
	}
	w = dnstest.NewRecorder(&test.ResponseWriter{})
	if rc, _ := g.ServeDNS(context.Background(), w, query()); rc != dns.RcodeSuccess || w.Msg != nil {
		t.Fatalf("a good query: rcode %d, answer %v; want it passed on", rc, w.Msg)
	}
}

// named is a handler that records its name when it serves, for the order of a chain.
type named struct {
	name  string
	next  plugin.Handler
	order *[]string
}

func (n named) Name() string { return n.name }
func (n named) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	*n.order = append(*n.order, n.name)
	if n.next == nil {
		return dns.RcodeSuccess, nil
	}
	return n.next.ServeDNS(ctx, w, r)
}

func TestInstallPosition(t *testing.T) {
	for _, c := range []struct {
		name      string
		before    []string // plugins set up before ours
		tsig      bool
		good, bad []string
	}{
		{"no tsig", []string{"log"}, false, []string{"log", "ours"}, []string{"log"}},
		{"tsig after log", []string{"log", "tsig", "acl"}, true, []string{"log", "tsig", "acl", "ours"}, []string{"log"}},
		{"tsig first", []string{"tsig", "acl"}, true, []string{"tsig", "acl", "ours"}, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctl := caddy.NewTestController("dns", "threatstop")
			cfg := dnsserver.GetConfig(ctl)
			var order []string
			add := func(name string) {
				cfg.AddPlugin(func(next plugin.Handler) plugin.Handler { return named{name, next, &order} })
			}
			for _, n := range c.before {
				add(n)
			}
			if c.tsig {
				cfg.TsigSecret = map[string]string{"k.key.": "c2VjcmV0"}
			}
			Install(ctl)
			Install(ctl) // a second plugin of ours in the block: still one guard
			add("ours")
			var stack plugin.Handler
			for _, p := range slices.Backward(cfg.Plugin) {
				stack = p(stack)
			}
			for _, m := range []*dns.Msg{query(), withMAC(query(), dns.HmacSHA256, 1)} {
				order = []string{}
				w := dnstest.NewRecorder(&test.ResponseWriter{})
				stack.ServeDNS(context.Background(), w, m)
				want := c.good
				if m.IsTsig() != nil {
					want = c.bad
					if w.Msg == nil || w.Msg.Rcode != dns.RcodeFormatError {
						t.Errorf("malformed: answer %v, want FORMERR", w.Msg)
					}
				}
				if !slices.Equal(order, want) {
					t.Errorf("handlers %v, want %v", order, want)
				}
			}
		})
	}
}
