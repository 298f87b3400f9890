package sensor

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchAddr is the i-th of distinct public addresses, spread over 1.0.0.0/8 and 2a00::/12.
func benchAddr(i int) netip.Addr {
	if i%4 == 3 {
		return netip.AddrFrom16([16]byte{0x2a, 0x00, byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
	}
	v := uint32(0x01000000) + uint32(i)*37
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// filled is a table of n addresses, each reported by reporters reporters (three times each).
func filled(n, reporters int) *Table {
	tb := New()
	for i := range n {
		a := benchAddr(i)
		for r := range reporters {
			for k := range 3 {
				tb.Report(a, fmt.Sprintf("%064x", r), t0.Add(time.Duration(i%3600+k*600)*time.Second))
			}
		}
	}
	return tb
}

// BenchmarkMemory reports the heap a table holds per reported address (100,000 of them, a quarter
// IPv6), with one, two and three reporters each, and per inside address.
func BenchmarkMemory(b *testing.B) {
	const n = 100000
	for _, reporters := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("reporters=%d", reporters), func(b *testing.B) {
			var per float64
			for b.Loop() {
				h0 := heapAlloc()
				tb := filled(n, reporters)
				per = float64(heapAlloc()-h0) / n
				runtime.KeepAlive(tb)
			}
			b.ReportMetric(per, "B/address")
		})
	}
	b.Run("inside", func(b *testing.B) {
		var per float64
		for b.Loop() {
			h0 := heapAlloc()
			tb := New()
			for i := range n {
				tb.Inside(benchAddr(i), t0)
			}
			per = float64(heapAlloc()-h0) / n
			runtime.KeepAlive(tb)
		}
		b.ReportMetric(per, "B/address")
	})
}

// BenchmarkReport: one report of an address already held, in a table of 100,000.
func BenchmarkReport(b *testing.B) {
	tb := filled(100000, 2)
	r := fmt.Sprintf("%064x", 1)
	i := 0
	for b.Loop() {
		tb.Report(benchAddr(i%100000), r, t0.Add(2*time.Hour))
		i++
	}
}

// BenchmarkList: List over 100,000 addresses with two reporters each, every one listed (at 2: sorting
// is most of it) and none (at 3: the walk alone).
func BenchmarkList(b *testing.B) {
	tb := filled(100000, 2)
	tb.SetExcluded(func(netip.Addr) bool { return false })
	now := t0.Add(2 * time.Hour)
	for _, c := range []struct {
		name      string
		min, want int
	}{{"all", 2, 100000}, {"none", 3, 0}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if l := tb.List(now, 0, c.min, 0); len(l) != c.want {
					b.Fatal(len(l))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/address")
		})
	}
}

// BenchmarkLookup: one address of 100,000, as an explanation asks.
func BenchmarkLookup(b *testing.B) {
	tb := filled(100000, 3)
	now := t0.Add(2 * time.Hour)
	i := 0
	for b.Loop() {
		if n, _, _ := tb.Lookup(benchAddr(i%100000), now, 0); n != 3 {
			b.Fatal(n)
		}
		i++
	}
}
