// Package entryset holds one version of one feed's content in a compact, sorted, deduplicated form. Parsers
// fill a Builder; the resulting Set is immutable and is what the snapshot compiler reads. Sorted order puts
// every prefix before the prefixes it covers, so compiling covering sets and diffing two versions are
// linear merges.
//
// Cost: 8 bytes per IPv4 prefix, 24 per IPv6 prefix, and per domain a 16-byte string header plus its bytes.
package entryset

import (
	stdcmp "cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/pace"
)

// V6 is an IPv6 prefix: the masked address as two big-endian halves and the prefix length.
type V6 struct {
	Hi, Lo uint64
	Bits   uint8
}

// Set is one feed version. It must not be modified once built.
type Set struct {
	V4        []uint64 // masked address<<8 | prefix length, ascending
	V6        []V6     // ascending by address, then length
	Names     []string // exact names, normalised, ascending
	Wildcards []string // names listed together with all their subdomains, ascending
}

// Len is the number of entries.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.V4) + len(s.V6) + len(s.Names) + len(s.Wildcards)
}

// Equal reports whether both sets hold the same entries.
func (s *Set) Equal(o *Set) bool {
	return slices.Equal(s.V4, o.V4) && slices.Equal(s.V6, o.V6) &&
		slices.Equal(s.Names, o.Names) && slices.Equal(s.Wildcards, o.Wildcards)
}

// PackV4 packs an IPv4 prefix, which must be masked, into the V4 representation.
func PackV4(p netip.Prefix) uint64 {
	a := p.Addr().As4()
	return uint64(binary.BigEndian.Uint32(a[:]))<<8 | uint64(p.Bits())
}

// UnpackV4 reverses PackV4.
func UnpackV4(v uint64) netip.Prefix {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(v>>8))
	return netip.PrefixFrom(netip.AddrFrom4(a), int(v&0xff))
}

// PackV6 converts a masked IPv6 prefix into the V6 representation.
func PackV6(p netip.Prefix) V6 {
	a := p.Addr().As16()
	return V6{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), uint8(p.Bits())}
}

// Prefix reverses PackV6.
func (v V6) Prefix() netip.Prefix {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], v.Hi)
	binary.BigEndian.PutUint64(a[8:], v.Lo)
	return netip.PrefixFrom(netip.AddrFrom16(a), int(v.Bits))
}

// Compare orders IPv6 prefixes by address, then by length, so that a prefix sorts before those it covers.
func (v V6) Compare(o V6) int {
	switch {
	case v.Hi != o.Hi:
		return cmp(v.Hi, o.Hi)
	case v.Lo != o.Lo:
		return cmp(v.Lo, o.Lo)
	}
	return int(v.Bits) - int(o.Bits)
}

func cmp(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// Builder collects entries in any order, duplicates included. The zero value is ready to use.
type Builder struct {
	v4          []uint64
	v6          []V6
	names, wild []string
}

// AddPrefix adds a prefix; host bits are cleared and an IPv4-mapped IPv6 prefix is stored as IPv4.
// It reports false, adding nothing, for an invalid prefix.
func (b *Builder) AddPrefix(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	if p.Addr().Is4() {
		b.v4 = append(b.v4, PackV4(p))
	} else {
		b.v6 = append(b.v6, PackV6(p))
	}
	return true
}

// AddAddr adds a single address as a host prefix. It reports false for an address with a zone
// ("fe80::1%eth0"): the zone would be silently dropped, listing the address on every link.
func (b *Builder) AddAddr(a netip.Addr) bool {
	if a.Zone() != "" {
		return false
	}
	return b.AddPrefix(netip.PrefixFrom(a, a.BitLen()))
}

// AddName adds a normalised domain name; sub means the name and all its subdomains.
func (b *Builder) AddName(name string, sub bool) {
	if sub {
		b.wild = append(b.wild, name)
	} else {
		b.names = append(b.names, name)
	}
}

// Len is the number of entries added so far, duplicates included.
func (b *Builder) Len() int { return len(b.v4) + len(b.v6) + len(b.names) + len(b.wild) }

// Set sorts and deduplicates what was added and returns it as an immutable Set. The Builder must not be
// used afterwards.
func (b *Builder) Set() *Set {
	// Sorting a million entries takes tens of milliseconds: pace it, so queries are not held back.
	var p pace.Pacer
	pace.SortFunc(&p, b.v4, stdcmp.Compare[uint64])
	pace.SortFunc(&p, b.v6, V6.Compare)
	pace.SortFunc(&p, b.names, strings.Compare)
	pace.SortFunc(&p, b.wild, strings.Compare)
	s := &Set{
		V4:        slices.Clip(slices.Compact(b.v4)),
		V6:        slices.Clip(slices.Compact(b.v6)),
		Names:     clipStrings(slices.Compact(b.names)),
		Wildcards: clipStrings(slices.Compact(b.wild)),
	}
	*b = Builder{}
	return s
}

// clipStrings packs the names into one shared buffer: a kept Set never pins a parser's line buffers, and
// a million names cost one allocation instead of a million size-class-rounded ones.
func clipStrings(s []string) []string {
	s = slices.Clip(s)
	n := 0
	for _, name := range s {
		n += len(name)
	}
	var arena strings.Builder
	arena.Grow(n)
	for _, name := range s {
		arena.WriteString(name)
	}
	all := arena.String()
	for i, name := range s {
		s[i], all = all[:len(name)], all[len(name):]
	}
	return s
}

// MatchAddr returns the most specific prefix of s that contains a: one binary search per prefix length,
// for explaining a decision, not for the query path.
func (s *Set) MatchAddr(a netip.Addr) (netip.Prefix, bool) {
	if s == nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	for bits := a.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(a, bits).Masked()
		if a.Is4() {
			if _, ok := slices.BinarySearch(s.V4, PackV4(p)); ok {
				return p, true
			}
		} else if _, ok := slices.BinarySearchFunc(s.V6, PackV6(p), V6.Compare); ok {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// MatchName returns the entry of s that lists name (normalised): the name itself, or "*.parent" for the
// closest parent listed with its subdomains (which also lists the parent itself).
func (s *Set) MatchName(name string) (string, bool) {
	if s == nil {
		return "", false
	}
	if _, ok := slices.BinarySearch(s.Names, name); ok {
		return name, true
	}
	for n := name; ; {
		if _, ok := slices.BinarySearch(s.Wildcards, n); ok {
			return "*." + n, true
		}
		i := strings.IndexByte(n, '.')
		if i < 0 {
			return "", false
		}
		n = n[i+1:]
	}
}
