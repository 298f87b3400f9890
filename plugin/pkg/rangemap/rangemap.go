// Package rangemap maps every IPv4 and IPv6 address to a value, for address spaces cut into ranges by
// many (possibly nested) prefixes. It is the flattened form of a prefix trie: the sorted boundaries where
// the value changes, each with the value from there to the next boundary. A lookup is a binary search for
// the last boundary at or before the address, narrowed first by an index over the 16 address bits that
// follow the prefix all boundaries share (so IPv6 data, nearly all in 2000::/3, spreads over the index as
// well as IPv4 does). A lookup allocates nothing and typically touches two cache lines.
//
// Cost: 8 bytes per IPv4 boundary and 20 per IPv6 boundary, at most two boundaries per prefix (fewer when
// prefixes are adjacent or share a value); maps of more than indexFrom boundaries add a 256 KiB index.
// The arrays hold no pointers, so the garbage collector never scans them. A map is immutable once built;
// building one is a single linear pass over sorted input.
package rangemap

import (
	"math/bits"
)

// indexFrom is the number of boundaries from which a map gets an index; below it, a plain binary search
// over a few kilobytes is as fast and a policy's handful of own entries stays small.
const indexFrom = 4096

// U128 is an address as two big-endian halves; IPv4 addresses are in the low 32 bits of Lo.
type U128 struct{ Hi, Lo uint64 }

// Less orders addresses.
func (a U128) Less(b U128) bool { return a.Hi < b.Hi || a.Hi == b.Hi && a.Lo < b.Lo }

// Next returns a+1 and false when a is the last address.
func (a U128) Next() (U128, bool) {
	if a.Lo != ^uint64(0) {
		return U128{a.Hi, a.Lo + 1}, true
	}
	if a.Hi != ^uint64(0) {
		return U128{a.Hi + 1, 0}, true
	}
	return a, false
}

// shl shifts a left by n bits (n < 128).
func (a U128) shl(n uint) U128 {
	switch {
	case n == 0:
		return a
	case n >= 64:
		return U128{a.Lo << (n - 64), 0}
	}
	return U128{a.Hi<<n | a.Lo>>(64-n), a.Lo << n}
}

// clz is the number of leading zero bits of a.
func (a U128) clz() uint {
	if a.Hi != 0 {
		return uint(bits.LeadingZeros64(a.Hi))
	}
	return 64 + uint(bits.LeadingZeros64(a.Lo))
}

// index narrows lookups to one bucket of boundaries.
type index struct {
	width  uint // address bits: 32 or 128
	shared uint // leading bits every boundary but the first shares
	mask   U128 // those bits set, left-aligned
	prefix U128 // their value
	first  []uint32
}

// key maps an address to its bucket, or reports that it lies below (-1) or above (+1) every bucket.
func (x *index) key(a U128) (int, int) {
	a = a.shl(128 - x.width) // left-align IPv4
	if top := (U128{a.Hi & x.mask.Hi, a.Lo & x.mask.Lo}); top != x.prefix {
		if top.Less(x.prefix) {
			return 0, -1
		}
		return 0, 1
	}
	return int(a.shl(x.shared).Hi >> 48), 0
}

// newIndex indexes n boundaries; at(i) is boundary i.
func newIndex(n int, at func(int) U128, width uint) *index {
	x := &index{width: width, first: make([]uint32, 1<<16+1)}
	lo, hi := at(1).shl(128-width), at(n-1).shl(128-width)
	x.shared = min(U128{lo.Hi ^ hi.Hi, lo.Lo ^ hi.Lo}.clz(), width-16)
	if x.shared > 0 {
		x.mask = U128{^uint64(0), ^uint64(0)}.shl(128 - x.shared)
		x.prefix = U128{lo.Hi & x.mask.Hi, lo.Lo & x.mask.Lo}
	}
	// first[k] is the first boundary (from 1) whose bucket is >= k; boundary 0 (address 0) belongs to
	// no bucket, it answers for addresses below the first.
	i := 1
	for k := range 1 << 16 {
		for i < n {
			if kk, _ := x.key(at(i)); kk >= k {
				break
			}
			i++
		}
		x.first[k] = uint32(i)
	}
	x.first[1<<16] = uint32(n)
	return x
}

