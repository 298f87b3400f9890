package threatfeed

import (
	"testing"
	"time"
)

// Refreshes are spread by ±10% so that many servers polling one source do not ask in the same second.
func TestJitter(t *testing.T) {
	const d = 10 * time.Minute
	seen := map[time.Duration]bool{}
	lo, hi := d, d
	for range 2000 {
		j := jitter(d)
		if j < d-d/10 || j > d+d/10 {
			t.Fatalf("jitter(%s) = %s, outside ±10%%", d, j)
		}
		seen[j] = true
		lo, hi = min(lo, j), max(hi, j)
	}
	// Spread over the whole window, not a few values.
	if len(seen) < 1900 || lo > d-d/12 || hi < d+d/12 {
		t.Errorf("2000 jitters: %d distinct, from %s to %s", len(seen), lo, hi)
	}
}
