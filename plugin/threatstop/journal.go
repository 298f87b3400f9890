package threatstop

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/rpz"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// DefaultJournal is how many versions of the policies the journal keeps for IXFR, and DefaultJournalBytes
// the memory it may hold beyond the current version: old snapshot parts and computed differences.
const (
	DefaultJournal      = 16
	DefaultJournalBytes = 256 << 20
)

// journal keeps the last versions of the state (snapshot and serials), so that an IXFR from a serial a
// secondary still holds gets only the difference (RFC 1995). A refresh records a pointer and computes
// nothing, whatever the number of policies. The difference of one policy between two serials is derived
// from the differences of the lists it uses (policy.ChangedRegion: the prefixes and names they gained or
// lost), computed when a secondary first asks for it, and kept until that version leaves the journal: the
// zone is rendered from both snapshots only inside that region, and the records compared by 128-bit hashes
// of their wire form (a 100-entry change of a 1M-entry zone: 0.18 s instead of 1.7 s for the whole zones,
// BenchmarkIXFRDiff). An old version costs the parts of its snapshot that later ones do not share: a feed
// refresh replaces one part (IPv4, IPv6 or names).
//
// Both bounds hold: at most `versions` versions, and at most maxBytes for what the old versions hold that
// the current one does not share (their snapshots and choices by score) plus the differences computed so
// far; the oldest versions go first.
type journal struct {
	mu       sync.Mutex
	versions int
	maxBytes int
	states   []*state.State // oldest first; the last is the current one
	old      []int          // per state, what it holds that the next one does not share; 0 for the current one
	diffs    map[diffKey]*ixfrDiff
	bytes    int // of the old versions' unshared parts and the computed diffs, as of the last trim
}

type diffKey struct {
	policy   string // by name: an index moves when a policy before it is removed
	from, to uint32
}

// ixfrDiff is the difference of one policy's zone between two serials, computed once.
type ixfrDiff struct {
	once     sync.Once
	del, add []dns.RR
	bytes    atomic.Int64
}

func (j *journal) add(st *state.State) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n := len(j.states); n > 0 {
		// Versions are immutable: what one holds beyond its successor is counted once, here.
		j.old[n-1] = unshared(j.states[n-1], st)
	}
	j.states = append(j.states, st)
	j.old = append(j.old, 0)
	j.trim()
}

// unshared is what prev holds that next does not share: of its snapshot, and of its choices by score
// (the views of policies with min_score or max_entries), each compared with next's view of the same
// policy. An allow list a view shares with its snapshot counts twice: the bound errs on the safe side.
func unshared(prev, next *state.State) int {
	n := prev.Snap.Unshared(next.Snap)
	if len(prev.Views) == 0 {
		return n
	}
	kept := make(map[*snapshot.Snapshot]bool, len(next.Views))
	for _, v := range next.Views {
		if v != nil {
			kept[v] = true
		}
	}
	for i, v := range prev.Views {
		if v == nil || kept[v] {
			continue
		}
		kept[v] = true // counted once however many policies share it
		var o *snapshot.Snapshot
		if i < len(next.Views) {
			o = next.Views[i]
		}
		n += v.Unshared(o)
	}
	return n
}

// trim drops the oldest versions until both bounds hold; the current version always stays.
func (j *journal) trim() {
	n := max(len(j.states)-max(j.versions, 1), 0)
	// A part or entry set that a version shares with none of its successors is shared with no later
	// one either, so the old values add up.
	total := 0
	for _, b := range j.old[n:] {
		total += b
	}
	diffs := 0
	for _, d := range j.diffs {
		diffs += int(d.bytes.Load())
	}
	for j.maxBytes > 0 && n < len(j.states)-1 && total+diffs > j.maxBytes {
		total -= j.old[n]
		n++
	}
	if n > 0 {
		j.states = slices.Delete(j.states, 0, n)
		j.old = slices.Delete(j.old, 0, n)
		j.diffs, diffs = nil, 0 // keyed by serials that may have left; recomputed on demand
	}
	j.bytes = total + diffs
	journalVersions.Set(float64(len(j.states)))
	journalBytes.Set(float64(j.bytes))
}

// computed accounts for a difference that compute filled, and trims the journal if it is now over its
// byte bound.
func (j *journal) computed() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.states) > 0 {
		j.trim()
	}
}

// find returns the newest version in which policy p of block b had serial, the policy as that version
// held it, and the diff slot from it to the current serial; nil when the journal no longer holds that
// serial. A version from before a reload holds the policy of the same name in the block of the same
// key.
func (j *journal) find(b *state.Block, p *state.Policy, serial, current uint32) (*state.State, *state.Policy, *ixfrDiff) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for k := len(j.states) - 1; k >= 0; k-- {
		st := j.states[k]
		op := policyIn(st, b, p.Name)
		if op == nil || st.Serial(op) != serial {
			continue
		}
		key := diffKey{p.Name, serial, current}
		if j.diffs == nil {
			j.diffs = map[diffKey]*ixfrDiff{}
		}
		d := j.diffs[key]
		if d == nil {
			d = &ixfrDiff{}
			j.diffs[key] = d
		}
		return st, op, d
	}
	return nil, nil, nil
}

// policyIn returns the policy called name of block b as State st holds it: b's own when st is of b's
// Store, else that of the block with b's key (a State from before a reload); nil when none.
func policyIn(st *state.State, b *state.Block, name string) *state.Policy {
	if b.Index < len(st.Blocks) && st.Blocks[b.Index] == b {
		return b.Policy(name)
	}
	for _, ob := range st.Blocks {
		if ob.Key == b.Key {
			return ob.Policy(name)
		}
	}
	return nil
}

