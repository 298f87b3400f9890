package pace

import (
	"cmp"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"
)

func TestSortFunc(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5, run, run + 1, 3*run + 7, 100_000} {
		s := make([]uint64, n)
		for i := range s {
			s[i] = r.Uint64N(uint64(n/2 + 1)) // duplicates
		}
		if !sorts(s, SortFunc[uint64]) {
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
		if !sorts(s, SortFunc[uint64]) {
			t.Errorf("%s: not sorted", name)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	s := make([]uint64, 10_001)
	for i := range s {
		s[i] = r.Uint64N(5000)
	}
	if !sorts(s, heapsort[uint64]) {
		t.Error("heapsort: not sorted")
	}
}

// sorts reports whether sort, given a fresh Pacer, leaves s as slices.Sort would.
func sorts(s []uint64, sort func(*Pacer, []uint64, func(a, b uint64) int)) bool {
	want := slices.Clone(s)
	slices.Sort(want)
	var p Pacer
	sort(&p, s, cmp.Compare[uint64])
	return slices.Equal(s, want)
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
	n, _ := workSlices(d)
	return n
}

// workSlices is work that also returns the longest slice the loop was given.
func workSlices(d time.Duration) (int, time.Duration) {
	var p Pacer
	var longest time.Duration
	before := parks.Load()
	for start := time.Now(); time.Since(start) < d; {
		p.Tick()
		longest = max(longest, p.slice)
	}
	return int(parks.Load() - before), longest
}

// TestTickParksForQueries: on one core, with queries that can run only while the loop is parked, the
// loop parks once per Slice of work; with no query it parks rarely (slices grow to MaxSlice); with
// queries answered on another core meanwhile, it never parks.
func TestTickParksForQueries(t *testing.T) {
	Start()
	busy, _ := queries(40*time.Millisecond, 0) // on one P the queries run only while the loop parks
	time.Sleep(idleAfter + idleAfter/4)        // no query for idleAfter: the server is idle
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	idle := work(40 * time.Millisecond)
	t.Logf("parks in 40 ms: %d with queries waiting, %d idle", busy, idle)
	if busy < 15 {
		t.Errorf("%d parks in 40 ms of work with queries waiting, want one per %s", busy, Slice)
	}
	if idle >= busy/2 || idle < 3 {
		t.Errorf("%d parks in 40 ms of idle work (%d with queries), want a few: slices grow to %s", idle, busy, MaxSlice)
	}
}

// queries runs workSlices for d on one P while a goroutine answers a query every gap (or back to back
// when gap is 0), from a while before the loop starts.
func queries(d, gap time.Duration) (int, time.Duration) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				Served()
				if gap > 0 {
					time.Sleep(gap)
				} else {
					runtime.Gosched()
				}
			}
		}
	}()
	time.Sleep(idleAfter / 4)
	n, longest := workSlices(d)
	close(stop)
	<-done
	return n, longest
}

// TestTickSparseQueries: with queries back to back, slices stay at Slice from the start (though on one
// core the loop sees no answer during its first slice, the server is busy); with a query every 2 ms,
// most parks find the core idle (and last the runtime's millisecond): slices grow to sparseSlice, not
// further.
func TestTickSparseQueries(t *testing.T) {
	Start()
	dense, denseSlice := queries(40*time.Millisecond, 0)
	sparse, sparseLongest := queries(40*time.Millisecond, 2*time.Millisecond)
	t.Logf("parks in 40 ms: %d with queries back to back (longest slice %s), %d with one every 2 ms (%s)",
		dense, denseSlice, sparse, sparseLongest)
	if denseSlice != Slice {
		t.Errorf("longest slice %s with queries back to back, want %s", denseSlice, Slice)
	}
	if sparseLongest != sparseSlice {
		t.Errorf("longest slice %s with a query every 2 ms, want %s", sparseLongest, sparseSlice)
	}
}

// TestTickReadsClockOften: with slow items, Tick reads the clock after fewer of them, so that a slice
// does not run past Slice by `maxEvery` slow items.
func TestTickReadsClockOften(t *testing.T) {
	Start()
	var p Pacer
	for range 2000 {
		for start := time.Now(); time.Since(start) < 2*time.Microsecond; {
		}
		p.Tick()
	}
	// An item takes at least 2 µs: more than readEvery/2µs items between two reads always halve every.
	limit := uint(readEvery / (2 * time.Microsecond))
	if p.every > limit {
		t.Errorf("clock read every %d items of 2 µs, want at most %d (about every %s)", p.every, limit, readEvery)
	}
	for range 100000 {
		p.Tick()
	}
	if p.every <= 4*limit {
		t.Errorf("clock read every %d items of nothing, want more than %d", p.every, 4*limit)
	}
}

// TestUninit: the slice has the length asked, its memory can be written and read back, small ones come
// from make (zeroed), and a type with pointers is refused.
func TestUninit(t *testing.T) {
	for _, n := range []int{0, 1, 100, uninitFrom, 3 << 20} {
		s := Uninit[uint64](n)
		if len(s) != n {
			t.Fatalf("len %d, want %d", len(s), n)
		}
		for i := range s {
			s[i] = uint64(i) * 7
		}
		for i, v := range s {
			if v != uint64(i)*7 {
				t.Fatalf("n=%d: s[%d]=%d", n, i, v)
			}
		}
	}
	if s := Uninit[uint32](10); !slices.Equal(s, make([]uint32, 10)) {
		t.Errorf("small Uninit not zeroed: %v", s)
	}
	type v6 struct {
		Hi, Lo uint64
		Bits   uint8
	}
	if s := Uninit[v6](1 << 20); len(s) != 1<<20 || uintptr(unsafe.Pointer(&s[0]))%8 != 0 {
		t.Errorf("struct slice: len %d, address %p", len(s), &s[0])
	}
	for _, f := range []func(){
		func() { Uninit[*int](1 << 20) },
		func() { Uninit[struct{ s string }](1 << 20) },
		func() { Uninit[[2][]byte](1) },
		func() { Uninit[uint64](-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
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
