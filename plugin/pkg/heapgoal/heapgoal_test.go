package heapgoal

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{5 << 20, 100},  // a small heap keeps Go's default
		{32 << 20, 100}, // headroom 32 MiB = 100%
		{64 << 20, 50},  // 32 MiB of 64
		{100 << 20, 32}, // 32 MiB of 100
		{128 << 20, 25}, // a quarter from here on
		{4 << 30, 25},
	} {
		if got := Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestStartFollowsLiveHeap holds a large pointer-free heap and checks that the GOGC in force comes down
// to what Percent gives for it, and goes back up once it is freed.
func TestStartFollowsLiveHeap(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		if Start() {
			t.Fatal("Start changed GOGC although the environment sets it")
		}
		return
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	hold := make([]uint64, 200<<20/8) // 200 MiB, live
	for i := range hold {
		hold[i] = uint64(i)
	}
	runtime.GC()
	if !Start() {
		t.Fatal("Start refused with neither GOGC nor GOMEMLIMIT set")
	}
	if got := gcPercentNow(); got != Percent(200<<20) || got == 100 || Current() != got {
		t.Fatalf("GOGC %d (Current %d) with 200 MiB live, want %d", got, Current(), Percent(200<<20))
	}
	runtime.KeepAlive(hold)
	hold = nil
	runtime.GC()
	deadline := time.Now().Add(5 * time.Second)
	for gcPercentNow() != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d after the heap was freed", gcPercentNow())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gcPercentNow reads the GOGC in force without changing it.
func gcPercentNow() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}
