package policy

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/cidr"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// Region is where a policy's content can differ between two snapshots, derived from the differences of
// the lists it uses: the address space of every prefix that one of them gained or lost, and every name
// gained or lost (exact or wildcard) with all the names under it. What Content yields outside the region
// is the same in both snapshots, because an entry's place in the content (its Hit, whether an allow entry
// carves it out, whether it is carved out) depends only on the entries at or around it: prefixes that
// contain it and names above it. So the difference of two zones is the difference of their regions.
//
// Cost: linear merges of the changed lists' two versions; nothing for lists that did not change.
type Region struct {
	v4, v6 []span128 // merged, ascending
	names  map[string]bool
}

type span128 struct{ lo, hi cidr.U128 }

// ChangedRegion is the region of p between snapshots a and b (over the same lists).
func (p *Policy) ChangedRegion(a, b *snapshot.Snapshot) *Region {
	r := &Region{names: map[string]bool{}}
	n := min(len(a.Lists), len(b.Lists))
	for i := range max(len(a.Lists), len(b.Lists)) {
		if !p.Uses(i) {
			continue
		}
		var x, y *entryset.Set
		if i < n {
			x, y = a.Entries(i), b.Entries(i)
		} else if i < len(a.Lists) {
			x = a.Entries(i)
		} else {
			y = b.Entries(i)
		}
		if x == y {
			continue
		}
		if x == nil {
			x = &entryset.Set{}
		}
		if y == nil {
			y = &entryset.Set{}
		}
		symdiff(len(x.V4), len(y.V4), sliceAt(x.V4), sliceAt(y.V4), cmp.Compare[uint64], func(v uint64) { r.v4 = append(r.v4, spanOf(entryset.UnpackV4(v))) })
		symdiff(len(x.V6), len(y.V6), sliceAt(x.V6), sliceAt(y.V6), entryset.V6.Compare, func(v entryset.V6) { r.v6 = append(r.v6, spanOf(v.Prefix())) })
		for _, names := range [2][2]entryset.Names{{x.Names, y.Names}, {x.Wildcards, y.Wildcards}} {
			symdiff(names[0].Len(), names[1].Len(), names[0].At, names[1].At, strings.Compare, func(s string) { r.names[s] = true })
		}
	}
	r.v4, r.v6 = merge(r.v4), merge(r.v6)
	return r
}

// Empty reports whether nothing can differ.
func (r *Region) Empty() bool { return len(r.v4) == 0 && len(r.v6) == 0 && len(r.names) == 0 }

// Holds reports whether e lies in the region: a prefix overlapping a changed one, a name at or under a
// changed one.
func (r *Region) Holds(e Entry) bool {
	if e.Prefix.IsValid() {
		spans := r.v6
		if e.Prefix.Addr().Is4() {
			spans = r.v4
		}
		s := spanOf(e.Prefix)
		i, _ := slices.BinarySearchFunc(spans, s.lo, func(x span128, lo cidr.U128) int {
			if x.hi.Less(lo) {
				return -1
			}
			return 1
		})
		return i < len(spans) && !s.hi.Less(spans[i].lo)
	}
	for name := e.Name; ; {
		if r.names[name] {
			return true
		}
		j := strings.IndexByte(name, '.')
		if j < 0 {
			return false
		}
		name = name[j+1:]
	}
}

func spanOf(p netip.Prefix) span128 {
	p = p.Masked()
	return span128{cidr.FromAddr(p.Addr()), cidr.FromAddr(cidr.Last(p))}
}

// merge sorts spans and joins the overlapping ones.
func merge(s []span128) []span128 {
	slices.SortFunc(s, func(a, b span128) int {
		switch {
		case a.lo.Less(b.lo):
			return -1
		case b.lo.Less(a.lo):
			return 1
		}
		return 0
	})
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && !out[n-1].hi.Less(x.lo) {
			if out[n-1].hi.Less(x.hi) {
				out[n-1].hi = x.hi
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// symdiff calls fn with every element of exactly one of the sorted, unique a and b.
func symdiff[T any](na, nb int, a, b func(int) T, cmp func(T, T) int, fn func(T)) {
	i, j := 0, 0
	for i < na && j < nb {
		switch c := cmp(a(i), b(j)); {
		case c < 0:
			fn(a(i))
			i++
		case c > 0:
			fn(b(j))
			j++
		default:
			i, j = i+1, j+1
		}
	}
	for ; i < na; i++ {
		fn(a(i))
	}
	for ; j < nb; j++ {
		fn(b(j))
	}
}

func sliceAt[T any](s []T) func(int) T { return func(i int) T { return s[i] } }
