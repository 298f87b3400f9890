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

import "github.com/threatstop/threatstop/plugin/pkg/cidr"

// indexFrom is the number of boundaries from which a map gets an index; below it, a plain binary search
// over a few kilobytes is as fast and a policy's handful of own entries stays small.
const indexFrom = 4096

// index narrows lookups to one bucket of boundaries.
type index struct {
	width  uint      // address bits: 32 or 128
	shared uint      // leading bits every boundary but the first shares
	mask   cidr.U128 // those bits set, left-aligned
	prefix cidr.U128 // their value
	first  []uint32
}

// key maps an address to its bucket, or reports that it lies below (-1) or above (+1) every bucket.
func (x *index) key(a cidr.U128) (int, int) {
	a = a.Shl(128 - x.width) // left-align IPv4
	if top := a.And(x.mask); top != x.prefix {
		if top.Less(x.prefix) {
			return 0, -1
		}
		return 0, 1
	}
	return int(a.Shl(x.shared).Hi >> 48), 0
}

// newIndex indexes n boundaries; at(i) is boundary i.
func newIndex(n int, at func(int) cidr.U128, width uint) *index {
	x := &index{width: width, first: make([]uint32, 1<<16+1)}
	lo, hi := at(1).Shl(128-width), at(n-1).Shl(128-width)
	x.shared = min(uint(lo.Xor(hi).LeadingZeros()), width-16)
	if x.shared > 0 {
		x.mask = cidr.U128{Hi: ^uint64(0), Lo: ^uint64(0)}.Shl(128 - x.shared)
		x.prefix = lo.And(x.mask)
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
	starts  []cidr.U128 // IPv6 starts, ascending; starts[0] is address 0
	vals    []uint32
	idx     *index
	starts4 []uint32 // IPv4 starts, packed; starts is then nil
}

// Lookup4 returns the value of the range holding IPv4 address a (in a Map built for IPv4).
func (m *Map) Lookup4(a uint32) uint32 {
	lo, hi := 1, len(m.starts4)
	if m.idx != nil {
		k, side := m.idx.key(cidr.U128{Lo: uint64(a)})
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
func (m *Map) Lookup6(a cidr.U128) uint32 {
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
	starts  []cidr.U128 // IPv6
	starts4 []uint32    // IPv4
	vals    []uint32
}

// NewBuilder returns a builder for addresses of width bits (32 or 128) and about n boundaries; the value
// is 0 from address 0 until the first Set.
func NewBuilder(width uint, n int) *Builder {
	b := &Builder{width: width, vals: make([]uint32, 1, n+1)}
	if width == 32 {
		b.starts4 = make([]uint32, 1, n+1)
	} else {
		b.starts = make([]cidr.U128, 1, n+1)
	}
	return b
}

func (b *Builder) at(i int) cidr.U128 {
	if b.width == 32 {
		return cidr.U128{Lo: uint64(b.starts4[i])}
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
func (b *Builder) Set(a cidr.U128, v uint32) {
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
