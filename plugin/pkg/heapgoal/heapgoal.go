// Package heapgoal keeps the Go heap's growth between collections in proportion to what serving needs,
// not to the data held. Go collects when the heap has grown by GOGC percent (100) of the live heap, so a
// server holding 500 MB of feeds would grow to 1 GB before collecting, although answering queries makes
// only a few megabytes of garbage a second. Nearly all of our live heap is immutable, pointer-free
// snapshot arrays, which a collection marks in a few steps, so collecting more often costs little: Start
// sets GOGC so that the heap grows by max(MinHeadroom, a quarter of the live heap) between collections,
// never above 100 and never below 25, and follows the live heap as feeds grow and shrink.
//
// An operator's own GOGC or GOMEMLIMIT wins: with either set in the environment, nothing is changed.
package heapgoal

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// MinHeadroom is the least the heap may grow between collections.
const MinHeadroom = 32 << 20

// Percent bounds: 100 is Go's default, 25 keeps collections from coming too often for a huge heap.
const (
	MaxPercent = 100
	MinPercent = 25
)

// every is how often the live heap is read.
const every = time.Second

var (
	once    sync.Once
	current atomic.Int64 // the GOGC set, 0 before Start or when the environment decides
)

// Percent returns the GOGC that suits a live heap of live bytes.
func Percent(live uint64) int {
	if live == 0 {
		return MaxPercent
	}
	headroom := max(uint64(MinHeadroom), live/4)
	return int(min(MaxPercent, max(MinPercent, headroom*100/live)))
}

// Start begins following the live heap, once per process; it reports false, doing nothing, when GOGC or
// GOMEMLIMIT is set in the environment.
func Start() bool {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	once.Do(func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tune := func() {
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			if p := int64(Percent(sample[0].Value.Uint64())); p != current.Load() {
				debug.SetGCPercent(int(p))
				current.Store(p)
			}
		}
		tune()
		go func() {
			for range time.Tick(every) {
				tune()
			}
		}()
	})
	return true
}

// Current is the GOGC Start set last, or 0 when it sets none.
func Current() int { return int(current.Load()) }
