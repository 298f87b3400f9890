package sensor_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/sensor"
)

// Three customers' firewalls report an attacker, one reports another address once, and a customer's
// log names one public address as its own inside host: only the attacker is listed, with how many
// reported it, never who.
func ExampleTable() {
	t := sensor.New()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	attacker, once, own := netip.MustParseAddr("1.10.16.5"), netip.MustParseAddr("8.8.4.4"), netip.MustParseAddr("45.9.148.7")
	for i, reporter := range []string{"customer-a", "customer-b", "customer-c"} {
		t.Report(attacker, reporter, now.Add(-time.Duration(i+1)*time.Hour))
		t.Report(own, reporter, now.Add(-time.Hour))
	}
	t.Report(once, "customer-a", now.Add(-time.Hour))
	t.Report(netip.MustParseAddr("192.168.1.20"), "customer-b", now) // private: ignored
	t.Inside(own, now.Add(-2*time.Hour))

	for _, e := range t.List(now, 0, 2, 0) {
		fmt.Println(e.Addr, e.Reporters, e.First.Format(time.Kitchen), e.Last.Format(time.Kitchen))
	}
	n, _, _ := t.Lookup(attacker, now, 0)
	fmt.Println("lookup:", n)
	fmt.Println("customer-a forgotten:", t.Forget("customer-a"), "addresses")
	fmt.Println(len(t.List(now, 0, 3, 0)))
	// Output:
	// 1.10.16.5 3 9:00AM 11:00AM
	// lookup: 3
	// customer-a forgotten: 3 addresses
	// 0
}
