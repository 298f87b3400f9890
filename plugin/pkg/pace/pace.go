// Package pace keeps background work (parsing a feed, compiling a snapshot) from delaying queries when
// the server has a single core. Go's scheduler lets a busy goroutine run for up to 10 ms before it
// notices network input, so a refresh parsing a large feed would hold answers back for that long. A
// background loop calls Tick on every item; once it has run for Slice, Tick parks the goroutine for as
// long, and parking sends the scheduler through its network poll, so waiting queries run first. Queries
// thus get at least half of a single core within every pair of slices; with no query waiting, the park
// lasts up to a millisecond (the poller's resolution): background work slows, answers do not.
package pace

import (
	"crypto/sha256"
	"slices"
	"sync/atomic"
	"time"
)

// Slice is how long background work runs between parks.
const Slice = 200 * time.Microsecond

// every is how many ticks pass between clock reads (a clock read costs about 20 ns).
const every = 256

// on is set once the server answers queries: before that (loading feeds at start-up) there is nothing to
// yield to, and pacing would only slow the start.
var on atomic.Bool

// Start turns pacing on, for every Pacer, from now on.
func Start() { on.Store(true) }

// Pacer paces one background loop. The zero value is ready to use; it is not safe for concurrent use.
type Pacer struct {
	n     uint
	start time.Time
}

// Tick counts one item of work and parks the goroutine when its slice is used up.
func (p *Pacer) Tick() {
	if !on.Load() {
		return
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	if p.n++; p.n%every != 0 {
		return
	}
	now := time.Now()
	if now.Sub(p.start) >= Slice {
		// Park as long as the slice ran: a woken goroutine jumps the run queue, so a shorter park would
		// let the background loop back in after each single query.
		time.Sleep(Slice)
		p.start = time.Now()
	}
}

// run is the length of the pieces Sort sorts with slices.SortFunc before merging them, short enough
// (tens of microseconds) to sit between two ticks.
const run = 512

// SortFunc sorts s by cmp like slices.SortFunc (not stably), ticking p as it goes: sorted runs, then
// bottom-up merges through one scratch buffer of len(s).
func SortFunc[T any](p *Pacer, s []T, cmp func(a, b T) int) {
	if len(s) <= run {
		slices.SortFunc(s, cmp)
		return
	}
	for i := 0; i < len(s); i += run {
		slices.SortFunc(s[i:min(i+run, len(s))], cmp)
		p.n += every - 1 // a run costs about what `every` items of other work do: check the clock now
		p.Tick()
	}
	src, dst := s, make([]T, len(s))
	for width := run; width < len(s); width *= 2 {
		for lo := 0; lo < len(s); lo += 2 * width {
			mid, hi := min(lo+width, len(s)), min(lo+2*width, len(s))
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				p.Tick()
				if cmp(src[j], src[i]) < 0 {
					dst[k], j = src[j], j+1
				} else {
					dst[k], i = src[i], i+1
				}
				k++
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &s[0] {
		copy(s, src)
	}
}

// Sum256 is sha256.Sum256, ticking p every 16 KiB.
func Sum256(p *Pacer, data []byte) [sha256.Size]byte {
	h := sha256.New()
	for len(data) > 0 {
		n := min(len(data), 16<<10)
		h.Write(data[:n])
		data = data[n:]
		p.n += every - 1 // 16 KiB of hashing costs about what `every` items of other work do
		p.Tick()
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
