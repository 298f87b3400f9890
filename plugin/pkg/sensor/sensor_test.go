package sensor

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// t0 is a day boundary, so periods (3 hours of the default window) start at t0 + 3h·k.
var t0 = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func at(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

var mustAddr = netip.MustParseAddr

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"1.10.16.5", true},
		{"185.220.101.1", true},
		{"8.8.8.8", true},
		{"::ffff:1.10.16.5", true}, // IPv4-mapped: judged as IPv4
		{"2001:678:6c4::1", true},
		{"2a00:1450:4001::1", true},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.20", false},
		{"::ffff:192.168.1.20", false},
		{"100.64.0.1", false},      // CGNAT
		{"100.127.255.255", false}, // CGNAT, last
		{"100.128.0.1", true},      // just after
		{"127.0.0.1", false},
		{"169.254.1.1", false},
		{"0.1.2.3", false},
		{"0.0.0.0", false},
		{"224.0.0.251", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"198.51.100.7", false},
		{"203.0.113.7", false},
		{"198.18.0.1", false},
		{"192.88.99.1", false},
		{"::", false},
		{"::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"2001:db8::20", false},
		{"2001::1", false},          // Teredo, IETF protocol space
		{"2002:c000:201::1", false}, // 6to4
		{"3fff::1", false},          // documentation (RFC 9637)
		{"64:ff9b::808:808", false}, // NAT64: outside 2000::/3
		{"100::1", false},
		{"4000::1", false}, // not allocated unicast space
	} {
		if got := Public(mustAddr(tc.addr)); got != tc.public {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
	if Public(netip.Addr{}) {
		t.Error("Public of the zero Addr")
	}
}

func TestPublicPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		public bool
	}{
		{"77.88.0.0/24", true},
		{"1.10.16.5/32", true},
		{"0.0.0.0/0", true}, // holds public space
		{"10.0.0.0/7", true},
		{"2a00::/12", true},
		{"::/0", true},
		{"::ffff:77.88.0.0/120", true},
		{"192.168.1.0/24", false},
		{"10.0.0.0/8", false},
		{"100.64.0.0/16", false},
		{"203.0.113.0/25", false},
		{"::ffff:192.168.1.0/120", false},
		{"::ffff:0.0.0.0/80", false}, // IPv4-mapped shorter than /96: no IPv4 prefix
		{"2001:db8::/56", false},
		{"fd00::/8", false},
		{"fe80::/64", false},
		{"4000::/3", false},
	} {
		if got := PublicPrefix(netip.MustParsePrefix(tc.prefix)); got != tc.public {
			t.Errorf("PublicPrefix(%s) = %v, want %v", tc.prefix, got, tc.public)
		}
	}
}

// report is one call to Report.
type report struct {
	addr, reporter string
	h              float64 // hours after t0
}

func table(reports ...report) *Table {
	tb := New()
	for _, r := range reports {
		tb.Report(mustAddr(r.addr), r.reporter, at(r.h))
	}
	return tb
}

