package threatstop_test

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/pkg/sensor"
)

// scoreAddr is address i of the score tests' feeds.
func scoreAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{5, 1, byte(i >> 8), byte(i)}) }

func scoreFeed(t *testing.T, path string, from, to int, extra ...int) {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintln(&b, scoreAddr(i))
	}
	for _, i := range extra {
		fmt.Fprintln(&b, scoreAddr(i))
	}
	writeFeed(t, path, b.String())
}

// rpzTriggers transfers a policy's RPZ zone (an IXFR from serial unless it is 0) and returns its records
// other than the SOA and NS, and the serial it ends at.
func rpzTriggers(t *testing.T, s *coretest.Server, zone string, serial uint32) ([]dns.RR, uint32) {
	t.Helper()
	m := new(dns.Msg)
	if serial == 0 {
		m.SetAxfr(zone)
	} else {
		m.SetIxfr(zone, serial, "ns1.threatstop.local.", "hostmaster.threatstop.local.")
	}
	ch, err := (&dns.Transfer{ReadTimeout: 2 * time.Second}).In(m, s.TCP)
	if err != nil {
		t.Fatal(err)
	}
	var out []dns.RR
	var last uint32
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		for _, rr := range env.RR {
			switch rr := rr.(type) {
			case *dns.SOA:
				last = rr.Serial
			case *dns.NS:
			default:
				out = append(out, rr)
			}
		}
	}
	return out, last
}

