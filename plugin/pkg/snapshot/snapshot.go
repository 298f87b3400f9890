// Package snapshot compiles the feeds into one immutable structure that every answer is derived from: a
// range map of the IPv4 and IPv6 address space (package rangemap) and a map of all domain names, each
// range and name carrying the ID of the set of lists that hold it or cover it. Sets are interned, so a
// million entries held by the same few lists share a handful of sets, and a policy is only a mask over
// lists: 1,000 policies add no per-entry memory.
//
// A lookup is an index probe and a short binary search (for a name, up to one map probe per label) and
// needs no lock: a Snapshot is never modified after Build, and holders swap whole snapshots with
// atomic.Pointer. The address part is flat and pointer-free, so it costs about 16 bytes per prefix and
// nothing to the garbage collector; see BenchmarkBuild (bytes per entry) and BenchmarkLookup*.
package snapshot

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/rangemap"
)

// SetID identifies an interned set of lists; 0 is the empty set.
type SetID uint32

// List is one input of Build: a feed's identity and its current content.
type List struct {
	Name     string
	Category string
	Version  uint64 // changes whenever the content changes; 0 until the feed first loads
	Withheld bool   // loaded, but not served now (stale): Set is nil
	Set      *entryset.Set
}

// ListInfo describes a list as compiled; its index in Snapshot.Lists is its list ID.
type ListInfo struct {
	Name     string
	Category string
	Version  uint64
	Withheld bool
	Entries  int
}

// Snapshot is the compiled, immutable union of all lists.
type Snapshot struct {
	Lists []ListInfo
	Built time.Time

	words    int           // words per set
	sets     []uint64      // interned sets, words each; set 0 is empty
	v4, v6   *rangemap.Map // address → set, covering prefixes resolved
	prefixes int
	names    map[string]nameSets
	nameBase SetID // added to the non-empty set IDs stored in names
}

// nameSets holds the lists that match a name itself and those that match its strict subdomains, both
// including what the name inherits from listed parents.
type nameSets struct{ self, sub SetID }

// Build compiles lists into a snapshot; list IDs are the indices into lists. A list with a nil Set (a
// feed that has not loaded yet) is empty.
func Build(lists []List) *Snapshot {
	s := &Snapshot{Lists: make([]ListInfo, len(lists)), Built: time.Now(), words: Words(len(lists))}
	lists = slices.Clone(lists)
	for i, l := range lists {
		if l.Set == nil {
			lists[i].Set = &entryset.Set{}
		}
		s.Lists[i] = ListInfo{Name: l.Name, Category: l.Category, Version: l.Version, Withheld: l.Withheld, Entries: l.Set.Len()}
	}
	// Names and prefixes are independent: build them at once, each with its own interner, and append
	// the names' sets after the prefixes' (nameBase shifts their IDs).
	names := newInterner(s.words)
	done := make(chan struct{})
	go func() {
		s.buildNames(lists, names)
		close(done)
	}()
	in := newInterner(s.words)
	s.buildV4(lists, in)
	s.buildV6(lists, in)
	<-done
	s.nameBase = SetID(len(in.sets)/s.words - 1)
	s.sets = slices.Clip(append(in.sets, names.sets[s.words:]...))
	return s
}

// Words is the number of 64-bit words of each set, Words(len(Lists)).
func (s *Snapshot) Words() int { return s.words }

// Set returns the lists of set id. The result must not be modified.
func (s *Snapshot) Set(id SetID) Bits {
	i := int(id) * s.words
	return Bits(s.sets[i : i+s.words : i+s.words])
}

// Sets is the number of distinct sets, the empty set included.
func (s *Snapshot) Sets() int { return len(s.sets) / s.words }

// Prefixes is the number of distinct prefixes.
func (s *Snapshot) Prefixes() int { return s.prefixes }

// Names is the number of distinct names.
func (s *Snapshot) Names() int { return len(s.names) }

// LookupAddr returns the lists that hold a prefix containing a. An IPv4-mapped IPv6 address is looked
// up as IPv4.
func (s *Snapshot) LookupAddr(a netip.Addr) SetID {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return SetID(s.v4.Lookup4(binary.BigEndian.Uint32(b[:])))
	}
	b := a.As16()
	return SetID(s.v6.Lookup6(rangemap.U128{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:])}))
}

