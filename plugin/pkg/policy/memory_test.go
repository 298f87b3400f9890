package policy

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// policyBytes measures the heap that n policies over a snapshot of entries prefixes and names take.
func policyBytes(t *testing.T, entries, n int) (perPolicy, snap float64) {
	h0 := heapAlloc()
	lists := make([]snapshot.List, 8)
	for l := range lists {
		var b entryset.Builder
		for i := range entries / 8 {
			v := uint32(l*entries/8 + i)
			b.AddAddr(netip.AddrFrom4([4]byte{10 + byte(v>>24), byte(v >> 16), byte(v >> 8), byte(v)}))
			b.AddName(fmt.Sprintf("h%d.l%d.example", i, l), i%10 == 0)
		}
		lists[l] = snapshot.List{Name: fmt.Sprint("l", l), Category: fmt.Sprint("c", l%3), Set: b.Set(), Version: 1}
	}
	s := snapshot.Build(lists, nil)
	h1 := heapAlloc()
	ps := make([]*Policy, n)
	for i := range ps {
		p, err := New(Config{
			Name:    fmt.Sprint("p", i),
			Block:   []int{i % 8, (i + 3) % 8},
			Allow:   []int{(i + 5) % 8},
			Blocked: []string{"192.0.2.0/24", "evil.example"},
			Allowed: []string{"198.51.100.1"},
			Answers: map[string]string{"c1": "127.0.0.3"},
		}, Catalog(s.Lists))
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	h2 := heapAlloc()
	runtime.KeepAlive(ps)
	runtime.KeepAlive(s)
	return float64(h2-h1) / float64(n), float64(h1 - h0)
}

// TestPolicyMemory: a policy never copies entries, so its memory does not depend on how many entries
// the feeds hold, and 1,000 policies over a million entries cost a small fraction of the entries.
func TestPolicyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1M-entry snapshot")
	}
	small, _ := policyBytes(t, 10_000, 1000)
	large, snap := policyBytes(t, 1_000_000, 1000)
	t.Logf("per policy: %.0f B over 20k entries, %.0f B over 2M entries; snapshot and feeds %.0f MB; 1,000 policies = %.1f%% of it",
		small, large, snap/1e6, 100*1000*large/snap)
	if large > small+512 {
		t.Errorf("a policy takes %.0f B over 2M entries but %.0f B over 20k: it grows with the feeds", large, small)
	}
	if 1000*large > 0.2*snap {
		t.Errorf("1,000 policies take %.0f B, more than 20%% of the %.0f B of the data they share", 1000*large, snap)
	}
}
