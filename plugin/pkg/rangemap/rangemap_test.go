package rangemap

import (
	"github.com/threatstop/threatstop/plugin/pkg/cidr"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the same map as a sorted list of boundaries searched linearly.
type model struct {
	starts []cidr.U128
	vals   []uint32
}

func (m *model) lookup(a cidr.U128) uint32 {
	v := uint32(0)
	for i, s := range m.starts {
		if !a.Less(s) {
			v = m.vals[i]
		}
	}
	return v
}

func build(t *testing.T, width uint, n int, r *rand.Rand, spread func() cidr.U128) (*Map, *model) {
	var starts []cidr.U128
	for range n {
		starts = append(starts, spread())
	}
	slices.SortFunc(starts, func(a, b cidr.U128) int {
		if a == b {
			return 0
		}
		if a.Less(b) {
			return -1
		}
		return 1
	})
	b := NewBuilder(width, n)
	m := &model{}
	for _, s := range starts {
		v := uint32(r.IntN(4))
		b.Set(s, v)
		m.starts, m.vals = append(m.starts, s), append(m.vals, v)
	}
	return b.Map(), m
}

func TestAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{0, 1, 10, indexFrom + 500, 20_000} {
		// IPv4: all over the space, and bunched under one /8 (a shared prefix for the index).
		for _, spread := range []func() cidr.U128{
			func() cidr.U128 { return cidr.U128{Lo: uint64(r.Uint32())} },
			func() cidr.U128 { return cidr.U128{Lo: uint64(45<<24 | r.Uint32()>>8)} },
		} {
			got, want := build(t, 32, n, r, spread)
			for range 20_000 {
				var a uint32
				if len(want.starts) > 0 && r.IntN(2) == 0 {
					s := want.starts[r.IntN(len(want.starts))]
					a = uint32(s.Lo) + uint32(r.IntN(3)) - 1 // at, just before and just after a boundary
				} else {
					a = r.Uint32()
				}
				if g, w := got.Lookup4(a), want.lookup(cidr.U128{Lo: uint64(a)}); g != w {
					t.Fatalf("n=%d IPv4 %08x: %d, want %d", n, a, g, w)
				}
			}
		}
		// IPv6 under 2001:db8::/32, and spread over 2000::/3.
		for _, spread := range []func() cidr.U128{
			func() cidr.U128 { return cidr.U128{Hi: 0x20010db8<<32 | uint64(r.Uint32()), Lo: r.Uint64()} },
			func() cidr.U128 { return cidr.U128{Hi: 0x2000<<48 | r.Uint64()>>3, Lo: r.Uint64()} },
		} {
			got, want := build(t, 128, n, r, spread)
			for range 20_000 {
				var a cidr.U128
				if len(want.starts) > 0 && r.IntN(2) == 0 {
					a = want.starts[r.IntN(len(want.starts))]
					if r.IntN(2) == 0 {
						a, _ = a.Next()
					}
				} else {
					a = spread()
				}
				if r.IntN(10) == 0 {
					a = cidr.U128{Hi: r.Uint64(), Lo: r.Uint64()} // outside the shared prefix
				}
				if g, w := got.Lookup6(a), want.lookup(a); g != w {
					t.Fatalf("n=%d IPv6 %x: %d, want %d", n, a, g, w)
				}
			}
		}
	}
}

func TestBuilderMerges(t *testing.T) {
	b := NewBuilder(32, 4)
	b.Set(cidr.U128{Lo: 10}, 1)
	b.Set(cidr.U128{Lo: 20}, 1) // same value: no boundary
	b.Set(cidr.U128{Lo: 30}, 2)
	b.Set(cidr.U128{Lo: 30}, 1) // replaces, then equals the range before: dropped
	b.Set(cidr.U128{Lo: 40}, 0)
	m := b.Map()
	if m.Boundaries() != 3 { // 0→0, 10→1, 40→0
		t.Fatalf("%d boundaries: %v %v", m.Boundaries(), m.starts4, m.vals)
	}
	for a, want := range map[uint32]uint32{0: 0, 9: 0, 10: 1, 35: 1, 39: 1, 40: 0, 1 << 31: 0} {
		if got := m.Lookup4(a); got != want {
			t.Errorf("%d: %d, want %d", a, got, want)
		}
	}
}

func TestSmallMapsHaveNoIndex(t *testing.T) {
	b := NewBuilder(128, 2)
	b.Set(cidr.U128{Hi: 1, Lo: 0}, 1)
	if m := b.Map(); m.idx != nil || m.Bytes() > 64 {
		t.Errorf("a two-boundary map takes %d bytes", m.Bytes())
	}
}