// LookupName returns the lists that hold name (normalised, no trailing dot) exactly or hold one of its
// parents together with its subdomains.
func (s *Snapshot) LookupName(name string) SetID {
	if v, ok := s.names[name]; ok {
		return s.nameSet(v.self)
	}
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return 0
		}
		name = name[i+1:]
		if v, ok := s.names[name]; ok {
			return s.nameSet(v.sub)
		}
	}
}

func (s *Snapshot) nameSet(id SetID) SetID {
	if id == 0 {
		return 0
	}
	return id + s.nameBase
}

// interner hands out one ID per distinct set.
type interner struct {
	words int
	sets  []uint64
	ids   map[string]SetID
	key   []byte
}

func newInterner(words int) *interner {
	in := &interner{words: words, sets: make([]uint64, words), ids: map[string]SetID{}, key: make([]byte, 8*words)}
	in.ids[string(in.key)] = 0
	return in
}

func (in *interner) id(b Bits) SetID {
	for i, w := range b {
		binary.LittleEndian.PutUint64(in.key[8*i:], w)
	}
	if id, ok := in.ids[string(in.key)]; ok {
		return id
	}
	id := SetID(len(in.sets) / in.words)
	in.sets = append(in.sets, b...)
	in.ids[string(in.key)] = id
	return id
}

func (in *interner) set(id SetID) Bits {
	i := int(id) * in.words
	return Bits(in.sets[i : i+in.words])
}

// merge calls fn with each distinct key of the sorted, duplicate-free slices of lists, in ascending
// order, with the set of lists that hold it. It merges in place: no copy of the entries is made.
func merge[K any](lists []List, keys func(*entryset.Set) []K, cmp func(K, K) int, own Bits, fn func(K, Bits)) {
	type head struct {
		keys []K
		list int
	}
	var heads []head
	for i, l := range lists {
		if k := keys(l.Set); len(k) > 0 {
			heads = append(heads, head{k, i})
		}
	}
	for len(heads) > 0 {
		least := heads[0].keys[0]
		for _, h := range heads[1:] {
			if cmp(h.keys[0], least) < 0 {
				least = h.keys[0]
			}
		}
		clear(own)
		live := heads[:0]
		for _, h := range heads {
			if cmp(h.keys[0], least) == 0 {
				own.Add(h.list)
				h.keys = h.keys[1:]
			}
			if len(h.keys) > 0 {
				live = append(live, h)
			}
		}
		heads = live
		fn(least, own)
	}
}

// buildV4 merges the lists' IPv4 prefixes in address order, where every prefix comes before the prefixes
// it covers, and sweeps them into a range map. A stack of the prefixes that contain the current address
// gives each prefix the lists of all prefixes that cover it: entering a prefix sets the range to its
// lists and theirs, leaving it gives the range back to the prefix around it.
func (s *Snapshot) buildV4(lists []List, in *interner) {
	n := 0
	for _, l := range lists {
		n += len(l.Set.V4)
	}
	type open struct {
		end uint64 // last address, as uint64 so that end+1 never overflows
		id  SetID
	}
	var stack []open
	b := rangemap.NewBuilder(32, 2*n)
	close := func(upTo uint64) { // leave every open prefix that ends before upTo
		for len(stack) > 0 && stack[len(stack)-1].end < upTo {
			end := stack[len(stack)-1].end
			stack = stack[:len(stack)-1]
			var outer SetID
			if len(stack) > 0 {
				outer = stack[len(stack)-1].id
			}
			if end < 1<<32-1 {
				b.Set(rangemap.U128{Lo: end + 1}, uint32(outer))
			}
		}
	}
	merge(lists, func(e *entryset.Set) []uint64 { return e.V4 }, cmpU64, NewBits(len(lists)), func(key uint64, own Bits) {
		addr, bits := uint32(key>>8), int(key&0xff)
		close(uint64(addr))
		if len(stack) > 0 {
			own.Or(in.set(stack[len(stack)-1].id))
		}
		id := in.id(own)
		b.Set(rangemap.U128{Lo: uint64(addr)}, uint32(id))
		stack = append(stack, open{uint64(addr) | (1<<(32-bits) - 1), id})
		s.prefixes++
	})
	close(1 << 33)
	s.v4 = b.Map()
}

