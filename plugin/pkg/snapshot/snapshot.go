// Package snapshot compiles the feeds into one immutable structure that every answer is derived from: a
// range map of the IPv4 and IPv6 address space (package rangemap) and a hash table of all domain names
// (nameTable, which refers to the names in the feeds' own entry sets instead of copying them), each
// range and name carrying the ID of the set of lists that hold it or cover it. Sets are interned, so a
// million entries held by the same few lists share a handful of sets, and a policy is only a mask over
// lists: 1,000 policies add no per-entry memory.
//
// A lookup is an index probe and a short binary search (for a name, up to one table probe per label)
// and needs no lock: a Snapshot is never modified after Build, and holders swap whole snapshots with
// atomic.Pointer. Both parts are flat and pointer-free, about 16 bytes per prefix and 16 per name, and
// cost the garbage collector next to nothing; see BenchmarkBuild (bytes per entry) and BenchmarkLookup*.
package snapshot

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
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
	Severity string // the operator's grade of what the list holds (low ... critical), for explanations
	// Confidence (0 to 100) is how much one entry of the list vouches for the indicator, for entries
	// without one of their own (Set.Conf). 0: the list adds nothing to scores.
	Confidence uint8
}

// ListInfo describes a list as compiled; its index in Snapshot.Lists is its list ID.
type ListInfo struct {
	Name       string
	Category   string
	Version    uint64
	Withheld   bool
	Entries    int
	Confidence uint8
	Severity   string
}

// Snapshot is the compiled, immutable union of all lists.
type Snapshot struct {
	Lists []ListInfo
	Built time.Time

	words  int           // words per set
	sets   []uint64      // interned sets of all parts, words each; set 0 is empty
	v4, v6 *rangemap.Map // address → part-local set, covering prefixes resolved
	names  *nameTable
	parts  [numParts]*part
	bases  [numParts]SetID // added to a part's non-empty local set IDs
	input  []*entryset.Set // per list, what it was built from: explains a match (Entry*)
}

// The parts of a snapshot are built independently, and the next snapshot takes over each part whose
// entries did not change: a refresh of an IPv4 feed rebuilds only the IPv4 range map.
const (
	partV4 = iota
	partV6
	partNames
	numParts
)

// part is one part, with what it was built from and the sets it interned.
type part struct {
	inputs []input   // per list, the entries this part read
	sets   []uint64  // local set table, set 0 empty
	scores [][]uint8 // per source (a list's V4 or V6, or its Names then Wildcards), per entry: its score; nil unscored
	flat   []uint8   // per source, the one score of all its entries, where scores is nil (scorer.flat)
	v      *rangemap.Map
	names  *nameTable
	count  int // prefixes or names
}

// input identifies the entries of one list that a part reads; entry sets are immutable, so the same
// backing arrays mean the same entries.
type input struct {
	a, b unsafe.Pointer
	n, m int
	conf unsafe.Pointer // the entries' own confidences
	def  uint8          // the list's
}

func inputsOf(lists []List, k int) []input {
	in := make([]input, len(lists))
	for i, l := range lists {
		switch k {
		case partV4:
			in[i] = input{a: unsafe.Pointer(unsafe.SliceData(l.Set.V4)), n: len(l.Set.V4)}
		case partV6:
			in[i] = input{a: unsafe.Pointer(unsafe.SliceData(l.Set.V6)), n: len(l.Set.V6)}
		default:
			in[i] = input{a: unsafe.Pointer(l.Set.Names.Data()), b: unsafe.Pointer(l.Set.Wildcards.Data()), n: l.Set.Names.Len(), m: l.Set.Wildcards.Len()}
		}
		if in[i].n == 0 {
			in[i].a = nil
		}
		if in[i].m == 0 {
			in[i].b = nil
		}
		in[i].conf, in[i].def = unsafe.Pointer(unsafe.SliceData(l.Set.Conf)), l.Confidence
	}
	return in
}

// nameSets holds the lists that match a name itself and those that match its strict subdomains, both
// including what the name inherits from listed parents.
type nameSets struct{ self, sub SetID }

