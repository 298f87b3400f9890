package threatstop

import (
	"net/netip"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// The journal holds the last `versions` states: a serial older than those is not found (the IXFR then
// gets the whole zone), and the newest state with a serial is the one used.
func TestJournalBounds(t *testing.T) {
	j := journal{versions: 3}
	for serial := uint32(1); serial <= 5; serial++ {
		j.add(&state{serials: []uint32{serial, 100}})
	}
	for serial, want := range map[uint32]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
		st, d := j.find(0, serial, 5)
		if (st != nil) != want || (st != nil) != (d != nil) {
			t.Errorf("serial %d: found %v, want %v", serial, st != nil, want)
		}
		if st != nil && st.serials[0] != serial {
			t.Errorf("serial %d: found the state of serial %d", serial, st.serials[0])
		}
	}
	// Policy 1 kept serial 100 in every version: the newest of them.
	if st, _ := j.find(1, 100, 100); st == nil || st.serials[0] != 5 {
		t.Errorf("serial 100 of policy 1: %v, want the newest state", st)
	}
	// The same difference slot for the same question, computed once.
	_, d1 := j.find(0, 3, 5)
	_, d2 := j.find(0, 3, 5)
	if d1 != d2 {
		t.Error("two slots for the same difference")
	}
}

// The byte bound drops the oldest versions once what they hold beyond the current one passes it; the
// current version always stays, and a version that shares everything costs nothing.
func TestJournalByteBound(t *testing.T) {
	version := func(k int) *snapshot.Snapshot {
		b := &entryset.Builder{}
		for i := range 1000 {
			b.AddPrefix(netip.PrefixFrom(netip.AddrFrom4([4]byte{45, byte(k), byte(i >> 8), byte(i)}), 32))
		}
		return snapshot.Build([]snapshot.List{{Name: "l", Category: "c", Set: b.Set(), Version: uint64(k)}}, nil)
	}
	one := version(0).Unshared(nil)
	if one < 8000 {
		t.Fatalf("a snapshot of 1000 IPv4 prefixes holds %d bytes, less than its entries alone", one)
	}
	j := journal{versions: 16, maxBytes: 3 * one}
	for k := range 10 {
		j.add(&state{snap: version(k), serials: []uint32{uint32(k + 1)}})
	}
	if n := len(j.states); n != 4 {
		t.Errorf("%d versions under a bound of three versions' bytes, want 4 (the current one is free)", n)
	}
	if j.bytes > j.maxBytes || j.bytes < 2*one {
		t.Errorf("journal holds %d bytes, bound %d, one version %d", j.bytes, j.maxBytes, one)
	}
	if st, _ := j.find(0, 10, 10); st == nil {
		t.Error("the current version left the journal")
	}
	// The same snapshot again and again: nothing unshared, every version stays up to the count.
	j = journal{versions: 8, maxBytes: one / 2}
	s := version(1)
	for k := range 10 {
		j.add(&state{snap: s, serials: []uint32{uint32(k + 1)}})
	}
	if len(j.states) != 8 || j.bytes != 0 {
		t.Errorf("shared versions: %d kept, %d bytes; want 8 and 0", len(j.states), j.bytes)
	}
}
