package threatstop_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// TestMaxEntriesBenchData runs over make bench's data set (2.1M entries: set $THREATSTOP_BENCH_FEEDS to
// its feeds folder, bench/out/data-*/feeds; skipped without it). The three feeds score 40; a feed "hot"
// of 800 of the IPv4 entries lifts them to 76. A policy with max_entries 1000 holds exactly the 800 hot
// ones and 200 of those at 40; two refreshes that each swap three hot entries for three others move
// exactly those: an IXFR of 6 records each (3 in, 3 out), out of 2.1M entries that tie at 40.
func TestMaxEntriesBenchData(t *testing.T) {
	d := os.Getenv("THREATSTOP_BENCH_FEEDS")
	if d == "" {
		t.Skip("THREATSTOP_BENCH_FEEDS is not set")
	}
	f, err := os.Open(filepath.Join(d, "v4.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var v4 []string
	for sc := bufio.NewScanner(f); sc.Scan() && len(v4) < 2000; {
		if strings.HasSuffix(sc.Text(), "/32") {
			v4 = append(v4, sc.Text())
		}
	}
	f.Close()
	hotPath := filepath.Join(t.TempDir(), "hot.txt")
	hot := func(from int) { writeFeed(t, hotPath, strings.Join(v4[from:from+800], "\n")+"\n") }
	hot(1000)
	var feeds strings.Builder
	for _, name := range []string{"v4", "v6", "dom"} {
		feeds.WriteString(`        feed ` + name + ` {
            file ` + filepath.Join(d, name+".txt") + `
            format plain
            category bench
            confidence 40
        }
`)
	}
	srv := coretest.Start(t, `threatstop.local:0 {
    bind 127.0.0.1
    transfer {
        to *
    }
    threatfeed {
        refresh 100ms
`+feeds.String()+`        feed hot {
            file `+hotPath+`
            format plain
            category bench
            confidence 60
            max_shrink 100%
        }
    }
    threatstop {
        policy top {
            lists v4 v6 dom hot
            transfer_clients 127.0.0.1
            max_entries 1000
        }
    }
}
`)
	defer srv.Stop()
	zone := "top.rpz.threatstop.local."
	rrs, serial := rpzTriggers(t, srv, zone, 0)
	if len(rrs) != 1000 {
		t.Fatalf("max_entries 1000: %d records", len(rrs))
	}
	chosen := map[string]bool{}
	for _, rr := range rrs {
		if strings.HasPrefix(rr.Header().Name, "32.") && strings.Contains(rr.Header().Name, ".rpz-ip.") {
			chosen[triggerAddr(t, rr).String()+"/32"] = true
		}
	}
	for _, e := range v4[1000:1800] {
		if !chosen[e] {
			t.Fatalf("%s scores 76 and is left out", e)
		}
	}
	for step, from := range []int{1003, 1006} {
		hot(from) // three hot entries out, three others in
		var changes []dns.RR
		var next uint32
		deadline := time.Now().Add(30 * time.Second)
		for {
			if changes, next = rpzTriggers(t, srv, zone, serial); next != serial || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("refresh %d: serial %d → %d, IXFR of %d records", step+1, serial, next, len(changes))
		if len(changes) != 6 {
			t.Fatalf("refresh %d: IXFR of %d records, want 6 (3 in, 3 out)", step+1, len(changes))
		}
		serial = next
	}
}
