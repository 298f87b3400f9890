package snapshot

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// The benchmark data: 1M IPv4 prefixes (90% /32, the rest spread from /8 to /31), 100k IPv6 prefixes and
// 1M domains (10% with subdomains), dealt over 8 lists, from a fixed seed.
const (
	benchV4    = 1_000_000
	benchV6    = 100_000
	benchNames = 1_000_000
	benchLists = 8
)

var bench struct {
	once           sync.Once
	lists          []List
	v4, v6         []netip.Addr // listed addresses
	names, subs    []string     // listed names, and subdomains of wildcard entries
	snap           *Snapshot
	setBytes       uint64 // heap held by the entry sets
	snapBytes      uint64 // heap held by the snapshot
	entries, built int
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func benchData() {
	bench.once.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		h0 := heapInUse()
		bs := make([]entryset.Builder, benchLists)
		for range benchV4 {
			bits := 32
			if r.IntN(10) == 0 {
				bits = 8 + r.IntN(24)
			}
			v := r.Uint32()
			a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			bs[r.IntN(benchLists)].AddPrefix(netip.PrefixFrom(a, bits))
			if len(bench.v4) < 1<<16 {
				bench.v4 = append(bench.v4, a)
			}
		}
		for range benchV6 {
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for i := 2; i < 16; i++ {
				a[i] = byte(r.Uint32())
			}
			addr := netip.AddrFrom16(a)
			bs[r.IntN(benchLists)].AddPrefix(netip.PrefixFrom(addr, []int{128, 64, 48, 32}[r.IntN(4)]))
			if len(bench.v6) < 1<<16 {
				bench.v6 = append(bench.v6, addr)
			}
		}
		for i := range benchNames {
			name := fmt.Sprintf("h%x.d%d.example%d.com", r.Uint32(), i, r.IntN(1000))
			sub := r.IntN(10) == 0
			bs[r.IntN(benchLists)].AddName(name, sub)
			switch {
			case sub && len(bench.subs) < 1<<16:
				bench.subs = append(bench.subs, "www.login."+name)
			case !sub && len(bench.names) < 1<<16:
				bench.names = append(bench.names, name)
			}
		}
		for i := range bs {
			s := bs[i].Set()
			bench.lists = append(bench.lists, List{Name: fmt.Sprint("l", i), Category: "c", Set: s, Version: 1})
			bench.entries += s.Len()
		}
		h1 := heapInUse()
		bench.snap = Build(bench.lists, nil)
		h2 := heapInUse()
		bench.setBytes, bench.snapBytes = h1-h0-64<<16, h2-h1 // less the query samples, roughly
	})
}

// BenchmarkBuild compiles the 2.1M-entry data set, every entry scored (each list with a confidence, one
// with a confidence per entry, as an aged or sensor feed has), and reports the heap it holds per entry;
// BenchmarkBuildUnscored is the same without any confidence, the cost of scores being the difference.
func BenchmarkBuild(b *testing.B) {
	benchData()
	lists := scoredLists()
	for b.Loop() {
		Build(lists, nil)
	}
	h0 := heapInUse()
	s := Build(lists, nil)
	h1 := heapInUse()
	b.ReportMetric(float64(h1-h0)/float64(bench.entries), "snapshot-B/entry")
	b.ReportMetric(float64(bench.setBytes)/float64(bench.entries), "feeds-B/entry")
	runtime.KeepAlive(s)
}

func BenchmarkBuildUnscored(b *testing.B) {
	benchData()
	for b.Loop() {
		Build(bench.lists, nil)
	}
	b.ReportMetric(float64(bench.snapBytes)/float64(bench.entries), "snapshot-B/entry")
}

// scoredLists are the benchmark lists with confidences: list 0 has one per entry.
func scoredLists() []List {
	lists := slices.Clone(bench.lists)
	for i := range lists {
		lists[i].Confidence = uint8(30 + 5*i)
	}
	set := *lists[0].Set
	set.Conf = make([]uint8, set.Len())
	for i := range set.Conf {
		set.Conf[i] = uint8(i)
	}
	lists[0].Set = &set
	return lists
}

// benchLookups runs lookup over the queries round robin; want says whether each must hit (true), must
// miss (false), or may do either (nil).
func benchLookups[Q any](b *testing.B, q []Q, want *bool, lookup func(*Snapshot, Q) SetID) {
	s := bench.snap
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		hit := lookup(s, q[i&(len(q)-1)]) != 0
		if want != nil && hit != *want {
			b.Fatalf("query %v: hit=%v", q[i&(len(q)-1)], hit)
		}
		i++
	}
}

var hit, miss = true, false

func BenchmarkLookupV4Hit(b *testing.B) {
	benchData()
	benchLookups(b, bench.v4, &hit, (*Snapshot).LookupAddr)
}

func BenchmarkLookupV4Miss(b *testing.B) {
	benchData()
	r := rand.New(rand.NewPCG(3, 4))
	q := make([]netip.Addr, 1<<16)
	for i := range q {
		// 250.0.0.0/8 holds no entry except under the few random /8–/12 prefixes there.
		q[i] = netip.AddrFrom4([4]byte{250, byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
	}
	benchLookups(b, q, nil, (*Snapshot).LookupAddr)
}

func BenchmarkLookupV6Hit(b *testing.B) {
	benchData()
	benchLookups(b, bench.v6, &hit, (*Snapshot).LookupAddr)
}

func BenchmarkLookupNameHit(b *testing.B) {
	benchData()
	benchLookups(b, bench.names, &hit, (*Snapshot).LookupName)
}

// BenchmarkLookupNameSubdomain asks for names two labels below a wildcard entry: three table probes.
func BenchmarkLookupNameSubdomain(b *testing.B) {
	benchData()
	benchLookups(b, bench.subs, &hit, (*Snapshot).LookupName)
}

func BenchmarkLookupNameMiss(b *testing.B) {
	benchData()
	q := make([]string, 1<<16)
	for i := range q {
		q[i] = fmt.Sprintf("www.clean%d.example.org", i)
	}
	benchLookups(b, q, &miss, (*Snapshot).LookupName)
}