// Map maps addresses of one family to values.
type Map struct {
	width   uint
	starts  []U128 // IPv6 starts, ascending; starts[0] is address 0
	vals    []uint32
	idx     *index
	starts4 []uint32 // IPv4 starts, packed; starts is then nil
}

// Lookup4 returns the value of the range holding IPv4 address a (in a Map built for IPv4).
func (m *Map) Lookup4(a uint32) uint32 {
	lo, hi := 1, len(m.starts4)
	if m.idx != nil {
		k, side := m.idx.key(U128{0, uint64(a)})
		switch side {
		case -1:
			return m.vals[0]
		case 1:
			return m.vals[len(m.vals)-1]
		}
		lo, hi = int(m.idx.first[k]), int(m.idx.first[k+1])
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.starts4[mid] <= a {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return m.vals[lo-1]
}

// Lookup6 returns the value of the range holding IPv6 address a (in a Map built for IPv6).
func (m *Map) Lookup6(a U128) uint32 {
	lo, hi := 1, len(m.starts)
	if m.idx != nil {
		k, side := m.idx.key(a)
		switch side {
		case -1:
			return m.vals[0]
		case 1:
			return m.vals[len(m.vals)-1]
		}
		lo, hi = int(m.idx.first[k]), int(m.idx.first[k+1])
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s := m.starts[mid]; s.Hi < a.Hi || s.Hi == a.Hi && s.Lo <= a.Lo {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return m.vals[lo-1]
}

// Boundaries is the number of boundaries, the one at address 0 included.
func (m *Map) Boundaries() int { return len(m.vals) }

// Bytes is the memory the map holds.
func (m *Map) Bytes() int {
	n := 4*len(m.vals) + 4*len(m.starts4) + 16*len(m.starts)
	if m.idx != nil {
		n += 4 * len(m.idx.first)
	}
	return n
}

// Builder builds a Map from boundaries given in ascending order of address. A boundary at the same
// address as the previous one replaces it; one with the same value as the range before it is dropped.
type Builder struct {
	width   uint
	starts  []U128   // IPv6
	starts4 []uint32 // IPv4
	vals    []uint32
}

// NewBuilder returns a builder for addresses of width bits (32 or 128) and about n boundaries; the value
// is 0 from address 0 until the first Set.
func NewBuilder(width uint, n int) *Builder {
	b := &Builder{width: width, vals: make([]uint32, 1, n+1)}
	if width == 32 {
		b.starts4 = make([]uint32, 1, n+1)
	} else {
		b.starts = make([]U128, 1, n+1)
	}
	return b
}

func (b *Builder) at(i int) U128 {
	if b.width == 32 {
		return U128{0, uint64(b.starts4[i])}
	}
	return b.starts[i]
}

func (b *Builder) truncate(n int) {
	b.vals = b.vals[:n]
	if b.width == 32 {
		b.starts4 = b.starts4[:n]
	} else {
		b.starts = b.starts[:n]
	}
}

// Set makes the value v from address a on (for IPv4, a.Lo holds the address).
func (b *Builder) Set(a U128, v uint32) {
	last := len(b.vals) - 1
	if b.at(last) == a {
		b.vals[last] = v
		if last > 0 && b.vals[last-1] == v {
			b.truncate(last)
		}
		return
	}
	if b.vals[last] == v {
		return
	}
	if b.width == 32 {
		b.starts4 = append(b.starts4, uint32(a.Lo))
	} else {
		b.starts = append(b.starts, a)
	}
	b.vals = append(b.vals, v)
}

// Map returns the built map; the builder must not be used afterwards.
func (b *Builder) Map() *Map {
	m := &Map{width: b.width, vals: clip(b.vals), starts: clip(b.starts), starts4: clip(b.starts4)}
	if n := len(b.vals); n > indexFrom {
		m.idx = newIndex(n, b.at, b.width)
	}
	return m
}

func clip[T any](s []T) []T { return s[:len(s):len(s)] }
