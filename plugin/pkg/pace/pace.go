// Package pace keeps background work (parsing a feed, compiling a snapshot) from delaying queries when
// the server has a single core. Go's scheduler lets a busy goroutine run for up to 10 ms before it
// notices network input, so a refresh parsing a large feed would hold answers back for that long. A
// background loop calls Tick on every item; once it has run for a slice, Tick parks the goroutine for
// Slice, and parking sends the scheduler through its network poll, so waiting queries run first.
//
// The handlers count the queries they answer (Served), which tells Tick whether parking helps: on a
// server with more than one core, when queries were answered while the loop worked, another core serves
// them and the loop goes on without a park; when no query was answered for idleAfter, the server is idle
// and each slice is twice as long as the one before (up to MaxSlice); when parks find the core idle
// (queries are sparse), slices grow up to sparseSlice; otherwise slices stay at Slice, so queries get at
// least half of a single core. A refresh under load is paced; one on an idle or multi-core server runs
// with few pauses.
package pace

import (
	"crypto/sha256"
	"math/bits"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Slice is how long background work runs between parks while queries wait, and how long a park lasts.
const Slice = 100 * time.Microsecond

// sparseSlice is the longest slice while queries come too seldom to fill the parks.
const sparseSlice = 4 * Slice

// MaxSlice is the longest slice, reached while no query comes: the most a query that arrives on an idle
// single-core server during a refresh waits (the scheduler's own preemption is at 10 ms).
const MaxSlice = 4 * time.Millisecond

// idleAfter is how long without an answered query makes the server idle. On one core a park may pass
// without answers although queries wait (the garbage collector's worker can take the park, and a stall
// holds every answer back), so only a long quiet period counts.
const idleAfter = 250 * time.Millisecond

// on is set once the server answers queries: before that (loading feeds at start-up) there is nothing to
// yield to, and pacing would only slow the start.
var on atomic.Bool

// served counts the queries answered, process-wide; parks the parks.
var served, parks atomic.Uint64

// busyAt is when served was last seen to move (Unix nanoseconds).
var busyAt atomic.Int64

var watching sync.Once

// multi is set when the server has more than one core (GOMAXPROCS at Start).
var multi atomic.Bool

// Start turns pacing on, for every Pacer, from now on.
func Start() {
	multi.Store(runtime.GOMAXPROCS(0) > 1)
	watching.Do(func() { go watch() })
	on.Store(true)
}

// Served counts one answered query. The query handlers call it.
func Served() { served.Add(1) }

// Pacer paces one background loop. The zero value is ready to use; it is not safe for concurrent use.
type Pacer struct {
	n, every uint          // items since the clock was last read; items between two reads
	start    time.Time     // when the slice began
	last     time.Time     // when the clock was last read
	slice    time.Duration // the current slice
	seen     uint64        // served, when last looked at
}

// Tick counts one item of work and parks the goroutine when its slice is used up and queries wait.
func (p *Pacer) Tick() {
	if !on.Load() {
		return
	}
	if p.n++; p.n < p.every {
		return
	}
	now := p.clock()
	// Read the clock about every readEvery: an item costs from a nanosecond (a word compared) to
	// microseconds (a line parsed), and a fixed count of slow items would run well past the slice.
	if d := now.Sub(p.last); d > readEvery && p.every > 1 {
		p.every /= 2
	} else if d < readEvery/4 && p.every < maxEvery {
		p.every *= 2
	}
	p.last = now
	p.check(now)
}

// Step is Tick for a piece of work that takes tens of microseconds (a block read, a sorted run): it
// reads the clock at once.
func (p *Pacer) Step() {
	if !on.Load() {
		return
	}
	p.check(p.clock())
}

// readEvery is how often Tick aims to read the clock (a read costs about 20 ns); maxEvery bounds the
// items between two reads.
const (
	readEvery = Slice / 16
	maxEvery  = 256
)

// clock starts the Pacer on its first use and returns the time.
func (p *Pacer) clock() time.Time {
	now := time.Now()
	p.n = 0
	if p.start.IsZero() {
		p.start, p.last, p.slice, p.seen, p.every = now, now, Slice, served.Load(), 16
	}
	return now
}

// check parks the goroutine if its slice is used up and queries may be waiting.
func (p *Pacer) check(now time.Time) {
	if now.Sub(p.start) < p.slice {
		return
	}
	q := served.Load()
	answered := q != p.seen
	p.seen = q
	if answered {
		busyAt.Store(now.UnixNano())
		if multi.Load() {
			// Queries were answered while this loop held its core: another core serves them. (On one
			// core they ran only in a park or when the scheduler preempted this loop: park all the same.)
			p.start, p.slice = now, Slice
			return
		}
	}
	// Park for Slice: a woken goroutine jumps the run queue, so a shorter park would let the background
	// loop back in after each single query.
	parks.Add(1)
	before := served.Load()
	time.Sleep(Slice)
	// The woken loop runs before the goroutines that the park let the scheduler ready (queries read from
	// the network meanwhile): let them go first.
	runtime.Gosched()
	p.start = time.Now()
	p.last = p.start
	// A park that outlasted several slices while hardly a query ran found the core idle: the runtime
	// rounds a timer up to a millisecond when nothing runs. Queries are sparse, and longer slices keep the
	// loop from spending nine tenths of its time asleep; a query that comes in during one waits at most
	// sparseSlice.
	sparse := p.start.Sub(now) > 5*Slice && served.Load()-before <= 2
	switch {
	case p.start.UnixNano()-busyAt.Load() > int64(idleAfter):
		p.slice = min(2*p.slice, MaxSlice) // no query for a while: the server is idle
	case sparse:
		p.slice = min(2*p.slice, sparseSlice)
	default:
		p.slice = Slice
	}
}

// watch notes, a few times per idleAfter, whether queries were answered since it last looked: a loop
// that starts on a busy single core sees no answer during its first slice (it holds the core), and
// must not take the server for idle.
func watch() {
	var last uint64
	for now := range time.Tick(idleAfter / 8) {
		if q := served.Load(); q != last {
			last = q
			busyAt.Store(now.UnixNano())
		}
	}
}

// Uninit returns a slice of n elements of T whose memory is not zeroed, for a large array that the
// caller fills before reading it. The runtime zeroes a large allocation in one go, with no scheduling
// point: milliseconds for tens of megabytes when its pages must be faulted in again, and on a single
// core the queries wait. Filled by a paced loop instead, the array takes its page faults a piece at a
// time. T must hold no pointers (Uninit panics otherwise): the garbage collector does not scan the
// memory, and an old pointer in it would be read as live.
func Uninit[T any](n int) []T {
	t := reflect.TypeFor[T]()
	if !pointerFree(t) {
		panic("pace.Uninit: " + t.String() + " holds pointers")
	}
	size := uintptr(n) * t.Size()
	if n < 0 || t.Size() != 0 && size/t.Size() != uintptr(n) {
		panic("pace.Uninit: bad length")
	}
	if size < uninitFrom {
		return make([]T, n)
	}
	// strings.Builder grows into memory the runtime does not zero; its first byte is the array's.
	var b strings.Builder
	b.Grow(int(size))
	b.WriteByte(0)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.StringData(b.String()))), n)
}

