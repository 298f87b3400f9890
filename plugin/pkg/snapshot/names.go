package snapshot

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// nameTable maps every distinct name of the lists to its sets. It holds no copy of any name: a name is a
// ref, its position in the concatenation of the lists' own sorted name arrays, which the snapshot keeps
// anyway. The table is open addressing with linear probing over 4-byte slots, each holding a ref and, in
// the bits the ref does not need, a fingerprint of the name's hash, so a probe rarely reads a name that
// does not match. Everything but srcs is pointer-free: a million names cost the garbage collector a few
// spans to mark, where a Go map of strings cost a million pointers to scan on every cycle.
//
// Cost per distinct name: 4 bytes of slot at a load of 3/8 to 3/4, and 8 bytes of sets per ref (a name
// listed by several lists leaves the refs of its other copies unused).
type nameTable struct {
	seed    maphash.Seed
	slots   []uint32         // 0: empty; else fingerprint | ref+1
	mask    uint32           // len(slots)-1
	refMask uint32           // the slot bits that hold ref+1
	srcs    []entryset.Names // the lists' Names and Wildcards, in ref order
	bases   []uint32         // ref of srcs[i][0], ascending
	sets    []nameSets       // by ref
	count   int              // distinct names
}

// name returns the name of ref.
func (t *nameTable) name(ref uint32) string {
	// The last base at or below ref: empty sources share their base with the next one.
	i, _ := slices.BinarySearch(t.bases, ref+1)
	i--
	return t.srcs[i].At(int(ref - t.bases[i]))
}

// probe returns the slot of name: the one holding it, with its ref and true, or the empty slot where it
// belongs, with the bits that slot would hold.
func (t *nameTable) probe(name string) (slot, ref uint32, ok bool) {
	h := maphash.String(t.seed, name)
	fp := uint32(h>>32) &^ t.refMask
	for i := uint32(h) & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			return i, fp, false
		}
		if s&^t.refMask == fp {
			if ref := s&t.refMask - 1; t.name(ref) == name {
				return i, ref, true
			}
		}
	}
}

// lookup returns the sets of name.
func (t *nameTable) lookup(name string) (nameSets, bool) {
	if t.count == 0 {
		return nameSets{}, false
	}
	_, ref, ok := t.probe(name)
	if !ok {
		return nameSets{}, false
	}
	return t.sets[ref], true
}

// insert adds ref for its name unless the name is there already, and returns the ref the name has.
func (t *nameTable) insert(ref uint32) uint32 {
	slot, got, ok := t.probe(t.name(ref))
	if ok {
		return got
	}
	t.slots[slot] = got | (ref + 1) // got is the fingerprint
	t.count++
	return ref
}

// bytes is the memory the table holds beyond the names themselves.
func (t *nameTable) bytes() int { return 4*len(t.slots) + 8*len(t.sets) + 44*len(t.srcs) }

// buildNames collects every name with the lists that hold it exactly (own) and with its subdomains
// (ownSub), then resolves names parents first, so that each name inherits from its nearest listed parent
// the lists that cover its subdomains.
func buildNames(lists []List, in *interner, w int, sc *scorer) *nameTable {
	t := &nameTable{seed: maphash.MakeSeed()}
	total := 0
	for _, l := range lists {
		for _, names := range [2]entryset.Names{l.Set.Names, l.Set.Wildcards} {
			t.srcs = append(t.srcs, names)
			t.bases = append(t.bases, uint32(total))
			total += names.Len()
		}
	}
	if total == 0 {
		return &nameTable{}
	}
	// Sized for every ref being distinct: a load of 3/8 to 3/4.
	size := 1 << max(4, bits.Len(uint(total+total/3)))
	t.slots, t.mask = make([]uint32, size), uint32(size-1)
	t.refMask = 1<<bits.Len32(uint32(total)) - 1
	// w words per ref, for the name's first ref only.
	own, ownSub := make([]uint64, total*w), make([]uint64, total*w)
	firsts := make([]uint32, 0, total) // the ref of each distinct name, in no particular order
	var keep []float32                 // by first ref, when scoring: Π(1 − c) of the lists that hold it
	var firstOf []uint32               // by ref, when scoring
	if sc != nil {
		keep, firstOf = make([]float32, total), make([]uint32, total)
	}
	for k, names := range t.srcs {
		li, sub := k/2, k%2 == 1
		for j := range names.Len() {
			ref := t.bases[k] + uint32(j)
			first := t.insert(ref)
			if first == ref {
				firsts = append(firsts, ref)
				if sc != nil {
					keep[ref] = 1
				}
			}
			if sc != nil {
				firstOf[ref] = first
				// A list holding the name exactly and with its subdomains vouches for it once.
				if !Bits(own[int(first)*w:]).Has(li) && !Bits(ownSub[int(first)*w:]).Has(li) {
					keep[first] *= sc.keep(k, j)
				}
			}
			if sub {
				Bits(ownSub[int(first)*w:]).Add(li)
			} else {
				Bits(own[int(first)*w:]).Add(li)
			}
		}
	}
	if sc != nil {
		for k, names := range t.srcs {
			for j := range names.Len() {
				sc.out[k][j] = scoreOf(keep[firstOf[t.bases[k]+uint32(j)]])
			}
		}
	}
	// Parents have fewer labels, so visiting names by label count (a counting sort) resolves every parent
	// before its children.
	var byDots [128][]uint32
	for _, ref := range firsts {
		d := min(strings.Count(t.name(ref), "."), len(byDots)-1)
		byDots[d] = append(byDots[d], ref)
	}
	t.sets = make([]nameSets, total)
	self, sub := NewBits(len(lists)), NewBits(len(lists))
	for _, refs := range byDots {
		for _, ref := range refs {
			name := t.name(ref)
			i := int(ref) * w
			copy(sub, ownSub[i:i+w])
			for parent := name; ; {
				j := strings.IndexByte(parent, '.')
				if j < 0 {
					break
				}
				parent = parent[j+1:]
				if v, ok := t.lookup(parent); ok {
					sub.Or(in.set(v.sub))
					break
				}
			}
			copy(self, own[i:i+w])
			self.Or(sub)
			t.sets[ref] = nameSets{self: in.id(self), sub: in.id(sub)}
		}
	}
	t.srcs, t.bases = slices.Clip(t.srcs), slices.Clip(t.bases)
	return t
}