func TestList(t *testing.T) {
	three := []report{{"1.10.16.5", "a", 1}, {"1.10.16.5", "b", 2}, {"1.10.16.5", "c", 3}}
	for _, tc := range []struct {
		name    string
		reports []report
		now     float64
		window  time.Duration
		min     int
		decay   time.Duration
		want    []string // "addr reporters first last" (hours)
	}{
		{"three reporters", three, 4, 0, 3, 0, []string{"1.10.16.5 3 1 3"}},
		{"below the threshold", three, 4, 0, 4, 0, nil},
		{"one reporter many times is one", []report{{"1.10.16.5", "a", 1}, {"1.10.16.5", "a", 2}, {"1.10.16.5", "a", 3}}, 4, 0, 2, 0, nil},
		{"min 0 means 1", []report{{"1.10.16.5", "a", 1}}, 2, 0, 0, 0, []string{"1.10.16.5 1 1 1"}},
		{"a shorter window leaves the first out", three, 4, 2*time.Hour + 30*time.Minute, 2, 0, []string{"1.10.16.5 2 2 3"}},
		{"the window passed for one", three, 25.5, 0, 2, 0, []string{"1.10.16.5 2 2 3"}},
		{"the window passed for all", three, 27.5, 0, 1, 0, nil},
		{"a window longer than the table's is the table's", three, 25.5, 48 * time.Hour, 3, 0, nil},
		{"decay: last report too old", three, 10, 0, 3, 6 * time.Hour, nil},
		{"decay: last report recent enough", three, 8, 0, 3, 6 * time.Hour, []string{"1.10.16.5 3 1 3"}},
		{"non-public addresses are never held", []report{{"192.168.1.20", "a", 1}, {"192.168.1.20", "b", 1}, {"203.0.113.7", "a", 1}, {"203.0.113.7", "b", 1}}, 2, 0, 1, 0, nil},
		{"IPv4-mapped is IPv4", []report{{"::ffff:1.10.16.5", "a", 1}, {"1.10.16.5", "b", 2}}, 3, 0, 2, 0, []string{"1.10.16.5 2 1 2"}},
		{"sorted by address, IPv4 first", []report{{"2001:678:6c4::1", "a", 1}, {"9.9.9.9", "a", 1}, {"1.10.16.5", "a", 1}, {"1.10.16.40", "a", 1}}, 2, 0, 1, 0,
			[]string{"1.10.16.5 1 1 1", "1.10.16.40 1 1 1", "9.9.9.9 1 1 1", "2001:678:6c4::1 1 1 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := table(tc.reports...).List(at(tc.now), tc.window, tc.min, tc.decay)
			var s []string
			for _, e := range got {
				s = append(s, fmt.Sprintf("%s %d %g %g", e.Addr, e.Reporters, e.First.Sub(t0).Hours(), e.Last.Sub(t0).Hours()))
			}
			if fmt.Sprint(s) != fmt.Sprint(tc.want) {
				t.Errorf("List: %q, want %q", s, tc.want)
			}
		})
	}
}

// A reporter that reports every hour for two days: what the window holds is counted to an eighth of it.
func TestCountWithinWindow(t *testing.T) {
	tb := New()
	a := mustAddr("1.10.16.5")
	for h := 0; h < 48; h++ {
		tb.Report(a, "a", at(float64(h)))
	}
	now := at(47)
	// The window starts at 23h, in the period 21h-24h, which still counts its reports at 21h and 22h.
	if n, first, last := tb.Lookup(a, now, 0); n != 1 || !first.Equal(at(23)) || !last.Equal(at(47)) {
		t.Errorf("Lookup: %d %s %s, want 1, 23h, 47h", n, first, last)
	}
	tb.Expire(now)
	c := tb.Contributions("a")
	if len(c) != 1 || c[0].Count != 27 || !c[0].First.Equal(at(23)) || !c[0].Last.Equal(at(47)) || c[0].Addr != a {
		t.Errorf("Contributions: %+v, want 27 reports from 23h to 47h", c)
	}
	// Three hours later the 21h-24h period is gone, and the hours to 50h add nothing.
	tb.Expire(at(50))
	if c := tb.Contributions("a"); len(c) != 1 || c[0].Count != 24 || !c[0].First.Equal(at(26)) {
		t.Errorf("Contributions after 3 hours: %+v, want 24 reports from 26h", c)
	}
	// A day after the last report nothing is left.
	tb.Expire(at(71.5))
	if tb.Len() != 0 || len(tb.Contributions("a")) != 0 {
		t.Errorf("a day after the last report: %d addresses, %+v", tb.Len(), tb.Contributions("a"))
	}
}

func TestOutOfOrder(t *testing.T) {
	tb := New()
	a := mustAddr("1.10.16.5")
	for _, h := range []float64{30, 20, 31, 2, 29.5} { // 2h is more than a window before 31h: ignored
		tb.Report(a, "a", at(h))
	}
	c := tb.Contributions("a")
	if len(c) != 1 || c[0].Count != 4 || !c[0].First.Equal(at(20)) || !c[0].Last.Equal(at(31)) {
		t.Errorf("out of order: %+v, want 4 reports from 20h to 31h", c)
	}
	// A report long after the last one starts over: the old ones are out of its window.
	tb.Report(a, "a", at(80))
	if c := tb.Contributions("a"); len(c) != 1 || c[0].Count != 1 || !c[0].First.Equal(at(80)) {
		t.Errorf("after a gap: %+v, want 1 report at 80h", c)
	}
}

