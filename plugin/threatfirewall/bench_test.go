package threatfirewall

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/gaissmai/bart"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// fwBench is a firewall for every client over one policy of 4 lists (100k IPv4 addresses, 100k names), in
// front of an upstream that answers each A query with addr: the whole filter path (policy choice,
// query-name check, answer check), no sockets. It returns listed addresses and names.
func fwBench(b *testing.B, addr func(listed []netip.Addr) string) (*Firewall, []netip.Addr, []string) {
	r := rand.New(rand.NewPCG(5, 6))
	bs := make([]entryset.Builder, 4)
	var addrs []netip.Addr
	var names []string
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		bs[i%4].AddAddr(a)
		if i < 1000 {
			addrs = append(addrs, a)
		}
	}
	for i := range 100_000 {
		name := fmt.Sprintf("host%d.example%d.com", i, r.IntN(100))
		bs[i%4].AddName(name, false)
		if i < 1000 {
			names = append(names, name+".")
		}
	}
	lists := make([]snapshot.List, 4)
	store := state.NewStore()
	for i := range lists {
		lists[i] = snapshot.List{Name: fmt.Sprint("list", i), Category: "spam", Set: bs[i].Set(), Version: 1}
		store.AddList(snapshot.ListInfo{Name: lists[i].Name, Category: "spam"})
	}
	s := snapshot.Build(lists, nil)
	p, err := policy.New(policy.Config{Name: "demo", Block: []int{0, 1, 2, 3}}, policy.Catalog(s.Lists))
	if err != nil {
		b.Fatal(err)
	}
	blk := store.AddBlock(0, "", []*state.Policy{{Policy: p}})
	store.Publish(s, nil)
	f := &Firewall{store: store, byClient: new(bart.Table[*state.Policy]), byKey: map[string]*state.Policy{},
		triggers: trigQName | trigCNAME | trigIP, ttl: DefaultFirewallTTL, origin: DefaultOrigin, log: newDecisionLog(io.Discard)}
	f.byClient.Insert(netip.MustParsePrefix("0.0.0.0/0"), blk.Policies[0])
	f.log.start()
	b.Cleanup(f.log.stop)
	a := net.ParseIP(addr(addrs))
	f.Next = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: a}}
		return dns.RcodeSuccess, w.WriteMsg(m)
	})
	return f, addrs, names
}

// serve runs the benchmark loop: f answers the names in turn.
func serve(b *testing.B, f *Firewall, names []string) {
	msgs := make([]*dns.Msg, len(names))
	for i, n := range names {
		msgs[i] = new(dns.Msg).SetQuestion(n, dns.TypeA)
	}
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.ServeDNS(ctx, w, msgs[i%len(msgs)])
		i++
	}
}

func cleanNames() []string {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("www%d.clean-example%d.org.", i, i%10)
	}
	return names
}

func clean([]netip.Addr) string { return "192.0.2.10" }

// BenchmarkFirewallClean: a clean name with a clean answer, passed on as it came.
func BenchmarkFirewallClean(b *testing.B) {
	f, _, _ := fwBench(b, clean)
	serve(b, f, cleanNames())
}

// BenchmarkFirewallBlockedIP: a clean name whose answer holds a listed address: rewritten, logged.
func BenchmarkFirewallBlockedIP(b *testing.B) {
	f, _, _ := fwBench(b, func(listed []netip.Addr) string { return listed[0].String() })
	serve(b, f, cleanNames())
}

// BenchmarkFirewallBlockedQName: a listed query name: answered before any upstream, logged.
func BenchmarkFirewallBlockedQName(b *testing.B) {
	f, _, names := fwBench(b, clean)
	serve(b, f, names)
}
