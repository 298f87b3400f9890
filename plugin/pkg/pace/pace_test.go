package pace

import (
	"cmp"
	"math/rand/v2"
	"runtime"
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

// TestSortFuncShapes sorts inputs that defeat naive pivots (sorted, reversed, all equal, organ pipe,
// few values) and the heapsort fallback on its own.
func TestSortFuncShapes(t *testing.T) {
	const n = 50_000
	shapes := map[string]func(i int) uint64{
		"sorted":   func(i int) uint64 { return uint64(i) },
		"reversed": func(i int) uint64 { return uint64(n - i) },
		"equal":    func(int) uint64 { return 7 },
		"pipe":     func(i int) uint64 { return uint64(min(i, n-i)) },
		"two":      func(i int) uint64 { return uint64(i % 2) },
		"sawtooth": func(i int) uint64 { return uint64(i % 1000) },
	}
	for name, f := range shapes {
		s := make([]uint64, n)
		for i := range s {
			s[i] = f(i)
		}
		want := slices.Clone(s)
		slices.Sort(want)
		var p Pacer
		SortFunc(&p, s, cmp.Compare[uint64])
		if !slices.Equal(s, want) {
			t.Errorf("%s: not sorted", name)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	s := make([]uint64, 10_001)
	for i := range s {
		s[i] = r.Uint64N(5000)
	}
	want := slices.Clone(s)
	slices.Sort(want)
	var p Pacer
	heapsort(&p, s, cmp.Compare[uint64])
	if !slices.Equal(s, want) {
		t.Error("heapsort: not sorted")
	}
}

// TestSortFuncInPlace: sorting a million entries allocates nothing.
func TestSortFuncInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := make([]uint64, 1_000_000)
	for i := range s {
		s[i] = r.Uint64()
	}
	var p Pacer
	if a := testing.AllocsPerRun(1, func() { SortFunc(&p, s, cmp.Compare[uint64]) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
	if !slices.IsSorted(s) {
		t.Error("not sorted")
	}
}

// work runs a ticking loop for d and counts its parks.
func work(d time.Duration) int {
	var p Pacer
	before := parks.Load()
	for start := time.Now(); time.Since(start) < d; {
		p.Tick()
	}
	return int(parks.Load() - before)
}

// TestTickParksForQueries: on one core, with queries that can run only while the loop is parked, the
// loop parks once per Slice of work; with no query it parks rarely (slices grow to MaxSlice); with
// queries answered on another core meanwhile, it never parks.
func TestTickParksForQueries(t *testing.T) {
	Start()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a query stream: on one P it runs only while the loop sleeps
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				Served()
				runtime.Gosched()
			}
		}
	}()
	busy := work(40 * time.Millisecond)
	close(stop)
	<-done
	idle := work(40 * time.Millisecond)
	t.Logf("parks in 40 ms: %d with queries waiting, %d idle", busy, idle)
	if busy < 15 {
		t.Errorf("%d parks in 40 ms of work with queries waiting, want one per %s", busy, Slice)
	}
	if idle >= busy/2 || idle < 3 {
		t.Errorf("%d parks in 40 ms of idle work (%d with queries), want a few: slices grow to %s", idle, busy, MaxSlice)
	}
}

// TestTickYieldsNotWhenServedElsewhere: queries answered while the loop works (here by the loop itself,
// standing for another core) mean nobody waits for this core: no park.
func TestTickYieldsNotWhenServedElsewhere(t *testing.T) {
	Start()
	multi.Store(true) // as on a server with more cores
	var p Pacer
	before := parks.Load()
	for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
		Served()
		p.Tick()
	}
	if n := parks.Load() - before; n != 0 {
		t.Errorf("%d parks while queries were answered meanwhile, want none", n)
	}
}

// TestCompact compares Compact and Copy with their slices and builtin twins on sorted data with runs.
func TestCompact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 1000, 100_000} {
		s := make([]uint64, n)
		for i := range s {
			s[i] = r.Uint64N(uint64(n/3 + 1))
		}
		slices.Sort(s)
		want := slices.Compact(slices.Clone(s))
		var p Pacer
		if got := Compact(&p, slices.Clone(s)); !slices.Equal(got, want) {
			t.Errorf("n=%d: Compact gives %d elements, want %d", n, len(got), len(want))
		}
		dst := make([]uint64, n)
		if k := Copy(&p, dst, s); k != n || !slices.Equal(dst, s) {
			t.Errorf("n=%d: Copy copied %d", n, k)
		}
	}
}