func TestInside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inside func(*Table)
		now    float64
		listed bool
	}{
		{"no inside", func(*Table) {}, 2, true},
		{"inside address", func(tb *Table) { tb.Inside(mustAddr("1.10.16.5"), at(0)) }, 2, false},
		{"inside, IPv4-mapped", func(tb *Table) { tb.Inside(mustAddr("::ffff:1.10.16.5"), at(0)) }, 2, false},
		{"inside another address", func(tb *Table) { tb.Inside(mustAddr("1.10.16.6"), at(0)) }, 2, true},
		{"inside prefix", func(tb *Table) { tb.InsidePrefix(netip.MustParsePrefix("1.10.16.0/24"), at(0)) }, 2, false},
		{"inside IPv4-mapped prefix", func(tb *Table) { tb.InsidePrefix(netip.MustParsePrefix("::ffff:1.10.16.0/120"), at(0)) }, 2, false},
		{"inside another prefix", func(tb *Table) { tb.InsidePrefix(netip.MustParsePrefix("1.10.17.0/24"), at(0)) }, 2, true},
		{"inside private prefix, ignored", func(tb *Table) { tb.InsidePrefix(netip.MustParsePrefix("192.168.1.0/24"), at(0)) }, 2, true},
		{"inside /0: everything", func(tb *Table) { tb.InsidePrefix(netip.MustParsePrefix("0.0.0.0/0"), at(0)) }, 2, false},
		{"inside /32 prefix", func(tb *Table) { tb.InsidePrefix(netip.MustParsePrefix("1.10.16.5/32"), at(0)) }, 2, false},
		// Reported at 23h, inside at 0h: at 24.5h the inside mark is past the window, the reports are not.
		{"inside mark expired", func(tb *Table) { tb.Inside(mustAddr("1.10.16.5"), at(0)) }, 24.5, true},
		{"inside prefix expired", func(tb *Table) { tb.InsidePrefix(netip.MustParsePrefix("1.10.16.0/24"), at(0)) }, 24.5, true},
		{"inside later", func(tb *Table) { tb.Inside(mustAddr("1.10.16.5"), at(0)); tb.Inside(mustAddr("1.10.16.5"), at(23)) }, 24.5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := table(report{"1.10.16.5", "a", 23}, report{"1.10.16.5", "b", 23})
			tc.inside(tb)
			listed := len(tb.List(at(tc.now), 0, 2, 0)) == 1
			n, _, _ := tb.Lookup(mustAddr("1.10.16.5"), at(tc.now), 0)
			if listed != tc.listed || (n == 2) != tc.listed {
				t.Errorf("listed %v, Lookup %d reporters; want listed %v", listed, n, tc.listed)
			}
		})
	}
}

func TestExcluded(t *testing.T) {
	tb := table(report{"1.10.16.5", "a", 1}, report{"1.10.16.5", "b", 1}, report{"9.9.9.9", "a", 1}, report{"9.9.9.9", "b", 1})
	// Set after the reports: consulted when listing.
	allowed := netip.MustParsePrefix("9.9.9.0/24")
	tb.SetExcluded(allowed.Contains)
	if l := tb.List(at(2), 0, 2, 0); len(l) != 1 || l[0].Addr != mustAddr("1.10.16.5") {
		t.Errorf("List with 9.9.9.0/24 excluded: %+v", l)
	}
	if n, _, _ := tb.Lookup(mustAddr("9.9.9.9"), at(2), 0); n != 0 {
		t.Errorf("Lookup of an excluded address: %d reporters", n)
	}
	tb.SetExcluded(nil)
	if l := tb.List(at(2), 0, 2, 0); len(l) != 2 {
		t.Errorf("List without exclusion: %+v", l)
	}
}

func TestLookup(t *testing.T) {
	tb := table(report{"1.10.16.5", "a", 1}, report{"1.10.16.5", "b", 5}, report{"1.10.16.5", "a", 3}, report{"192.168.1.1", "a", 1})
	for _, tc := range []struct {
		addr        string
		now         float64
		window      time.Duration
		n           int
		first, last float64
	}{
		{"1.10.16.5", 6, 0, 2, 1, 5},
		{"::ffff:1.10.16.5", 6, 0, 2, 1, 5},
		{"1.10.16.5", 6, 4 * time.Hour, 2, 2, 5}, // a's first report (1h) is out of this window, 0h-3h still counts: first is the window's start
		{"1.10.16.5", 6, 2 * time.Hour, 1, 5, 5},
		{"1.10.16.5", 30, 0, 0, 0, 0},
		{"1.10.16.6", 6, 0, 0, 0, 0},
		{"192.168.1.1", 6, 0, 0, 0, 0},
	} {
		n, first, last := tb.Lookup(mustAddr(tc.addr), at(tc.now), tc.window)
		var f, l float64
		if !first.IsZero() {
			f, l = first.Sub(t0).Hours(), last.Sub(t0).Hours()
		}
		if n != tc.n || f != tc.first || l != tc.last || first.IsZero() != (tc.n == 0) {
			t.Errorf("Lookup(%s, %gh, %s): %d %g %g, want %d %g %g", tc.addr, tc.now, tc.window, n, f, l, tc.n, tc.first, tc.last)
		}
	}
}

