// Package cidr is address arithmetic on prefixes and ranges: an address as a 128-bit number (U128, the one
// such type of the project: the range map, the list pages, the feed formats' ranges and threatstop-sync's
// merged sets all use it, converting from and to net/netip at their edges), the minimal prefixes that
// cover a range, and the last address of a prefix. Feed formats use it for ranges
// ("a-b", start/end pairs) and the policy list pages for flattening a policy into disjoint prefixes.
//
// Cost: value types only, no allocation; a range yields at most 2*bits prefixes.
package cidr

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// U128 is an address as a 128-bit number; IPv4 addresses use the low 32 bits.
type U128 struct{ Hi, Lo uint64 }

// FromAddr is a as a number.
func FromAddr(a netip.Addr) U128 {
	if a.Is4() {
		b := a.As4()
		return U128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return U128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// Addr is u as an IPv4 (is4) or IPv6 address.
func (u U128) Addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.Lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.Hi)
	binary.BigEndian.PutUint64(b[8:], u.Lo)
	return netip.AddrFrom16(b)
}

// Less reports u < v.
func (u U128) Less(v U128) bool { return u.Hi < v.Hi || u.Hi == v.Hi && u.Lo < v.Lo }

// Compare returns -1, 0 or +1 as u is less than, equal to or greater than v.
func (u U128) Compare(v U128) int {
	switch {
	case u == v:
		return 0
	case u.Less(v):
		return -1
	}
	return 1
}

// Or is u | v.
func (u U128) Or(v U128) U128 { return U128{u.Hi | v.Hi, u.Lo | v.Lo} }

// And is u & v.
func (u U128) And(v U128) U128 { return U128{u.Hi & v.Hi, u.Lo & v.Lo} }

// Xor is u ^ v.
func (u U128) Xor(v U128) U128 { return U128{u.Hi ^ v.Hi, u.Lo ^ v.Lo} }

// Shl is u shifted left by n bits (n < 128).
func (u U128) Shl(n uint) U128 {
	switch {
	case n == 0:
		return u
	case n >= 64:
		return U128{u.Lo << (n - 64), 0}
	}
	return U128{u.Hi<<n | u.Lo>>(64-n), u.Lo << n}
}

// LeadingZeros is the number of leading zero bits, 128 for zero.
func (u U128) LeadingZeros() int {
	if u.Hi != 0 {
		return bits.LeadingZeros64(u.Hi)
	}
	return 64 + bits.LeadingZeros64(u.Lo)
}

// Next returns u+1, and false when u is the last address (all ones).
func (u U128) Next() (U128, bool) {
	if u == (U128{^uint64(0), ^uint64(0)}) {
		return u, false
	}
	return u.Inc(), true
}

// TrailingZeros is the number of trailing zero bits, 128 for zero.
func (u U128) TrailingZeros() int {
	if u.Lo != 0 {
		return bits.TrailingZeros64(u.Lo)
	}
	return 64 + bits.TrailingZeros64(u.Hi)
}

// CommonBits is the length of the longest common prefix of u and v.
func (u U128) CommonBits(v U128) int {
	if x := u.Hi ^ v.Hi; x != 0 {
		return bits.LeadingZeros64(x)
	}
	return 64 + bits.LeadingZeros64(u.Lo^v.Lo)
}

// Inc is u+1 (wrapping).
func (u U128) Inc() U128 {
	lo := u.Lo + 1
	hi := u.Hi
	if lo == 0 {
		hi++
	}
	return U128{hi, lo}
}

// Dec is u-1 (wrapping).
func (u U128) Dec() U128 {
	hi := u.Hi
	if u.Lo == 0 {
		hi--
	}
	return U128{hi, u.Lo - 1}
}

// LowMask has the k low bits set, 0 <= k <= 128.
func LowMask(k int) U128 {
	switch {
	case k >= 128:
		return U128{^uint64(0), ^uint64(0)}
	case k > 64:
		return U128{1<<(k-64) - 1, ^uint64(0)}
	case k == 64:
		return U128{0, ^uint64(0)}
	}
	return U128{0, 1<<k - 1}
}

// Last is the last address of p (masked or not).
func Last(p netip.Prefix) netip.Addr {
	p = p.Masked()
	return FromAddr(p.Addr()).Or(LowMask(p.Addr().BitLen() - p.Bits())).Addr(p.Addr().Is4())
}

// Range calls fn with the minimal list of prefixes, in ascending order, that covers exactly the addresses
// from lo to hi inclusive, until fn returns false. It reports false, calling nothing, when the two are not
// valid addresses of the same family without zones, or hi < lo.
//
// Each step takes the largest block that starts at the current address (so is aligned on its size) and
// ends at or before hi; such blocks are the maximal prefixes inside the range, and no two of them can
// merge, so the list is minimal. A range yields at most 2*bits prefixes.
func Range(lo, hi netip.Addr, fn func(netip.Prefix) bool) bool {
	if !lo.IsValid() || !hi.IsValid() || lo.Is4() != hi.Is4() || lo.Zone() != "" || hi.Zone() != "" || hi.Less(lo) {
		return false
	}
	is4, n := lo.Is4(), lo.BitLen()
	s, e := FromAddr(lo), FromAddr(hi)
	for {
		k := min(s.TrailingZeros(), n)
		for k > 0 && e.Less(s.Or(LowMask(k))) {
			k--
		}
		if !fn(netip.PrefixFrom(s.Addr(is4), n-k)) {
			return true
		}
		last := s.Or(LowMask(k))
		if last == e {
			return true
		}
		s = last.Inc()
	}
}
