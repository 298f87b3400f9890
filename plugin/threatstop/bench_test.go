package threatstop

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// benchHandler is a handler with one policy over 4 lists of 100k IPv4 addresses, 10k IPv6 /64s and 100k
// names: the query path without sockets (the per-entry costs are in package snapshot's benchmarks).
func benchHandler(b *testing.B) (*Threatstop, []string) {
	r := rand.New(rand.NewPCG(5, 6))
	bs := make([]entryset.Builder, 4)
	var listed []string
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		bs[i%4].AddAddr(a)
		if i < 1000 {
			o := a.As4()
			listed = append(listed, fmt.Sprintf("%d.%d.%d.%d.demo.threatstop.local.", o[3], o[2], o[1], o[0]))
		}
	}
	for i := range 100_000 {
		name := fmt.Sprintf("host%d.example%d.com", i, r.IntN(100))
		bs[i%4].AddName(name, false)
		if i < 1000 {
			listed = append(listed, name+".demo.threatstop.local.")
		}
	}
	lists := make([]snapshot.List, 4)
	for i := range lists {
		lists[i] = snapshot.List{Name: fmt.Sprint("list", i), Category: "spam", Set: bs[i].Set(), Version: 1}
	}
	s := snapshot.Build(lists, nil)
	p, err := policy.New(policy.Config{Name: "demo", Block: []int{0, 1, 2, 3}}, policy.Catalog(s.Lists))
	if err != nil {
		b.Fatal(err)
	}
	t := &Threatstop{Zones: []string{"threatstop.local."}, policies: map[string]*policyEntry{}, ttl: DefaultTTL, negTTL: DefaultNegativeTTL}
	e := &policyEntry{Policy: p, counters: newCounters("bench")}
	t.policies["demo"], t.order = e, []*policyEntry{e}
	t.zones = zonesOf(t.Zones, nil, "")
	t.update(s)
	return t, listed
}

func benchQueries(b *testing.B, names []string, qtype uint16) {
	t, _ := benchHandler(b)
	serve(b, t, names, qtype)
}

// serve runs the benchmark loop: t answers the names in turn.
func serve(b *testing.B, t *Threatstop, names []string, qtype uint16) {
	msgs := make([]*dns.Msg, len(names))
	for i, n := range names {
		msgs[i] = new(dns.Msg).SetQuestion(n, qtype)
	}
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t.ServeDNS(ctx, w, msgs[i%len(msgs)])
		i++
	}
}

func BenchmarkServeDNSListedA(b *testing.B) {
	_, listed := benchHandler(b)
	benchQueries(b, listed[:1000], dns.TypeA)
}

func BenchmarkServeDNSListedTXT(b *testing.B) {
	_, listed := benchHandler(b)
	benchQueries(b, listed[:1000], dns.TypeTXT)
}

func BenchmarkServeDNSListedName(b *testing.B) {
	_, listed := benchHandler(b)
	benchQueries(b, listed[1000:], dns.TypeA)
}

func BenchmarkServeDNSCleanV4(b *testing.B) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("%d.%d.0.240.demo.threatstop.local.", i%256, i/256)
	}
	benchQueries(b, names, dns.TypeA)
}

func BenchmarkServeDNSCleanV6(b *testing.B) {
	benchQueries(b, []string{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.demo.threatstop.local."}, dns.TypeA)
}

// fwBench is benchHandler with a firewall for every client in front of an upstream that answers each A
// query with addr: the whole filter path (policy choice, query-name check, answer check), no sockets.
func fwBench(b *testing.B, addr string, names []string) {
	t, _ := benchHandler(b)
	e := t.order[0]
	e.owner = t
	t.fw = &firewall{byClient: new(bart.Table[*policyEntry]), triggers: trigQName | trigCNAME | trigIP, ttl: DefaultFirewallTTL, origin: DefaultOrigin}
	t.fw.byClient.Insert(netip.MustParsePrefix("0.0.0.0/0"), e)
	t.Zones, t.zones = nil, nil
	a := net.ParseIP(addr)
	t.Next = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: a}}
		return dns.RcodeSuccess, w.WriteMsg(m)
	})
	decisionOut = &decisionLog{out: io.Discard}
	serve(b, t, names, dns.TypeA)
}

func cleanNames() []string {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("www%d.clean-example%d.org.", i, i%10)
	}
	return names
}

// BenchmarkFirewallClean: a clean name with a clean answer, passed on as it came.
func BenchmarkFirewallClean(b *testing.B) { fwBench(b, "192.0.2.10", cleanNames()) }

// BenchmarkFirewallBlockedIP: a clean name whose answer holds a listed address: rewritten, logged.
func BenchmarkFirewallBlockedIP(b *testing.B) {
	_, listed := benchHandler(b)
	var o [4]int
	fmt.Sscanf(listed[0], "%d.%d.%d.%d.", &o[0], &o[1], &o[2], &o[3])
	fwBench(b, fmt.Sprintf("%d.%d.%d.%d", o[3], o[2], o[1], o[0]), cleanNames())
}

// BenchmarkFirewallBlockedQName: a listed query name: answered before any upstream, logged.
func BenchmarkFirewallBlockedQName(b *testing.B) {
	_, listed := benchHandler(b)
	names := make([]string, 0, 1000)
	for _, n := range listed[1000:] {
		names = append(names, strings.TrimSuffix(n, "demo.threatstop.local."))
	}
	fwBench(b, "192.0.2.10", names)
}
