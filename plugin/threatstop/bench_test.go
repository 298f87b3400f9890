package threatstop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
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
	t := &Threatstop{Zones: []string{"threatstop.local."}, ttl: DefaultTTL, negTTL: DefaultNegativeTTL}
	e := &policyEntry{Policy: &state.Policy{Policy: p}, counters: newCounters("bench"), hits: make(hitCounters, len(s.Lists)+1)}
	t.order = []*policyEntry{e}
	t.zones = zonesOf(t.Zones, nil, "")
	t.store = state.NewStore()
	for _, l := range s.Lists {
		t.store.AddList(snapshot.ListInfo{Name: l.Name, Category: l.Category})
	}
	t.block = t.store.AddBlock(0, "", []*state.Policy{e.Policy})
	t.store.Publish(s, nil)
	t.store.Subscribe(t.update)
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
