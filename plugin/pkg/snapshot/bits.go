package snapshot

import "math/bits"

// Bits is a set of list IDs, one bit per list, in Words(n) words for n lists. Policies keep their choice of
// lists as Bits masks; the snapshot stores each distinct set once and hands out its ID.
type Bits []uint64

// Words is the number of words a set over n lists needs (at least one).
func Words(n int) int { return max(1, (n+63)/64) }

// NewBits returns an empty set sized for n lists.
func NewBits(n int) Bits { return make(Bits, Words(n)) }

// Add puts list i into the set.
func (b Bits) Add(i int) { b[i/64] |= 1 << (i % 64) }

// Has reports whether list i is in the set.
func (b Bits) Has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

// Empty reports whether the set holds no list.
func (b Bits) Empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// Intersects reports whether b and o share a list.
func (b Bits) Intersects(o Bits) bool {
	for i := range min(len(b), len(o)) {
		if b[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

// Or adds every list of o to b.
func (b Bits) Or(o Bits) {
	for i := range min(len(b), len(o)) {
		b[i] |= o[i]
	}
}

// EachAnd calls fn with every list ID held by both b and o, in ascending order.
func (b Bits) EachAnd(o Bits, fn func(i int)) {
	for w := range min(len(b), len(o)) {
		for v := b[w] & o[w]; v != 0; v &= v - 1 {
			fn(w*64 + bits.TrailingZeros64(v))
		}
	}
}

// Each calls fn with every list ID in b, in ascending order.
func (b Bits) Each(fn func(i int)) { b.EachAnd(b, fn) }
