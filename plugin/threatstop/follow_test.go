package threatstop_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

const (
	cfgKey    = "edge.key."
	cfgSecret = "ZWRnZS1yZXBsaWNhLWtleS1vZi0zMi1ieXRlcy14eHg="
	polKey    = "pol.key."
	polSecret = "cG9saWN5LWtleS1vZi10aGlydHktdHdvLWJ5dGVzLXg="
)

var cfgSecrets = map[string]string{cfgKey: cfgSecret, polKey: polSecret}

// followFeeds writes the two feeds both servers load (the edge's lists have the aggregator's names).
func followFeeds(t testing.TB, dir string) string {
	t.Helper()
	for name, body := range map[string]string{"drop.txt": "5.188.10.0/24 ; SBL1\n", "bad.txt": "bad.example\n"} {
		writeFeed(t, filepath.Join(dir, name), body)
	}
	return fmt.Sprintf(`    threatfeed {
        refresh 50ms
        feed drop {
            file %[1]s/drop.txt
            format spamhaus
            category spam
        }
        feed bad {
            file %[1]s/bad.txt
            format plain
            category malware
        }
    }
`, dir)
}

// startFollow starts an aggregator with three policies and an edge that follows its configuration zone,
// with a policy of its own (base, the template) and a Corefile demo of another definition.
func startFollow(t testing.TB, extra string) (agg, edge *coretest.Server, aggText, edgeText string) {
	return startFollowing(t, extra, false)
}

// startFollowing is startFollow, the edge first when edgeFirst (it takes the zone once the aggregator's
// start-up NOTIFY comes).
func startFollowing(t testing.TB, extra string, edgeFirst bool) (agg, edge *coretest.Server, aggText, edgeText string) {
	t.Helper()
	dir := t.TempDir()
	feeds := followFeeds(t, dir)
	// Fixed ports: with port 0, a server's UDP and TCP ports differ, and SOA queries go over UDP.
	edgeAddr, aggAddr := coretest.FreeDNSAddr(t), coretest.FreeDNSAddr(t)
	_, aggPort, _ := net.SplitHostPort(aggAddr)
	aggText = `threatstop.local:` + aggPort + ` {
    bind 127.0.0.1
    tsig {
        secret ` + cfgKey + ` ` + cfgSecret + `
        secret ` + polKey + ` ` + polSecret + `
    }
    transfer {
        to ` + edgeAddr + `
    }
` + feeds + `    threatstop {
        catalog_keys ` + cfgKey + `
        policy demo {
            lists drop
            block 192.0.2.1 evil.example
            allow 5.188.10.1
            answer spam 127.0.0.4
            action spam drop
            keys ` + polKey + `
        }
        policy other {
            lists bad
            allow_lists drop
        }
        policy x-drop {
            lists drop
        }
` + extra + `    }
}
`
	_, port, _ := net.SplitHostPort(edgeAddr)
	edgeText = `threatstop.local:` + port + ` {
    bind 127.0.0.1
    tsig {
        secret ` + cfgKey + ` ` + cfgSecret + `
    }
` + followFeeds(t, t.TempDir()) + `    threatstop {
        follow config.threatstop.local from ` + aggAddr + ` key ` + cfgKey + ` {
            except x-*
        }
        policy base {
            lists bad
        }
        policy demo {
            lists drop
        }
    }
}
`
	if edgeFirst {
		edge = coretest.Start(t, edgeText)
		agg = coretest.Start(t, aggText)
	} else {
		agg = coretest.Start(t, aggText)
		edge = coretest.Start(t, edgeText)
	}
	return agg, edge, aggText, edgeText
}

