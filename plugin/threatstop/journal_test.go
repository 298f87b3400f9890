package threatstop

import "testing"

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