// Build compiles lists into a snapshot; list IDs are the indices into lists. A list with a nil Set (a
// feed that has not loaded yet) is empty. When prev is not nil (the snapshot being served, over the same
// lists), the parts whose entries are the same as prev's are taken over instead of being built again.
func Build(lists []List, prev *Snapshot) *Snapshot {
	s := &Snapshot{Lists: make([]ListInfo, len(lists)), Built: time.Now(), words: Words(len(lists))}
	lists = slices.Clone(lists)
	for i, l := range lists {
		if l.Set == nil {
			lists[i].Set = &entryset.Set{}
		}
		s.Lists[i] = ListInfo{Name: l.Name, Category: l.Category, Version: l.Version, Withheld: l.Withheld, Entries: lists[i].Set.Len(), Confidence: l.Confidence, Severity: l.Severity}
	}
	s.input = make([]*entryset.Set, len(lists))
	for i := range lists {
		s.input[i] = lists[i].Set
	}
	if prev != nil && prev.words != s.words {
		prev = nil
	}
	// The parts are independent: build the ones that changed at once, each with its own interner.
	var wg sync.WaitGroup
	for k := range numParts {
		inputs := inputsOf(lists, k)
		if prev != nil && slices.Equal(prev.parts[k].inputs, inputs) {
			s.parts[k] = prev.parts[k]
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &part{inputs: inputs}
			in := newInterner(s.words)
			sc := newScorer(lists, k)
			if flat := sc.flat(); flat != nil {
				p.flat, sc = flat, nil // one score per source: nothing to compute per entry
			}
			switch k {
			case partV4:
				p.v, p.count = buildV4(lists, in, sc)
			case partV6:
				p.v, p.count = buildV6(lists, in, sc)
			default:
				p.names = buildNames(lists, in, s.words, sc)
				p.count = p.names.count
			}
			if sc != nil {
				p.scores = sc.out
			}
			p.sets = slices.Clip(in.sets)
			s.parts[k] = p
		}()
	}
	wg.Wait()
	s.v4, s.v6, s.names = s.parts[partV4].v, s.parts[partV6].v, s.parts[partNames].names
	s.sets = make([]uint64, s.words)
	for k, p := range s.parts {
		s.bases[k] = SetID(len(s.sets)/s.words - 1)
		s.sets = append(s.sets, p.sets[s.words:]...)
	}
	return s
}

// global turns a part-local set ID into a snapshot set ID.
func (s *Snapshot) global(k int, id uint32) SetID {
	if id == 0 {
		return 0
	}
	return SetID(id) + s.bases[k]
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
func (s *Snapshot) Prefixes() int { return s.parts[partV4].count + s.parts[partV6].count }

// Names is the number of distinct names.
func (s *Snapshot) Names() int { return s.names.count }

// LookupAddr returns the lists that hold a prefix containing a. An IPv4-mapped IPv6 address is looked
// up as IPv4.
func (s *Snapshot) LookupAddr(a netip.Addr) SetID {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return s.global(partV4, s.v4.Lookup4(binary.BigEndian.Uint32(b[:])))
	}
	b := a.As16()
	return s.global(partV6, s.v6.Lookup6(cidr.U128{Hi: binary.BigEndian.Uint64(b[:8]), Lo: binary.BigEndian.Uint64(b[8:])}))
}

// LookupName returns the lists that hold name (normalised, no trailing dot) exactly or hold one of its
// parents together with its subdomains.
func (s *Snapshot) LookupName(name string) SetID {
	if v, ok := s.names.lookup(name); ok {
		return s.nameSet(v.self)
	}
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return 0
		}
		name = name[i+1:]
		if v, ok := s.names.lookup(name); ok {
			return s.nameSet(v.sub)
		}
	}
}

// Entries returns the entries list id was built from (an empty set for a list that had none), sorted, for
// enumerating a list as a whole (an RPZ zone, a firewall table). The result must not be modified.
func (s *Snapshot) Entries(id int) *entryset.Set { return s.input[id] }

// SameParts reports, per kind of entry, whether o holds the same entries as s: a rebuild takes over the
// parts whose lists did not change, so a refresh of an IPv4 feed leaves IPv6 and names the same.
func (s *Snapshot) SameParts(o *Snapshot) (v4, v6, names bool) {
	return s.parts[partV4] == o.parts[partV4], s.parts[partV6] == o.parts[partV6], s.parts[partNames] == o.parts[partNames]
}

// EntryAddr returns the most specific entry of list id that contains a, to explain a match.
func (s *Snapshot) EntryAddr(id int, a netip.Addr) (netip.Prefix, bool) {
	return s.input[id].MatchAddr(a)
}

// EntryName returns the entry of list id that lists name: name itself or "*.parent".
func (s *Snapshot) EntryName(id int, name string) (string, bool) {
	return s.input[id].MatchName(name)
}