// triggerAddr is the address of an RPZ IP trigger of a /32 ("32.d.c.b.a.rpz-ip.ZONE").
func triggerAddr(t *testing.T, rr dns.RR) netip.Addr {
	l := dns.SplitDomainName(rr.Header().Name)
	if len(l) < 6 || l[0] != "32" || l[5] != "rpz-ip" {
		t.Fatalf("not a /32 trigger: %s", rr)
	}
	a, err := netip.ParseAddr(l[4] + "." + l[3] + "." + l[2] + "." + l[1])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestChoiceByScore: three feeds of other confidences overlap, so their addresses score 97 (all three),
// 95 (a and b), 90 (a alone), 65 (b and c) and 30 (c alone). A policy with max_entries 1000 serves
// exactly the 1,000 highest scored, its DNSBL answers agree with its zone, and a refresh that lifts three
// addresses above the cut moves exactly three in and three out (the IXFR); a policy with min_score 60
// lists what scores 60 or more, and its category minimum lets in what scores less.
func TestChoiceByScore(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt"), filepath.Join(dir, "c.txt")
	scoreFeed(t, a, 0, 1200)
	scoreFeed(t, b, 600, 2400)
	scoreFeed(t, c, 1000, 3000)
	srv := coretest.Start(t, `threatstop.local:0 {
    bind 127.0.0.1
    transfer {
        to *
    }
    threatfeed {
        refresh 50ms
        feed a {
            file `+a+`
            format plain
            category botnet
            confidence 90
        }
        feed b {
            file `+b+`
            format plain
            category spam
            confidence 50
        }
        feed c {
            file `+c+`
            format plain
            category scanner
            confidence 30
            max_shrink 100%
        }
    }
    threatstop {
        policy top {
            lists a b c
            max_entries 1000
            transfer_clients 127.0.0.1
        }
        policy strict {
            lists a b c
            min_score 60
            transfer_clients 127.0.0.1
        }
        policy scanners {
            lists a b c
            min_score 60
            min_score scanner 25
        }
    }
}
`)
	defer srv.Stop()
	listed := func(pol string, i int) bool {
		r := srv.Query(t, dnsblName(scoreAddr(i), pol), dns.TypeA)
		return r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
	}
	zone := "top.rpz.threatstop.local."
	rrs, serial := rpzTriggers(t, srv, zone, 0)
	chosen := map[netip.Addr]bool{}
	for _, rr := range rrs {
		chosen[triggerAddr(t, rr)] = true
	}
	if len(chosen) != 1000 {
		t.Fatalf("max_entries 1000: %d entries in the zone", len(chosen))
	}
	at90 := 0
	for i := range 3000 {
		switch in := chosen[scoreAddr(i)]; {
		case i >= 600 && i < 1200 && !in:
			t.Fatalf("%s scores 95 or more and is left out", scoreAddr(i))
		case i >= 1200 && in:
			t.Fatalf("%s scores 65 or less and is in", scoreAddr(i))
		case i < 600 && in:
			at90++
		}
		if listed("top", i) != chosen[scoreAddr(i)] {
			t.Fatalf("%s: the DNSBL answer (listed %v) disagrees with the zone", scoreAddr(i), !chosen[scoreAddr(i)])
		}
	}
	if at90 != 400 {
		t.Fatalf("%d of the addresses at 90 chosen, want 400", at90)
	}
	// Three addresses at 90 that were left out join feed c: 93, above the cut.
	var lift []int
	for i := 0; len(lift) < 3; i++ {
		if !chosen[scoreAddr(i)] {
			lift = append(lift, i)
		}
	}
	scoreFeed(t, c, 1000, 3000, lift...)
	var changes []dns.RR
	deadline := time.Now().Add(5 * time.Second)
	for {
		if changes, _ = rpzTriggers(t, srv, zone, serial); len(changes) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(changes) != 6 {
		t.Fatalf("IXFR after three scores rose above the cut: %d records, want 6 (3 in, 3 out): %v", len(changes), changes)
	}
	for _, i := range lift {
		if !listed("top", i) {
			t.Errorf("%s now scores 93 and is not listed", scoreAddr(i))
		}
	}

	// Five new addresses at 90, sorting before every other: entry order alone would take them in and
	// push five out; ties keep what was chosen, so the zone does not change.
	rrs, _ = rpzTriggers(t, srv, zone, 0)
	before := map[netip.Addr]bool{}
	for _, rr := range rrs {
		before[triggerAddr(t, rr)] = true
	}
	var more strings.Builder
	for i := range 1200 {
		fmt.Fprintln(&more, scoreAddr(i))
	}
	for i := range 5 {
		fmt.Fprintf(&more, "5.0.0.%d\n", i+1)
	}
	writeFeed(t, a, more.String())
	waitFor(t, "the new addresses", func() string { return rcodeIs(srv, t, "1.0.0.5.strict.threatstop.local.", dns.RcodeSuccess) })
	rrs, _ = rpzTriggers(t, srv, zone, 0)
	for _, rr := range rrs {
		if !before[triggerAddr(t, rr)] {
			t.Errorf("%s tied with chosen entries and displaced one", triggerAddr(t, rr))
		}
	}
	if len(rrs) != 1000 {
		t.Errorf("after new ties: %d entries, want 1000", len(rrs))
	}

	for _, tc := range []struct {
		i       int
		strict  bool
		scanner bool
	}{
		{0, true, true},       // 90
		{700, true, true},     // 95
		{1100, true, true},    // 97
		{1500, true, true},    // 65
		{2500, false, true},   // 30: scanner alone, whose minimum is 25
		{3500, false, false},  // in no feed
		{lift[0], true, true}, // 93
	} {
		if got := listed("strict", tc.i); got != tc.strict {
			t.Errorf("strict, %s: listed %v, want %v", scoreAddr(tc.i), got, tc.strict)
		}
		if got := listed("scanners", tc.i); got != tc.scanner {
			t.Errorf("scanners, %s: listed %v, want %v", scoreAddr(tc.i), got, tc.scanner)
		}
	}
	strict, _ := rpzTriggers(t, srv, "strict.rpz.threatstop.local.", 0)
	if len(strict) != 2405 { // a's 1,205 (90 or more) and b∩c's [1200, 2400) at 65
		t.Errorf("strict zone: %d entries, want 2405", len(strict))
	}
}

// dnsblName is the DNSBL query name of a in policy pol.
func dnsblName(a netip.Addr, pol string) string {
	b := a.As4()
	return fmt.Sprintf("%d.%d.%d.%d.%s.threatstop.local.", b[3], b[2], b[1], b[0], pol)
}

// TestSensorsToEdge: the aggregator computes the sensors feed once and exports it as a one-list policy's
// zone; an edge takes it as any other feed (axfr) and answers from it.
func TestSensorsToEdge(t *testing.T) {
	aggAddr := coretest.FreeDNSAddr(t)
	_, aggPort, _ := net.SplitHostPort(aggAddr)
	agg := coretest.Start(t, `threatstop.local:`+aggPort+` {
    bind 127.0.0.1
    transfer {
        to *
    }
    threatfeed {
        feed sensors {
            sensors
            min_reporters 2
            window 1h
            refresh 100ms
            category scanner
        }
    }
    threatstop {
        policy x-sensors {
            lists sensors
            transfer_clients 127.0.0.1
        }
    }
}
`)
	defer agg.Stop()
	edge := coretest.Start(t, `threatstop.local:0 {
    bind 127.0.0.1
    threatfeed {
        feed sensors {
            axfr x-sensors.rpz.threatstop.local from `+aggAddr+`
            refresh 100ms
            category scanner
            max_shrink 100%
        }
    }
    threatstop {
        policy demo {
            lists sensors
        }
    }
}
`)
	defer edge.Stop()
	tbl := sensor.Shared()
	// Addresses no other test reports. The other one keeps the list from going empty: an empty version is
	// held back on the edge, as of any feed, until an operator accepts it.
	attacker, other := netip.MustParseAddr("45.155.206.3"), netip.MustParseAddr("45.155.206.4")
	now := time.Now()
	for _, r := range []string{"edge-test-a", "edge-test-b"} {
		tbl.Report(attacker, r, now)
		tbl.Report(other, r, now)
		defer tbl.Forget(r)
	}
	tbl.Report(other, "edge-test-c", now)
	defer tbl.Forget("edge-test-c")
	name := dnsblName(attacker, "demo")
	waitFor(t, "the edge lists the sensors' attacker", func() string { return rcodeIs(edge, t, name, dns.RcodeSuccess) })
	tbl.Forget("edge-test-a")
	waitFor(t, "the edge drops it with a reporter gone", func() string { return rcodeIs(edge, t, name, dns.RcodeNameError) })
}