// configXfr transfers the aggregator's configuration zone (an IXFR from serial unless it is 0), signed
// with key, and returns its records as text without TTLs.
func configXfr(t *testing.T, s *coretest.Server, key string, serial uint32) ([]string, error) {
	t.Helper()
	m := new(dns.Msg)
	if serial == 0 {
		m.SetAxfr("config.threatstop.local.")
	} else {
		m.SetIxfr("config.threatstop.local.", serial, "ns1.threatstop.local.", "hostmaster.threatstop.local.")
	}
	tr := &dns.Transfer{ReadTimeout: 2 * time.Second}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = cfgSecrets
	}
	ch, err := tr.In(m, s.TCP)
	if err != nil {
		return nil, err
	}
	var out []string
	for env := range ch {
		if env.Error != nil {
			return out, env.Error
		}
		for _, rr := range env.RR {
			rr.Header().Ttl = 0
			out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	return out, nil
}

func configSerial(t *testing.T, s *coretest.Server) uint32 {
	t.Helper()
	return soaSerial(t, s.Query(t, "config.threatstop.local.", dns.TypeSOA))
}

// waitFor polls cond until it returns "" or 2 s pass: the figure edges must meet.
func waitFor(t *testing.T, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msg := cond()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("%s: after 2 s: %s", what, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func rcodeIs(s *coretest.Server, t *testing.T, name string, rcode int) string {
	if r := s.Query(t, name, dns.TypeA); r.Rcode != rcode {
		return fmt.Sprintf("%s: %s, want %s", name, dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
	}
	return ""
}

// TestConfigZone: the aggregator's configuration zone holds every policy's definition, goes only to
// catalog keys, and moves its serial only when a definition changes; an IXFR carries only that change.
func TestConfigZone(t *testing.T) {
	agg, _, aggText, _ := startFollow(t, "")
	rrs, err := configXfr(t, agg, cfgKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Join(rrs, "\n")
	for _, want := range []string{
		`version.config.threatstop.local. 0 IN TXT "1"`,
		`demo.policies.config.threatstop.local. 0 IN TXT "lists" "drop"`,
		`demo.policies.config.threatstop.local. 0 IN TXT "answer" "spam" "127.0.0.4"`,
		`demo.policies.config.threatstop.local. 0 IN TXT "action" "spam" "drop"`,
		`block.demo.policies.config.threatstop.local. 0 IN TXT "192.0.2.1"`,
		`block.demo.policies.config.threatstop.local. 0 IN TXT "evil.example"`,
		`allow.demo.policies.config.threatstop.local. 0 IN TXT "5.188.10.1"`,
		`other.policies.config.threatstop.local. 0 IN TXT "allow_lists" "drop"`,
		`x-drop.policies.config.threatstop.local. 0 IN TXT "lists" "drop"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the zone lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, polKey) || strings.Contains(body, polSecret) {
		t.Error("the zone names a policy's key")
	}
	// A policy's own key, or none, gets REFUSED.
	for _, key := range []string{polKey, ""} {
		if rrs, err := configXfr(t, agg, key, 0); err == nil || len(rrs) > 0 {
			t.Errorf("AXFR signed with %q: %d records, %v; want REFUSED", key, len(rrs), err)
		}
	}

	// A feed change moves demo's zone serial, not the configuration's.
	serial := configSerial(t, agg)
	demo := soaSerial(t, agg.Query(t, "demo.threatstop.local.", dns.TypeSOA))
	time.Sleep(1100 * time.Millisecond) // serials are seconds
	dropPath := strings.Fields(aggText[strings.Index(aggText, "file ")+5:])[0]
	writeFeed(t, dropPath, "5.188.10.0/24 ; SBL1\n81.2.69.0/24 ; SBL3\n")
	waitFor(t, "the feed change", func() string {
		if soaSerial(t, agg.Query(t, "demo.threatstop.local.", dns.TypeSOA)) == demo {
			return "demo's serial did not move"
		}
		return ""
	})
	if got := configSerial(t, agg); got != serial {
		t.Errorf("a feed change moved the configuration's serial %d -> %d", serial, got)
	}

	// A reload that changes no definition keeps the serial.
	inst, err := agg.Inst.Restart(coretest.Input(aggText))
	if err != nil {
		t.Fatal(err)
	}
	agg.Inst = inst
	if got := configSerial(t, agg); got != serial {
		t.Errorf("a reload moved the serial %d -> %d", serial, got)
	}

	// An edit: one record added, by IXFR.
	st := state.FromInstance(agg.Inst)
	if _, err := st.Edit(0, "demo", func(c *policy.Config) error { c.Blocked = append(c.Blocked, "198.51.100.7"); return nil }); err != nil {
		t.Fatal(err)
	}
	next := configSerial(t, agg)
	if int32(next-serial) <= 0 {
		t.Fatalf("the edit did not move the serial: %d -> %d", serial, next)
	}
	rrs, err = configXfr(t, agg, cfgKey, serial)
	if err != nil {
		t.Fatal(err)
	}
	if len(rrs) != 5 || !strings.Contains(rrs[1], fmt.Sprint(serial)) || rrs[3] != `block.demo.policies.config.threatstop.local. 0 IN TXT "198.51.100.7"` {
		t.Errorf("IXFR from %d: %q, want the SOAs around one added record", serial, rrs)
	}
}

// TestFollow: an edge that follows the aggregator's configuration zone answers as the aggregator for
// every policy it takes (not those its except leaves out), and a change on the aggregator (an own entry,
// a policy added, one removed) within 2 s, by NOTIFY and IXFR; a Corefile policy of the edge that the
// aggregator drops goes back to the edge's definition. A NOTIFY from anyone but the primary is REFUSED.
func TestFollow(t *testing.T) {
	agg, edge, _, edgeText := startFollow(t, "")
	waitFor(t, "the first transfer", func() string { return rcodeIs(edge, t, "1.2.0.192.demo.threatstop.local.", dns.RcodeSuccess) })
	same := func(names ...string) string {
		for _, n := range names {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeTXT} {
				a, e := agg.Query(t, n+".threatstop.local.", qtype), edge.Query(t, n+".threatstop.local.", qtype)
				ga, ge := answers(a), answers(e)
				slices.Sort(ga)
				slices.Sort(ge)
				if a.Rcode != e.Rcode || !slices.Equal(ga, ge) {
					return fmt.Sprintf("%s %s: aggregator %s %q, edge %s %q", n, dns.TypeToString[qtype], dns.RcodeToString[a.Rcode], ga, dns.RcodeToString[e.Rcode], ge)
				}
			}
		}
		return ""
	}
	names := []string{"1.2.0.192.demo", "2.10.188.5.demo", "1.10.188.5.demo", "evil.example.demo", "8.8.8.8.demo",
		"bad.example.other", "2.10.188.5.other", "9.9.9.9.other"}
	if diff := same(names...); diff != "" {
		t.Fatal(diff)
	}
	if got := answers(edge.Query(t, "2.10.188.5.demo.threatstop.local.", dns.TypeA)); !slices.Equal(got, []string{"127.0.0.4"}) {
		t.Errorf("the aggregator's answer for spam: %q", got)
	}
	if msg := rcodeIs(edge, t, "bad.example.base.threatstop.local.", dns.RcodeSuccess); msg != "" {
		t.Errorf("the edge's own policy: %s", msg)
	}
	if msg := rcodeIs(edge, t, "2.10.188.5.x-drop.threatstop.local.", dns.RcodeNameError); msg != "" {
		t.Errorf("except x-*: %s", msg)
	}

	st := state.FromInstance(agg.Inst)
	took := map[string]time.Duration{}
	if _, err := st.Edit(0, "demo", func(c *policy.Config) error { c.Blocked = append(c.Blocked, "198.51.100.7"); return nil }); err != nil {
		t.Fatal(err)
	}
	took["an own entry"] = waitFor(t, "the edit", func() string { return rcodeIs(edge, t, "7.100.51.198.demo.threatstop.local.", dns.RcodeSuccess) })
	drop, _ := st.ListID("drop")
	if _, err := st.AddPolicy(0, "other", policy.Config{Name: "fresh", Block: []int{drop}, Blocked: []string{"fresh.example"}}); err != nil {
		t.Fatal(err)
	}
	took["a new policy"] = waitFor(t, "the new policy", func() string {
		if msg := rcodeIs(edge, t, "fresh.example.fresh.threatstop.local.", dns.RcodeSuccess); msg != "" {
			return msg
		}
		return same("fresh.example.fresh", "2.10.188.5.fresh", "8.8.8.8.fresh")
	})
	// A reload of the edge serves what it followed from the start, before any transfer.
	inst, err := edge.Inst.Restart(coretest.Input(edgeText))
	if err != nil {
		t.Fatal(err)
	}
	edge.Inst = inst
	if msg := rcodeIs(edge, t, "fresh.example.fresh.threatstop.local.", dns.RcodeSuccess); msg != "" {
		t.Errorf("right after a reload of the edge: %s", msg)
	}
	if _, err := st.RemovePolicy(0, "fresh"); err != nil {
		t.Fatal(err)
	}
	took["a policy removed"] = waitFor(t, "the removal", func() string { return rcodeIs(edge, t, "fresh.example.fresh.threatstop.local.", dns.RcodeNameError) })
	if _, err := st.RemovePolicy(0, "demo"); err != nil {
		t.Fatal(err)
	}
	took["a Corefile policy dropped"] = waitFor(t, "demo dropped", func() string {
		if msg := rcodeIs(edge, t, "1.2.0.192.demo.threatstop.local.", dns.RcodeNameError); msg != "" {
			return msg
		}
		return rcodeIs(edge, t, "1.10.188.5.demo.threatstop.local.", dns.RcodeSuccess) // the edge's demo: no allow entry
	})
	t.Logf("on the edge after: %v", took)
	if got, want := coretestGauge(t, "coredns_threatstop_follow_serial", "config.threatstop.local."), float64(configSerial(t, agg)); got != want {
		t.Errorf("follow_serial %v, want the aggregator's %v", got, want)
	}

	m := new(dns.Msg)
	m.SetNotify("config.threatstop.local.")
	c := &dns.Client{Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}}}
	if r, _, err := c.Exchange(m, edge.UDP); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("NOTIFY from 127.0.0.2: %v %v, want REFUSED", r, err)
	}
}

func coretestGauge(t *testing.T, name, zone string) float64 {
	return coretest.Counter(t, name, map[string]string{"zone": zone})
}

// BenchmarkFollow: with 10,000 policies on the aggregator (its Corefile's), the first transfer of all
// of them to the edge (first-ms, from the start of both until the edge answers the last), and the time
// from an edit on the aggregator to the edge's answer (NOTIFY, IXFR, the change read and applied on the
// edge). The servers are started once for every round of the benchmark.
func BenchmarkFollow(b *testing.B) {
	const n = 10_000
	fb := &followBench
	waitEdge := func(name string, rcode int, limit time.Duration, from time.Time) time.Duration {
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		for {
			if r, _, err := c.Exchange(m, fb.edge.UDP); err == nil && r.Rcode == rcode {
				return time.Since(from)
			}
			if time.Since(from) > limit {
				b.Fatalf("%s: not answered after %s", name, limit)
			}
			time.Sleep(time.Millisecond)
		}
	}
	fb.once.Do(func() {
		var extra strings.Builder
		for i := range n {
			fmt.Fprintf(&extra, "        policy c%05d {\n            lists drop\n            block 10.%d.%d.1\n        }\n", i, i/256, i%256)
		}
		// The edge first: in one process the two servers share their metric series, and an edge started
		// second would first drop the series of the aggregator's 10,000 policies as its own removed ones.
		start := time.Now()
		fb.agg, fb.edge, _, _ = startFollowing(noCleanup{b}, extra.String(), true)
		fb.first = waitEdge(fmt.Sprintf("1.%d.%d.10.c%05d.threatstop.local.", (n-1)%256, (n-1)/256, n-1), dns.RcodeSuccess, 60*time.Second, start)
	})
	st := state.FromInstance(fb.agg.Inst)
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fb.edits++
		e := fb.edits
		entry := fmt.Sprintf("198.51.%d.%d", e/256%256, e%256)
		name := fmt.Sprintf("c%05d", e%n)
		start := time.Now()
		if _, err := st.Edit(0, name, func(c *policy.Config) error { c.Blocked = append(c.Blocked, entry); return nil }); err != nil {
			b.Fatal(err)
		}
		q := fmt.Sprintf("%d.%d.51.198.%s.threatstop.local.", e%256, e/256%256, name)
		took = append(took, waitEdge(q, dns.RcodeSuccess, 5*time.Second, start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(fb.first.Milliseconds()), "first-ms")
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

var followBench struct {
	once      sync.Once
	agg, edge *coretest.Server
	first     time.Duration
	edits     int
}

// noCleanup is a testing.TB whose cleanups never run: servers kept for every round of a benchmark.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}

func (n noCleanup) TempDir() string {
	dir, err := os.MkdirTemp("", "follow-bench")
	if err != nil {
		n.Fatal(err)
	}
	return dir
}
