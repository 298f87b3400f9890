package pace

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSortFunc(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5, run, run + 1, 3*run + 7, 100_000} {
		s := make([]uint64, n)
		for i := range s {
			s[i] = r.Uint64N(uint64(n/2 + 1)) // duplicates
		}
		want := slices.Clone(s)
		slices.Sort(want)
		var p Pacer
		SortFunc(&p, s, cmp.Compare[uint64])
		if !slices.Equal(s, want) {
			t.Fatalf("n=%d: not sorted", n)
		}
	}
}

// TestTickParks: a loop that ticks is parked at least once per slice of work.
func TestTickParks(t *testing.T) {
	Start()
	var p Pacer
	start := time.Now()
	parks := 0
	last := time.Now()
	for time.Since(start) < 20*time.Millisecond {
		p.Tick()
		if now := time.Now(); now.Sub(last) > 50*time.Microsecond {
			parks++ // a gap in the loop: it was parked
		}
		last = time.Now()
	}
	if parks < 5 {
		t.Errorf("%d parks in 20 ms of work, want one every %s", parks, Slice)
	}
}