func (s *Snapshot) nameSet(id SetID) SetID { return s.global(partNames, uint32(id)) }

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
// order, with the set of lists that hold it. It merges in place: no copy of the entries is made. With a
// scorer it also scores each key from the lists that hold it, and records the score at each of them.
func merge[K any](lists []List, keys func(*entryset.Set) []K, cmp func(K, K) int, own Bits, sc *scorer, fn func(K, Bits)) {
	type head struct {
		keys []K
		list int
		n    int // len(keys) at the start: n-len(keys) is the position of keys[0]
	}
	var heads []head
	for i, l := range lists {
		if k := keys(l.Set); len(k) > 0 {
			heads = append(heads, head{k, i, len(k)})
		}
	}
	var at []int32 // the heads' sources and positions at the current key, in pairs
	for len(heads) > 0 {
		least := heads[0].keys[0]
		for _, h := range heads[1:] {
			if cmp(h.keys[0], least) < 0 {
				least = h.keys[0]
			}
		}
		clear(own)
		at = at[:0]
		keep := float32(1)
		live := heads[:0]
		for _, h := range heads {
			if cmp(h.keys[0], least) == 0 {
				own.Add(h.list)
				if sc != nil {
					pos := h.n - len(h.keys)
					keep *= sc.keep(h.list, pos)
					at = append(at, int32(h.list), int32(pos))
				}
				h.keys = h.keys[1:]
			}
			if len(h.keys) > 0 {
				live = append(live, h)
			}
		}
		heads = live
		fn(least, own)
		if sc != nil {
			score := scoreOf(keep)
			for i := 0; i < len(at); i += 2 {
				sc.out[at[i]][at[i+1]] = score
			}
		}
	}
}

// buildV4 merges the lists' IPv4 prefixes in address order, where every prefix comes before the prefixes
// it covers, and sweeps them into a range map. A stack of the prefixes that contain the current address
// gives each prefix the lists of all prefixes that cover it: entering a prefix sets the range to its
// lists and theirs, leaving it gives the range back to the prefix around it.
func buildV4(lists []List, in *interner, sc *scorer) (*rangemap.Map, int) {
	n := 0
	for _, l := range lists {
		n += len(l.Set.V4)
	}
	type open struct {
		end uint64 // last address, as uint64 so that end+1 never overflows
		id  SetID
	}
	var stack []open
	count := 0
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
				b.Set(cidr.U128{Lo: end + 1}, uint32(outer))
			}
		}
	}
	merge(lists, func(e *entryset.Set) []uint64 { return e.V4 }, cmpU64, NewBits(len(lists)), sc, func(key uint64, own Bits) {
		addr, bits := uint32(key>>8), int(key&0xff)
		close(uint64(addr))
		if len(stack) > 0 {
			own.Or(in.set(stack[len(stack)-1].id))
		}
		id := in.id(own)
		b.Set(cidr.U128{Lo: uint64(addr)}, uint32(id))
		stack = append(stack, open{uint64(addr) | (1<<(32-bits) - 1), id})
		count++
	})
	close(1 << 33)
	return b.Map(), count
}

// buildV6 is buildV4 for IPv6.
func buildV6(lists []List, in *interner, sc *scorer) (*rangemap.Map, int) {
	n := 0
	for _, l := range lists {
		n += len(l.Set.V6)
	}
	type open struct {
		end cidr.U128
		id  SetID
	}
	var stack []open
	count := 0
	b := rangemap.NewBuilder(128, 2*n)
	close := func(upTo cidr.U128, all bool) { // leave every open prefix that ends before upTo
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
	merge(lists, func(e *entryset.Set) []entryset.V6 { return e.V6 }, entryset.V6.Compare, NewBits(len(lists)), sc, func(key entryset.V6, own Bits) {
		start := cidr.U128{Hi: key.Hi, Lo: key.Lo}
		close(start, false)
		if len(stack) > 0 {
			own.Or(in.set(stack[len(stack)-1].id))
		}
		id := in.id(own)
		b.Set(start, uint32(id))
		stack = append(stack, open{last6(key), id})
		count++
	})
	close(cidr.U128{}, true)
	return b.Map(), count
}

// last6 is the last address of an IPv6 prefix.
func last6(p entryset.V6) cidr.U128 {
	switch {
	case p.Bits == 0:
		return cidr.U128{Hi: ^uint64(0), Lo: ^uint64(0)}
	case p.Bits <= 64:
		return cidr.U128{Hi: p.Hi | ^uint64(0)>>p.Bits, Lo: ^uint64(0)}
	case p.Bits == 128:
		return cidr.U128{Hi: p.Hi, Lo: p.Lo}
	default:
		return cidr.U128{Hi: p.Hi, Lo: p.Lo | ^uint64(0)>>(p.Bits-64)}
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

// Unshared is about how many bytes s holds that o does not share with it: the parts (range maps, name
// maps, set tables) and list entry sets that are not the same in both. It is what keeping s costs while o
// is kept anyway, as the IXFR journal does with old versions.
func (s *Snapshot) Unshared(o *Snapshot) int {
	if s == nil || s == o {
		return 0
	}
	n := 0
	for k, p := range s.parts {
		if o != nil && o.parts[k] == p {
			continue
		}
		n += 8 * len(p.sets)
		switch {
		case p.v != nil:
			n += p.v.Bytes()
		default:
			n += p.names.bytes() // the names themselves are the entry sets', counted below
		}
	}
	for i, in := range s.input {
		if o != nil && i < len(o.input) && o.input[i] == in {
			continue
		}
		n += 8*len(in.V4) + 24*len(in.V6) + in.Names.Bytes() + in.Wildcards.Bytes()
	}
	return n
}
