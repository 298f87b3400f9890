// Package entryset holds one version of one feed's content in a compact, sorted, deduplicated form. Parsers
// fill a Builder; the resulting Set is immutable and is what the snapshot compiler reads. Sorted order puts
// every prefix before the prefixes it covers, so compiling covering sets and diffing two versions are
// linear merges.
//
// Cost: 8 bytes per IPv4 prefix, 24 per IPv6 prefix, and per domain its bytes and a 4-byte offset. A Set
// holds no pointer per entry, so the garbage collector marks a million-entry set in a few steps.
package entryset

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"unsafe"
)

// nameRef is a name in a Builder's buffer: its offset<<8 | its length (at most 253).
type nameRef uint64

// V6 is an IPv6 prefix: the masked address as two big-endian halves and the prefix length.
type V6 struct {
	Hi, Lo uint64
	Bits   uint8
}

// Set is one feed version. It must not be modified once built.
type Set struct {
	V4        []uint64 // masked address<<8 | prefix length, ascending
	V6        []V6     // ascending by address, then length
	Names     Names    // exact names, normalised, ascending
	Wildcards Names    // names listed together with all their subdomains, ascending

	// Conf, when not nil, is each entry's own confidence (0 to 255 for 0 to 1), in the order V4, V6,
	// Names, Wildcards: what a feed whose entries age (decay) or are counted (sensors) vouches for each.
	// Nil: every entry has the feed's confidence. It is not part of Equal or Sum, which compare entries.
	Conf []uint8
}

// ConfAt is the confidence of entry i of the set's entries in the order V4, V6, Names, Wildcards, or def
// when the set has no confidences of its own.
func (s *Set) ConfAt(i int, def uint8) uint8 {
	if s.Conf == nil {
		return def
	}
	return s.Conf[i]
}

// Names is a sorted, duplicate-free list of names packed into one string.
type Names struct {
	all  string
	ends []uint32 // name i is all[ends[i-1]:ends[i]], from 0 for the first
}

// NamesOf packs names, which must be sorted and free of duplicates.
func NamesOf(names ...string) Names {
	var n Names
	var all strings.Builder
	for _, name := range names {
		all.WriteString(name)
		n.ends = append(n.ends, uint32(all.Len()))
	}
	n.all = all.String()
	return n
}

// Equal reports whether both hold the same names.
func (n Names) Equal(o Names) bool { return n.all == o.all && slices.Equal(n.ends, o.ends) }

// Len is the number of names.
func (n Names) Len() int { return len(n.ends) }

// At returns name i.
func (n Names) At(i int) string {
	start := uint32(0)
	if i > 0 {
		start = n.ends[i-1]
	}
	return n.all[start:n.ends[i]]
}

// All yields every name with its index, in order.
func (n Names) All() iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		start := uint32(0)
		for i, end := range n.ends {
			if !yield(i, n.all[start:end]) {
				return
			}
			start = end
		}
	}
}

// Longest is the length of the longest name, 0 when there is none: one pass over the ends, no name read.
func (n Names) Longest() int {
	longest, start := uint32(0), uint32(0)
	for _, end := range n.ends {
		longest, start = max(longest, end-start), end
	}
	return int(longest)
}

// Strings returns the names as a slice (which shares their bytes).
func (n Names) Strings() []string {
	out := make([]string, 0, len(n.ends))
	for _, name := range n.All() {
		out = append(out, name)
	}
	return out
}

// Search returns the position of name, or where it would be inserted, and whether it is there.
func (n Names) Search(name string) (int, bool) {
	i := sort.Search(len(n.ends), func(i int) bool { return n.At(i) >= name })
	return i, i < len(n.ends) && n.At(i) == name
}

// Bytes is the memory the names hold.
func (n Names) Bytes() int { return len(n.all) + 4*len(n.ends) }

// Data identifies the names' storage: two Names with the same Data and Len are the same names.
func (n Names) Data() *byte { return unsafe.StringData(n.all) }

// String formats the names as a quoted list, for messages.
func (n Names) String() string { return fmt.Sprintf("%q", n.Strings()) }

// Len is the number of entries.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.V4) + len(s.V6) + s.Names.Len() + s.Wildcards.Len()
}

// Equal reports whether both sets hold the same entries.
func (s *Set) Equal(o *Set) bool {
	return slices.Equal(s.V4, o.V4) && slices.Equal(s.V6, o.V6) &&
		s.Names.Equal(o.Names) && s.Wildcards.Equal(o.Wildcards)
}

