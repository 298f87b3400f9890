package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Edge replication: an aggregator threatstop loads the feed files and exports each list as the RPZ zone
// of a one-list policy (x-LIST), signed with the edge's key; an edge threatstop has no feed file at all,
// only axfr feeds of those zones, and the same customer policy over them. The edge must answer every
// lookup as the aggregator does, and a feed change must reach it by NOTIFY and IXFR within 2 s. The
// policies' definitions travel the same way: the edge follows the aggregator's configuration zone, so a
// change made through the aggregator's management API (an own entry, a choice of feeds, a new policy)
// is answered by the edge within 2 s too.

const (
	edgeToken  = "edge-demo-token-0123456789"
	edgeKey    = "edge.key."
	edgeSecret = "ZWRnZS1yZXBsaWNhLWtleS1vZi0zMi1ieXRlcy14eHg="
)

var edgeFeeds = []struct{ name, format, category, data string }{
	{"spam", "plain", "spam", "1.2.3.4\n44.55.0.0/16\n2a06:e480::/32\n"},
	{"names", "plain", "malware", "bad.example.com\nevil.example.net\n"},
	{"wild", "wildcard", "fraud", "*.fake.example.org\n"},
}

// edgePolicy is the customer's policy, the same on both servers.
const edgePolicy = `        policy demo {
            lists spam names wild
            block 37.0.10.0/24 own.example.com
            allow 44.55.66.77 ok.fake.example.org
            answer fraud 127.0.0.4
        }
`

