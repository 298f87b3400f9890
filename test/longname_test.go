package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A name of 230 octets fits a DNSBL lookup under demo.threatstop.test (252 octets) but not an RPZ owner
// under demo.rpz.threatstop.test (256): lookups list it, the zone cannot hold it. The aggregator must say
// so (a gauge per policy, one warning per version, the feed's status), for the customer's policy and for
// the x-names zone that edges copy; the edge, which cannot receive it, answers NXDOMAIN, and the loss is
// the one the aggregator reported for x-names.
func TestLongNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 30) + ".example"
	if len(long) != 230 {
		t.Fatalf("fixture: %d octets", len(long))
	}
	writeFile(t, filepath.Join(dir, "names.txt"), "bad.example.com\n"+long+"\n")
	edgePort, status := freePort(t, true), freePort(t, false)
	agg := startCorefile(t, dir, "Corefile.aggregator", func() (string, int, int, int) {
		port, ready, metrics := freePort(t, true), freePort(t, false), freePort(t, false)
		return fmt.Sprintf(`threatstop.test:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    tsig {
        secret %[5]s %[6]s
        require AXFR IXFR
    }
    transfer {
        to 127.0.0.1:%[4]d
    }
    threatfeed {
        refresh 100ms
        status 127.0.0.1:%[7]d
        feed names {
            file %[8]s
            format plain
            category malware
        }
    }
    threatstop {
        policy demo {
            lists names
            keys %[5]s
        }
        policy x-names {
            lists names
            keys %[5]s
        }
    }
}
`, port, ready, metrics, edgePort, edgeKey, edgeSecret, status, filepath.Join(dir, "names.txt")), port, ready, metrics
	})
	edgeDir := filepath.Join(dir, "edge")
	if err := os.Mkdir(edgeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	edge := startCorefile(t, edgeDir, "Corefile.edge", func() (string, int, int, int) {
		ready, metrics := freePort(t, false), freePort(t, false)
		return fmt.Sprintf(`threatstop.test:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    tsig {
        secret %[4]s %[5]s
    }
    threatfeed {
        refresh 1h
        feed names {
            axfr x-names.rpz.threatstop.test from 127.0.0.1:%[6]d key %[4]s
            category malware
        }
    }
    threatstop {
        policy demo {
            lists names
        }
    }
}
`, edgePort, ready, metrics, edgeKey, edgeSecret, agg.Port), edgePort, ready, metrics
	})

	// Lookups: the aggregator lists it; the edge could not receive it.
	q := long + ".demo.threatstop.test."
	if r := agg.Query(t, q, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("aggregator, %d-octet query for the long name: %s %v, want it listed", len(q), rcode(r), r.Answer)
	}
	if r := edge.Query(t, q, dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("edge, the long name: %s, want NXDOMAIN (it cannot travel in x-names.rpz)", rcode(r))
	}
	if r := edge.Query(t, "bad.example.com.demo.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("edge, bad.example.com: %s, want it listed", rcode(r))
	}

	// The zone: every other entry, not the long one, and no owner over 255 octets.
	rrs, _, err := xfrIn(agg.Addr, "", signed(xfrMsg("demo.rpz.threatstop.test.", dns.TypeAXFR, 0), edgeKey, time.Time{}), map[string]string{edgeKey: edgeSecret})
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeCNAME {
			owners = append(owners, rr.Header().Name)
		}
	}
	if want := []string{"*.bad.example.com.demo.rpz.threatstop.test.", "bad.example.com.demo.rpz.threatstop.test."}; !slices.Equal(owners, want) && !slices.Equal(owners, want[1:]) {
		t.Errorf("AXFR triggers %q, want bad.example.com's only", owners)
	}

	// Reported: the gauge of each policy, one warning per policy and version, the feed's status.
	for _, p := range []string{"demo", "x-names"} {
		series := fmt.Sprintf(`coredns_threatstop_rpz_omitted_entries{policy=%q}`, p)
		if v, ok := agg.Metric(series); !ok || v != 1 {
			t.Errorf("%s = %v (%v), want 1", series, v, ok)
		}
	}
	if v, ok := edge.Metric(`coredns_threatstop_rpz_omitted_entries{policy="demo"}`); ok {
		t.Errorf("edge's omitted gauge %v, want none: it holds nothing too long", v)
	}
	time.Sleep(500 * time.Millisecond) // five refreshes of the same content: no more warnings
	warn := regexp.MustCompile(`policy (demo|x-names) serial \d+: 1 names too long for its RPZ zone .*: ` + long)
	if n := len(warn.FindAllString(agg.Output(), -1)); n != 2 {
		t.Errorf("%d warnings about the long name, want one per policy:\n%s", n, lastLines(agg.Output(), 20))
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/feeds/names", status))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var feed struct {
		RPZOmitted map[string][]string `json:"rpz_omitted"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&feed); err != nil {
		t.Fatal(err)
	}
	if len(feed.RPZOmitted) != 2 || !slices.Equal(feed.RPZOmitted["demo"], []string{long}) || !slices.Equal(feed.RPZOmitted["x-names"], []string{long}) {
		t.Errorf("status of feed names: rpz_omitted %q, want demo and x-names naming the long name", feed.RPZOmitted)
	}
}