func TestForget(t *testing.T) {
	tb := table(report{"1.10.16.5", "a", 1}, report{"1.10.16.5", "b", 1}, report{"9.9.9.9", "a", 1}, report{"9.9.9.9", "a", 2}, report{"8.8.4.4", "b", 1})
	c := tb.Contributions("a")
	if len(c) != 2 || c[0].Addr != mustAddr("1.10.16.5") || c[0].Count != 1 || c[1].Addr != mustAddr("9.9.9.9") || c[1].Count != 2 || !c[1].First.Equal(at(1)) || !c[1].Last.Equal(at(2)) {
		t.Errorf("a's contributions: %+v", c)
	}
	if n := tb.Forget("a"); n != 2 {
		t.Errorf("Forget(a) = %d, want 2", n)
	}
	if n := tb.Forget("a"); n != 0 {
		t.Errorf("Forget(a) again = %d, want 0", n)
	}
	if l := tb.List(at(2), 0, 1, 0); len(l) != 2 || l[0].Addr != mustAddr("1.10.16.5") || l[0].Reporters != 1 || l[1].Addr != mustAddr("8.8.4.4") {
		t.Errorf("List after Forget(a): %+v", l)
	}
	if tb.Len() != 2 || len(tb.Contributions("a")) != 0 || len(tb.Contributions("b")) != 2 {
		t.Errorf("after Forget(a): %d addresses, a %+v, b %+v", tb.Len(), tb.Contributions("a"), tb.Contributions("b"))
	}
	// A report after Forget starts anew.
	tb.Report(mustAddr("1.10.16.5"), "a", at(3))
	if l := tb.List(at(4), 0, 2, 0); len(l) != 1 || l[0].Reporters != 2 {
		t.Errorf("List after a's new report: %+v", l)
	}
}

func TestSetWindow(t *testing.T) {
	tb := New()
	if tb.Window() != DefaultWindow {
		t.Fatalf("default window %s", tb.Window())
	}
	a := mustAddr("1.10.16.5")
	for h := 0; h < 10; h++ {
		tb.Report(a, "a", at(float64(h)))
	}
	tb.SetWindow(7 * 24 * time.Hour)
	if tb.Window() != 7*24*time.Hour {
		t.Fatalf("window %s", tb.Window())
	}
	if c := tb.Contributions("a"); len(c) != 1 || c[0].Count != 10 || !c[0].First.Equal(at(0)) {
		t.Errorf("after a longer window: %+v", c)
	}
	// With a week, reports of 2 days ago still count.
	tb.Report(mustAddr("1.10.16.5"), "b", at(50))
	if l := tb.List(at(58), 0, 2, 0); len(l) != 1 {
		t.Errorf("a week's window at 58h: %+v", l)
	}
	tb.SetWindow(time.Second) // at least 8 seconds
	if tb.Window() != 8*time.Second {
		t.Errorf("window %s, want 8s", tb.Window())
	}
}

// TestConcurrent is for the race detector: reports, lists, lookups and forgets at once.
func TestConcurrent(t *testing.T) {
	tb := New()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				a := netip.AddrFrom4([4]byte{1, 10, byte(i / 250), byte(i % 250)})
				tb.Report(a, fmt.Sprint("r", g), at(float64(i%20)))
				tb.Inside(netip.AddrFrom4([4]byte{9, 9, byte(g), byte(i)}), at(1))
				if i%100 == 0 {
					tb.List(at(20), 0, 2, 0)
					tb.Lookup(a, at(20), 0)
					tb.Contributions(fmt.Sprint("r", g))
				}
				if i%700 == 0 {
					tb.Forget(fmt.Sprint("r", (g+1)%4))
					tb.SetExcluded(func(netip.Addr) bool { return false })
				}
			}
		}()
	}
	wg.Wait()
	tb.Expire(at(100))
	if tb.Len() != 0 {
		t.Errorf("%d addresses after everything expired", tb.Len())
	}
}