// uninitFrom is the size from which Uninit skips the zeroing: below it, make's zeroing takes
// microseconds, and the allocation's alignment is that of a small size class.
const uninitFrom = 64 << 10

func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || pointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// run is the length below which SortFunc hands a piece to slices.SortFunc: short enough (tens of
// microseconds) to sit between two ticks.
const run = 512

// SortFunc sorts s by cmp like slices.SortFunc (not stably), ticking p as it goes. It sorts in place,
// by quicksort with a heapsort for inputs that defeat its pivots: a scratch buffer the size of s would
// be megabytes that the runtime zeroes, and the page faults of touching them, without a tick between.
func SortFunc[T any](p *Pacer, s []T, cmp func(a, b T) int) {
	quicksort(p, s, cmp, 2*bits.Len(uint(len(s))))
}

func quicksort[T any](p *Pacer, s []T, cmp func(a, b T) int, depth int) {
	for len(s) > run {
		if depth == 0 {
			heapsort(p, s, cmp)
			return
		}
		depth--
		// Median of three to s[0], then Hoare's partition: elements equal to the pivot go to both
		// sides, so runs of duplicates split evenly.
		m, l := len(s)/2, len(s)-1
		if cmp(s[m], s[0]) < 0 {
			s[m], s[0] = s[0], s[m]
		}
		if cmp(s[l], s[m]) < 0 {
			s[l], s[m] = s[m], s[l]
			if cmp(s[m], s[0]) < 0 {
				s[m], s[0] = s[0], s[m]
			}
		}
		s[0], s[m] = s[m], s[0]
		pivot := s[0]
		i, j := 0, len(s)
		for {
			for i++; i < len(s) && cmp(s[i], pivot) < 0; i++ {
				p.Tick()
			}
			for j--; cmp(pivot, s[j]) < 0; j-- {
				p.Tick()
			}
			if i >= j {
				break
			}
			s[i], s[j] = s[j], s[i]
		}
		s[0], s[j] = s[j], s[0]
		lo, hi := s[:j], s[j+1:]
		if len(lo) < len(hi) {
			quicksort(p, lo, cmp, depth)
			s = hi
		} else {
			quicksort(p, hi, cmp, depth)
			s = lo
		}
	}
	slices.SortFunc(s, cmp)
	p.Step()
}

