package format

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an address as a 128-bit number; IPv4 addresses use the low 32 bits.
type u128 struct{ hi, lo uint64 }

func fromAddr(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) less(v u128) bool { return u.hi < v.hi || u.hi == v.hi && u.lo < v.lo }

func (u u128) or(v u128) u128 { return u128{u.hi | v.hi, u.lo | v.lo} }

// trailingZeros is the number of trailing zero bits, 128 for zero.
func (u u128) trailingZeros() int {
	if u.lo != 0 {
		return bits.TrailingZeros64(u.lo)
	}
	return 64 + bits.TrailingZeros64(u.hi)
}

func (u u128) inc() u128 {
	lo := u.lo + 1
	hi := u.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

// lowMask has the k low bits set, 0 <= k <= 128.
func lowMask(k int) u128 {
	switch {
	case k >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case k > 64:
		return u128{1<<(k-64) - 1, ^uint64(0)}
	case k == 64:
		return u128{0, ^uint64(0)}
	}
	return u128{0, 1<<k - 1}
}

// rangePrefixes calls fn with the minimal list of prefixes, in ascending order, that covers exactly the
// addresses from lo to hi inclusive. It reports false, calling nothing, when the two are not valid
// addresses of the same family without zones, or hi < lo.
//
// Each step takes the largest block that starts at the current address (so is aligned on its size) and
// ends at or before hi; such blocks are the maximal prefixes inside the range, and no two of them can
// merge, so the list is minimal. A range yields at most 2*bits prefixes.
func rangePrefixes(lo, hi netip.Addr, fn func(netip.Prefix)) bool {
	if !lo.IsValid() || !hi.IsValid() || lo.Is4() != hi.Is4() || lo.Zone() != "" || hi.Zone() != "" || hi.Less(lo) {
		return false
	}
	is4, n := lo.Is4(), lo.BitLen()
	s, e := fromAddr(lo), fromAddr(hi)
	for {
		k := min(s.trailingZeros(), n)
		for k > 0 && e.less(s.or(lowMask(k))) {
			k--
		}
		fn(netip.PrefixFrom(s.addr(is4), n-k))
		last := s.or(lowMask(k))
		if last == e {
			return true
		}
		s = last.inc()
	}
}