// buildV6 is buildV4 for IPv6.
func (s *Snapshot) buildV6(lists []List, in *interner) {
	n := 0
	for _, l := range lists {
		n += len(l.Set.V6)
	}
	type open struct {
		end rangemap.U128
		id  SetID
	}
	var stack []open
	b := rangemap.NewBuilder(128, 2*n)
	close := func(upTo rangemap.U128, all bool) { // leave every open prefix that ends before upTo
		for len(stack) > 0 && (all || stack[len(stack)-1].end.Less(upTo)) {
			end := stack[len(stack)-1].end
			stack = stack[:len(stack)-1]
			var outer SetID
			if len(stack) > 0 {
				outer = stack[len(stack)-1].id
			}
			if next, ok := end.Next(); ok {
				b.Set(next, uint32(outer))
			}
		}
	}
	merge(lists, func(e *entryset.Set) []entryset.V6 { return e.V6 }, entryset.V6.Compare, NewBits(len(lists)), func(key entryset.V6, own Bits) {
		start := rangemap.U128{Hi: key.Hi, Lo: key.Lo}
		close(start, false)
		if len(stack) > 0 {
			own.Or(in.set(stack[len(stack)-1].id))
		}
		id := in.id(own)
		b.Set(start, uint32(id))
		stack = append(stack, open{last6(key), id})
		s.prefixes++
	})
	close(rangemap.U128{}, true)
	s.v6 = b.Map()
}

// last6 is the last address of an IPv6 prefix.
func last6(p entryset.V6) rangemap.U128 {
	switch {
	case p.Bits == 0:
		return rangemap.U128{Hi: ^uint64(0), Lo: ^uint64(0)}
	case p.Bits <= 64:
		return rangemap.U128{Hi: p.Hi | ^uint64(0)>>p.Bits, Lo: ^uint64(0)}
	case p.Bits == 128:
		return rangemap.U128{Hi: p.Hi, Lo: p.Lo}
	default:
		return rangemap.U128{Hi: p.Hi, Lo: p.Lo | ^uint64(0)>>(p.Bits-64)}
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// buildNames collects every name with the lists that hold it exactly (own) and with its subdomains
// (ownSub), then resolves names parents first, so that each name inherits from its nearest listed parent
// the lists that cover its subdomains.
func (s *Snapshot) buildNames(lists []List, in *interner) {
	n := 0
	for _, l := range lists {
		n += len(l.Set.Names) + len(l.Set.Wildcards)
	}
	s.names = make(map[string]nameSets, n)
	w := s.words
	// w words per name, indexed by the name's position in order; sized for the most names there can be.
	own, ownSub := make([]uint64, 0, n*w), make([]uint64, 0, n*w)
	order := make([]string, 0, n)
	index := func(name string) int {
		if v, ok := s.names[name]; ok {
			return int(v.self)
		}
		i := len(order)
		s.names[name] = nameSets{self: SetID(i)}
		order = append(order, name)
		own, ownSub = own[:len(own)+w], ownSub[:len(ownSub)+w]
		return i
	}
	for li, l := range lists {
		for _, name := range l.Set.Names {
			Bits(own[index(name)*w:]).Add(li)
		}
		for _, name := range l.Set.Wildcards {
			Bits(ownSub[index(name)*w:]).Add(li)
		}
	}
	// Parents have fewer labels, so visiting names by label count (a counting sort) resolves every parent
	// before its children.
	var byDots [128][]int32
	for i, name := range order {
		d := min(strings.Count(name, "."), len(byDots)-1)
		byDots[d] = append(byDots[d], int32(i))
	}
	pos := make([]int32, 0, len(order))
	for _, b := range byDots {
		pos = append(pos, b...)
	}
	self, sub := NewBits(len(lists)), NewBits(len(lists))
	for _, p := range pos {
		name := order[p]
		i := int(p) * w
		copy(sub, ownSub[i:i+w])
		for parent := name; ; {
			j := strings.IndexByte(parent, '.')
			if j < 0 {
				break
			}
			parent = parent[j+1:]
			if v, ok := s.names[parent]; ok {
				sub.Or(in.set(v.sub))
				break
			}
		}
		copy(self, own[i:i+w])
		self.Or(sub)
		s.names[name] = nameSets{self: in.id(self), sub: in.id(sub)}
	}
}