func heapsort[T any](p *Pacer, s []T, cmp func(a, b T) int) {
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && cmp(s[c], s[c+1]) < 0 {
				c++
			}
			if cmp(s[i], s[c]) >= 0 {
				return
			}
			s[i], s[c] = s[c], s[i]
			i = c
		}
	}
	for i := len(s)/2 - 1; i >= 0; i-- {
		p.Tick()
		down(i, len(s))
	}
	for n := len(s) - 1; n > 0; n-- {
		p.Tick()
		s[0], s[n] = s[n], s[0]
		down(0, n)
	}
}

// chunk is how many bytes Copy handles between two ticks: tens of microseconds.
const chunk = 256 << 10

// Copy is copy(dst, src), ticking p every 256 KiB: a copy of megabytes in one go holds the core for
// milliseconds.
func Copy[T any](p *Pacer, dst, src []T) int {
	n := min(len(dst), len(src))
	step := max(1, chunk/max(1, int(unsafe.Sizeof(src[0]))))
	for i := 0; i < n; i += step {
		copy(dst[i:min(i+step, n)], src[i:min(i+step, n)])
		p.Step()
	}
	return n
}

// Compact is slices.Compact, ticking p as it goes.
func Compact[S ~[]E, E comparable](p *Pacer, s S) S {
	return CompactFunc(p, s, func(a, b E) bool { return a == b })
}

// CompactFunc is slices.CompactFunc, ticking p as it goes.
func CompactFunc[S ~[]E, E any](p *Pacer, s S, eq func(a, b E) bool) S {
	if len(s) < 2 {
		return s
	}
	k := 1
	for i := 1; i < len(s); i++ {
		p.Tick()
		if !eq(s[k-1], s[i]) {
			s[k] = s[i]
			k++
		}
	}
	clear(s[k:])
	return s[:k]
}

// Sum256 is sha256.Sum256, ticking p every 16 KiB.
func Sum256(p *Pacer, data []byte) [sha256.Size]byte {
	h := sha256.New()
	for len(data) > 0 {
		n := min(len(data), 16<<10)
		h.Write(data[:n])
		data = data[n:]
		p.Step() // 16 KiB of hashing takes 10-40 µs
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