// handoffs keeps the journal of each block, by key, so that the block of the next configuration (a
// reload) takes over its versions: a secondary then gets an IXFR across the reload, not a new copy of
// the zone.
var handoffs = struct {
	sync.Mutex
	m map[string]*journal
}{m: map[string]*journal{}}

// takeOver makes j hold the versions of the journal that served key before, and j the one that serves
// it now. It runs in OnStartup, before j records the first version of its own.
func (j *journal) takeOver(key string) {
	handoffs.Lock()
	prev := handoffs.m[key]
	handoffs.m[key] = j
	handoffs.Unlock()
	if prev == nil || prev == j {
		return
	}
	prev.mu.Lock()
	states, old := slices.Clone(prev.states), slices.Clone(prev.old)
	prev.mu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.states, j.old = states, old
}

// release forgets j as the journal of key, unless another has taken over (a removed block's versions
// must not stay in memory).
func (j *journal) release(key string) {
	handoffs.Lock()
	defer handoffs.Unlock()
	if handoffs.m[key] == j {
		delete(handoffs.m, key)
	}
}

// computeAcross fills the difference from policy pa's zone in snapshot a to pb's in snapshot b, where
// a is from before a reload: the list IDs and the definition may differ, so both zones are rendered
// whole and compared by the hashes of their records.
func (d *ixfrDiff) computeAcross(pa *policy.Policy, a *snapshot.Snapshot, pb *policy.Policy, b *snapshot.Snapshot, apex string, ttl uint32) {
	d.once.Do(func() {
		all := policy.Families{V4: true, V6: true, Names: true}
		ha, hb := zoneHashes(pa, a, all, nil, apex, ttl), zoneHashes(pb, b, all, nil, apex, ttl)
		d.fill(pick(pa, a, all, nil, apex, ttl, minus(ha, hb)), pick(pb, b, all, nil, apex, ttl, minus(hb, ha)))
	})
}

func (d *ixfrDiff) fill(del, add []dns.RR) {
	d.del, d.add = del, add
	n := 0
	for _, rrs := range [][]dns.RR{d.del, d.add} {
		for _, rr := range rrs {
			n += dns.Len(rr) + 64 // wire size, about what the record's fields and strings take
		}
	}
	d.bytes.Store(int64(n))
}

// compute fills the difference of p's zone at apex from snapshot a to snapshot b.
func (d *ixfrDiff) compute(p *policy.Policy, a, b *snapshot.Snapshot, apex string, ttl uint32) {
	d.once.Do(func() {
		// Only the kinds of entries whose part of the snapshot changed can differ.
		v4, v6, names := a.SameParts(b)
		f := policy.Families{V4: !v4, V6: !v6, Names: !names}
		// Only the region around what the policy's lists gained or lost can differ: render just that.
		region := p.ChangedRegion(a, b)
		if region.Empty() {
			return
		}
		keep := region.Holds
		ha, hb := zoneHashes(p, a, f, keep, apex, ttl), zoneHashes(p, b, f, keep, apex, ttl)
		d.fill(pick(p, a, f, keep, apex, ttl, minus(ha, hb)), pick(p, b, f, keep, apex, ttl, minus(hb, ha)))
	})
}

type rrHash [2]uint64

var hashSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func cmpHash(a, b rrHash) int {
	if c := cmp.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return cmp.Compare(a[1], b[1])
}

// hashRR hashes the record's wire form (owner uncompressed, lowercase as the zone renders it).
func hashRR(rr dns.RR, buf *[]byte) rrHash {
	b := *buf
	n, err := dns.PackRR(rr, b, 0, nil, false)
	if err != nil {
		b = make([]byte, dns.Len(rr)+256)
		*buf = b
		n, _ = dns.PackRR(rr, b, 0, nil, false)
	}
	return rrHash{maphash.Bytes(hashSeeds[0], b[:n]), maphash.Bytes(hashSeeds[1], b[:n])}
}

// zoneHashes renders p's zone from s and returns the sorted hashes of its records.
func zoneHashes(p *policy.Policy, s *snapshot.Snapshot, f policy.Families, keep func(policy.Entry) bool, apex string, ttl uint32) []rrHash {
	var out []rrHash
	buf := make([]byte, 512)
	rpz.ZoneWhere(p, s, f, keep, apex, ttl, func(rrs []dns.RR) bool {
		for _, rr := range rrs {
			out = append(out, hashRR(rr, &buf))
		}
		return true
	})
	slices.SortFunc(out, cmpHash)
	return out
}

// minus returns the hashes of a that b lacks; both sorted.
func minus(a, b []rrHash) []rrHash {
	var out []rrHash
	j := 0
	for _, h := range a {
		for j < len(b) && cmpHash(b[j], h) < 0 {
			j++
		}
		if j == len(b) || b[j] != h {
			out = append(out, h)
		}
	}
	return out
}

// pick renders p's zone from s again and keeps the records whose hashes are in want (sorted).
func pick(p *policy.Policy, s *snapshot.Snapshot, f policy.Families, keep func(policy.Entry) bool, apex string, ttl uint32, want []rrHash) []dns.RR {
	if len(want) == 0 {
		return nil
	}
	var out []dns.RR
	buf := make([]byte, 512)
	rpz.ZoneWhere(p, s, f, keep, apex, ttl, func(rrs []dns.RR) bool {
		for _, rr := range rrs {
			if _, ok := slices.BinarySearchFunc(want, hashRR(rr, &buf), cmpHash); ok {
				out = append(out, rr)
			}
		}
		return len(out) < len(want)
	})
	return out
}