// Sum is a SHA-256 digest of the set's entries: equal sets have equal sums, on one machine (the arrays
// are hashed as they lie in memory, about 2 GB/s with the CPU's SHA instructions). Package state
// compares policies' content by it across reloads and restarts.
func (s *Set) Sum() [sha256.Size]byte {
	h := sha256.New()
	// A V6 has padding, whose bytes are not defined: its fields are written out.
	v6 := make([]byte, 0, 17*len(s.V6))
	for _, p := range s.V6 {
		v6 = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(v6, p.Hi), p.Lo)
		v6 = append(v6, p.Bits)
	}
	var n [8]byte
	for _, part := range [][]byte{
		unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s.V4))), len(s.V4)*8), v6,
		unsafe.Slice(unsafe.StringData(s.Names.all), len(s.Names.all)), unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s.Names.ends))), len(s.Names.ends)*4),
		unsafe.Slice(unsafe.StringData(s.Wildcards.all), len(s.Wildcards.all)), unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s.Wildcards.ends))), len(s.Wildcards.ends)*4),
	} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
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
	buf         []byte // the names' bytes, as added: a parser's line buffers are never pinned
	names, wild []nameRef
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

// AddName adds a normalised domain name (at most 253 bytes, as every valid name is); sub means the name
// and all its subdomains.
func (b *Builder) AddName(name string, sub bool) {
	if len(name) > 255 {
		panic("entryset: name longer than 255 bytes")
	}
	ref := nameRef(len(b.buf))<<8 | nameRef(len(name))
	b.buf = append(b.buf, name...)
	if sub {
		b.wild = append(b.wild, ref)
	} else {
		b.names = append(b.names, ref)
	}
}

func (b *Builder) name(r nameRef) []byte { return b.buf[r>>8 : r>>8+r&0xff] }

func (b *Builder) compareNames(x, y nameRef) int { return bytes.Compare(b.name(x), b.name(y)) }

// pack sorts refs and packs their distinct names.
func (b *Builder) pack(refs []nameRef) Names {
	slices.SortFunc(refs, b.compareNames)
	refs = slices.CompactFunc(refs, func(x, y nameRef) bool { return bytes.Equal(b.name(x), b.name(y)) })
	size := 0
	for _, r := range refs {
		size += int(r & 0xff)
	}
	var all strings.Builder
	all.Grow(size)
	n := Names{ends: make([]uint32, len(refs))}
	for i, r := range refs {
		all.Write(b.name(r))
		n.ends[i] = uint32(all.Len())
	}
	n.all = all.String()
	return n
}

// Len is the number of entries added so far, duplicates included.
func (b *Builder) Len() int { return len(b.v4) + len(b.v6) + len(b.names) + len(b.wild) }

// Set sorts and deduplicates what was added and returns it as an immutable Set. The Builder must not be
// used afterwards.
func (b *Builder) Set() *Set {
	// Sorting a million entries takes tens of milliseconds, off the query path: the runtime schedules
	// queries on the other cores meanwhile.
	slices.Sort(b.v4)
	slices.SortFunc(b.v6, V6.Compare)
	s := &Set{
		V4:        exact(slices.Compact(b.v4)),
		V6:        exact(slices.Compact(b.v6)),
		Names:     b.pack(b.names),
		Wildcards: b.pack(b.wild),
	}
	*b = Builder{}
	return s
}

// exact returns s in an array of its length, reusing s's when little would be left unused: append's
// doubling would otherwise stay with the Set for its lifetime.
func exact[T any](s []T) []T {
	if cap(s)-len(s) <= len(s)/8 {
		return slices.Clip(s)
	}
	return slices.Clone(s)
}

// Grow makes room for about v4, v6 and names more entries and nameBytes more bytes of names, so that a
// parse of a feed about the size of its last version appends without copying megabytes as it goes.
func (b *Builder) Grow(v4, v6, names, nameBytes int) {
	b.v4 = grow(b.v4, v4)
	b.v6 = grow(b.v6, v6)
	b.buf = grow(b.buf, nameBytes)
	b.names = grow(b.names, names)
}

// grow is slices.Grow.
func grow[T any](s []T, n int) []T { return slices.Grow(s, n) }

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
	if _, ok := s.Names.Search(name); ok {
		return name, true
	}
	for n := name; ; {
		if _, ok := s.Wildcards.Search(n); ok {
			return "*." + n, true
		}
		i := strings.IndexByte(n, '.')
		if i < 0 {
			return "", false
		}
		n = n[i+1:]
	}
}