func TestEdgeReplica(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var feeds, exports, axfr strings.Builder
	for _, f := range edgeFeeds {
		p := filepath.Join(dir, f.name+".txt")
		writeFile(t, p, f.data)
		fmt.Fprintf(&feeds, "        feed %s {\n            file %s\n            format %s\n            category %s\n        }\n", f.name, p, f.format, f.category)
		fmt.Fprintf(&exports, "        policy x-%s {\n            lists %s\n            keys %s\n        }\n", f.name, f.name, edgeKey)
	}
	edgePort, apiPort := freePort(t, true), freePort(t, false)
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
%[7]s    }
    threatstop {
        catalog_keys %[5]s
%[8]s%[9]s    }
    threatadmin {
        listen 127.0.0.1:%[10]d
        db %[11]s
        customer demo {
            policies demo
            token %[12]s
        }
    }
}
`, port, ready, metrics, edgePort, edgeKey, edgeSecret, feeds.String(), edgePolicy, exports.String(),
			apiPort, filepath.Join(dir, "admin.db"), edgeToken), port, ready, metrics
	})
	for _, f := range edgeFeeds {
		fmt.Fprintf(&axfr, "        feed %s {\n            axfr x-%s.rpz.threatstop.test from 127.0.0.1:%d key %s\n            category %s\n        }\n",
			f.name, f.name, agg.Port, edgeKey, f.category)
	}
	edgeDir := filepath.Join(dir, "edge")
	if err := os.Mkdir(edgeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// refresh 1h: only the NOTIFY can bring a change within the test's 2 s.
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
%[6]s    }
    threatstop {
        follow config.threatstop.test from 127.0.0.1:%[8]d key %[4]s {
            except x-*
        }
%[7]s    }
}
`, edgePort, ready, metrics, edgeKey, edgeSecret, axfr.String(), edgePolicy, agg.Port), edgePort, ready, metrics
	})

	queries := []string{
		"4.3.2.1", "1.0.55.44", "77.66.55.44", "78.66.55.44", "5.10.0.37", "8.8.8.8", "2.0.0.127", "1.0.0.127",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.4.e.6.0.a.2",
		"bad.example.com", "www.bad.example.com", "evil.example.net", "fake.example.org", "a.b.fake.example.org",
		"ok.fake.example.org", "own.example.com", "clean.example.com", "test", "invalid",
	}
	same := func() string {
		for _, q := range queries {
			for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
				name := q + ".demo.threatstop.test."
				a, e := agg.Query(t, name, qt), edge.Query(t, name, qt)
				if ra, re := answerText(a), answerText(e); ra != re {
					return fmt.Sprintf("%s %s: aggregator %s, edge %s", name, dns.TypeToString[qt], ra, re)
				}
			}
		}
		return ""
	}
	if diff := same(); diff != "" {
		t.Fatalf("the edge answers otherwise than the aggregator: %s\n--- edge ---\n%s", diff, lastLines(edge.Output(), 20))
	}
	if r := edge.Query(t, "4.3.2.1.demo.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("the edge does not list 1.2.3.4: %v", r)
	}
	if !regexp.MustCompile(`feed spam: zone x-spam\.rpz\.threatstop\.test\. at serial \d+ by AXFR`).MatchString(edge.Output()) {
		t.Errorf("no first AXFR in the edge's log:\n%s", lastLines(edge.Output(), 20))
	}

	// A change on the aggregator: 1.2.3.4 leaves, 81.2.69.0/24 comes, a name comes.
	writeFile(t, filepath.Join(dir, "spam.txt.new"), "44.55.0.0/16\n2a06:e480::/32\n81.2.69.0/24\n")
	if err := os.Rename(filepath.Join(dir, "spam.txt.new"), filepath.Join(dir, "spam.txt")); err != nil {
		t.Fatal(err)
	}
	var changed time.Time
	eventually(t, reloadTimeout, func() string {
		if agg.Query(t, "4.3.2.1.demo.threatstop.test.", dns.TypeA).Rcode != dns.RcodeNameError {
			return "the aggregator still lists 1.2.3.4"
		}
		changed = time.Now()
		return ""
	})
	eventually(t, 2*time.Second, func() string {
		if r := edge.Query(t, "1.69.2.81.demo.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
			return "the edge does not list 81.2.69.1 yet"
		}
		if r := edge.Query(t, "4.3.2.1.demo.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeNameError {
			return "the edge still lists 1.2.3.4"
		}
		return ""
	})
	t.Logf("the change reached the edge %s after the aggregator answered it", time.Since(changed).Round(time.Millisecond))
	if diff := same(); diff != "" {
		t.Errorf("after the change: %s", diff)
	}
	if !regexp.MustCompile(`feed spam: zone x-spam\.rpz\.threatstop\.test\. at serial \d+ by IXFR \(\d+ records of differences\)`).MatchString(edge.Output()) {
		t.Errorf("the change did not come by IXFR:\n%s", lastLines(edge.Output(), 20))
	}
	// Definitions: every change through the aggregator's API is answered by the edge within 2 s, by its
	// configuration zone (NOTIFY, then IXFR); then both answer alike again.
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1", apiPort)
	rcode := func(name string, want int) func() string {
		return func() string {
			if r := edge.Query(t, name+".threatstop.test.", dns.TypeA); r.Rcode != want {
				return fmt.Sprintf("the edge answers %s for %s, want %s", dns.RcodeToString[r.Rcode], name, dns.RcodeToString[want])
			}
			return ""
		}
	}
	steps := []struct {
		what, method, path, body string
		check                    func() string
	}{
		{"an own block entry", "POST", "/policies/demo/block", `{"value":"198.51.100.7"}`, rcode("7.100.51.198.demo", dns.RcodeSuccess)},
		{"the entry removed", "DELETE", "/policies/demo/block/198.51.100.7", "", rcode("7.100.51.198.demo", dns.RcodeNameError)},
		{"an allow entry", "POST", "/policies/demo/allow", `{"value":"81.2.69.7"}`, rcode("7.69.2.81.demo", dns.RcodeNameError)},
		{"feeds chosen", "PUT", "/policies/demo/selection", `{"lists":["spam","wild"],"answers":{"fraud":"127.0.0.4"}}`, rcode("bad.example.com.demo", dns.RcodeNameError)},
		{"a new policy", "POST", "/policies", `{"name":"branch","block":["203.0.113.9"]}`, rcode("9.113.0.203.branch", dns.RcodeSuccess)},
		{"the new policy deleted", "DELETE", "/policies/branch", "", rcode("9.113.0.203.branch", dns.RcodeNameError)},
	}
	for _, st := range steps {
		if code := bearerCall(t, edgeToken, st.method, api+st.path, st.body); code/100 != 2 {
			t.Fatalf("%s: %s %s: %d", st.what, st.method, st.path, code)
		}
		start := time.Now()
		eventually(t, 2*time.Second, st.check)
		t.Logf("%s: answered by the edge %s after the API call", st.what, time.Since(start).Round(time.Millisecond))
		if diff := same(); diff != "" {
			t.Errorf("after %s: %s", st.what, diff)
		}
		if st.what == "a new policy" {
			for _, q := range []string{"9.113.0.203.branch", "4.3.2.1.branch", "1.0.55.44.branch", "bad.example.com.branch", "8.8.8.8.branch"} {
				for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
					if a, e := answerText(agg.Query(t, q+".threatstop.test.", qt)), answerText(edge.Query(t, q+".threatstop.test.", qt)); a != e {
						t.Errorf("%s %s: aggregator %s, edge %s", q, dns.TypeToString[qt], a, e)
					}
				}
			}
		}
	}
	if !regexp.MustCompile(`follow config\.threatstop\.test\.: serial \d+ by IXFR \(\d+ records of differences\)`).MatchString(edge.Output()) {
		t.Errorf("the definitions did not come by IXFR:\n%s", lastLines(edge.Output(), 20))
	}

	// Only the primary may NOTIFY: a NOTIFY from 127.0.0.2 is refused.
	m := new(dns.Msg)
	m.SetNotify("x-spam.rpz.threatstop.test.")
	r, err := exchangeFrom("udp", "127.0.0.2", edge.Addr, m, queryTimeout, nil)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("NOTIFY from 127.0.0.2: %v, %v; want REFUSED", r, err)
	}
}

// answerText is a reply's rcode and its answer records, sorted, without TTLs.
func answerText(r *dns.Msg) string {
	var rrs []string
	for _, rr := range r.Answer {
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		rrs = append(rrs, rr.String())
	}
	slices.Sort(rrs)
	return dns.RcodeToString[r.Rcode] + " " + strings.Join(rrs, " | ")
}
