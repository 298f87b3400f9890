package threatstop_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// corefile serves two policies from three small feeds written into dir.
func corefile(t *testing.T, dir string, extra string) string {
	t.Helper()
	files := map[string]string{
		"drop.txt":  "; test DROP\n5.188.10.0/24 ; SBL1\n2a00:4c80::/29 ; SBL2\n",
		"c2.txt":    "5.188.10.7\nc2.example\n",
		"wild.txt":  "*.phish.example\n",
		"tor.txt":   "185.220.101.9\n",
		"hosts.txt": "127.0.0.1 localhost\n0.0.0.0 malware.example\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`threatstop.local:0 dnsbl.example.net:0 {
    bind 127.0.0.1
    threatfeed {
        refresh 50ms
        feed drop {
            file %[1]s/drop.txt
            format spamhaus
            category spam
        }
        feed c2 {
            file %[1]s/c2.txt
            format plain
            category botnet
        }
        feed wild {
            file %[1]s/wild.txt
            format wildcard
            category fraud
        }
        feed tor {
            file %[1]s/tor.txt
            format plain
            category tor
        }
        feed hosts {
            file %[1]s/hosts.txt
            format hosts
            category malware
        }
    }
    threatstop {
        ttl 120
        negative_ttl 30
        policy demo {
            lists drop c2 wild hosts
            block 192.0.2.0/28 evil.example
            allow 5.188.10.1 ok.phish.example
            answer botnet 127.0.0.3
            answer custom 127.0.0.10
            clients 127.0.0.1
        }
        policy tor {
            categories tor
            clients 127.0.0.1
        }
%[2]s
    }
}
`, dir, extra)
}

func start(t *testing.T, extra string) (*coretest.Server, string) {
	dir := t.TempDir()
	return coretest.Start(t, corefile(t, dir, extra)), dir
}

func answers(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.TXT:
			out = append(out, strings.Join(rr.Txt, " "))
		case *dns.NS:
			out = append(out, rr.Ns)
		case *dns.SOA:
			out = append(out, rr.Ns)
		}
	}
	return out
}

func soaSerial(t *testing.T, r *dns.Msg) uint32 {
	t.Helper()
	for _, rr := range append(r.Answer, r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial
		}
	}
	t.Fatalf("no SOA in %v", r)
	return 0
}

func TestLookups(t *testing.T) {
	s, _ := start(t, "")
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"7.10.188.5.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2", "127.0.0.3"}},
		{"7.10.188.5.demo.threatstop.local.", dns.TypeTXT, dns.RcodeSuccess, []string{"list=drop category=spam", "list=c2 category=botnet"}},
		{"8.10.188.5.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2"}},
		{"1.10.188.5.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},    // allow wins
		{"9.101.220.185.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil}, // not in this policy
		{"9.101.220.185.tor.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2"}},
		{"5.2.0.192.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.10"}},
		{"5.2.0.192.demo.threatstop.local.", dns.TypeTXT, dns.RcodeSuccess, []string{"list=custom category=custom policy=demo"}},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.c.4.0.0.a.2.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2"}},
		{"c2.example.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.3"}},
		{"www.c2.example.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"a.b.phish.example.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2"}},
		{"ok.phish.example.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"malware.example.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2"}},
		{"localhost.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil}, // hosts preamble
		{"evil.example.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.10"}},
		// Other zone of the same block, same policies.
		{"7.10.188.5.demo.dnsbl.example.net.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2", "127.0.0.3"}},
		// Letter case does not matter (0x20 resolvers); the answer keeps the query's spelling.
		{"C2.Example.DEMO.ThreatStop.Local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.3"}},
		// Test points.
		{"2.0.0.127.tor.threatstop.local.", dns.TypeA, dns.RcodeSuccess, []string{"127.0.0.2"}},
		{"1.0.0.127.tor.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"test.tor.threatstop.local.", dns.TypeTXT, dns.RcodeSuccess, []string{"RFC 5782 test point"}},
		{"invalid.tor.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		// Listed, other type: NODATA.
		{"c2.example.demo.threatstop.local.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"c2.example.demo.threatstop.local.", dns.TypeMX, dns.RcodeSuccess, nil},
		// ANY on a listed name gives both.
		{"c2.example.demo.threatstop.local.", dns.TypeANY, dns.RcodeSuccess, []string{"127.0.0.3", "list=c2 category=botnet"}},
		// Apexes.
		{"demo.threatstop.local.", dns.TypeNS, dns.RcodeSuccess, []string{"ns1.threatstop.local."}},
		{"demo.threatstop.local.", dns.TypeSOA, dns.RcodeSuccess, []string{"ns1.threatstop.local."}},
		{"demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"threatstop.local.", dns.TypeNS, dns.RcodeSuccess, []string{"ns1.threatstop.local."}},
		{"dnsbl.example.net.", dns.TypeNS, dns.RcodeSuccess, []string{"ns1.dnsbl.example.net."}},
		// Unknown policy, malformed names.
		{"nosuch.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"7.10.188.5.nosuch.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"1.2.3.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"256.1.1.1.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"01.2.3.4.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"a\\000b.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"-bad-.example.demo.threatstop.local.", dns.TypeA, dns.RcodeNameError, nil},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			m := new(dns.Msg)
			m.SetQuestion(tc.name, tc.qtype)
			r := s.Exchange(t, proto, m)
			got := answers(r)
			if r.Rcode != tc.rcode || !slices.Equal(got, tc.want) {
				t.Errorf("%s %s %s: %s %v, want %s %v", proto, tc.name, dns.TypeToString[tc.qtype],
					dns.RcodeToString[r.Rcode], got, dns.RcodeToString[tc.rcode], tc.want)
				continue
			}
			if !r.Authoritative {
				t.Errorf("%s %s: not authoritative", proto, tc.name)
			}
			if len(r.Answer) == 0 {
				// Negative answers carry the SOA of the closest apex, with the negative TTL.
				if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Ttl != 30 {
					t.Errorf("%s %s: authority %v, want one SOA with TTL 30", proto, tc.name, r.Ns)
				}
			}
			for _, rr := range r.Answer {
				if rr.Header().Name != tc.name {
					t.Errorf("%s: owner %s", tc.name, rr.Header().Name)
				}
				if rr.Header().Rrtype != dns.TypeSOA && rr.Header().Ttl != 120 {
					t.Errorf("%s: TTL %d, want 120", tc.name, rr.Header().Ttl)
				}
			}
		}
	}
}

func TestNegativeSOAIsThePolicys(t *testing.T) {
	s, _ := start(t, "")
	r := s.Query(t, "9.9.9.9.demo.threatstop.local.", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || r.Ns[0].Header().Name != "demo.threatstop.local." {
		t.Fatalf("got %v", r)
	}
	r = s.Query(t, "nosuch.threatstop.local.", dns.TypeA)
	if r.Ns[0].Header().Name != "threatstop.local." {
		t.Fatalf("unknown policy: SOA of %s", r.Ns[0].Header().Name)
	}
}

// TestSerials: a feed change moves the serial of the policies that use it, and of no other.
func TestSerials(t *testing.T) {
	s, dir := start(t, "")
	demo := soaSerial(t, s.Query(t, "demo.threatstop.local.", dns.TypeSOA))
	tor := soaSerial(t, s.Query(t, "tor.threatstop.local.", dns.TypeSOA))
	zone := soaSerial(t, s.Query(t, "threatstop.local.", dns.TypeSOA))

	tmp := filepath.Join(dir, "c2.tmp")
	os.WriteFile(tmp, []byte("5.188.10.7\nc2.example\nnew-c2.example\n"), 0o644)
	if err := os.Rename(tmp, filepath.Join(dir, "c2.txt")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Query(t, "new-c2.example.demo.threatstop.local.", dns.TypeA).Rcode != dns.RcodeSuccess {
		if time.Now().After(deadline) {
			t.Fatal("the new entry never became live")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := soaSerial(t, s.Query(t, "demo.threatstop.local.", dns.TypeSOA)); int32(got-demo) <= 0 {
		t.Errorf("demo serial %d after a change of its feed, was %d", got, demo)
	}
	if got := soaSerial(t, s.Query(t, "tor.threatstop.local.", dns.TypeSOA)); got != tor {
		t.Errorf("tor serial %d after a change of a feed it does not use, was %d", got, tor)
	}
	if got := soaSerial(t, s.Query(t, "threatstop.local.", dns.TypeSOA)); int32(got-zone) <= 0 {
		t.Errorf("zone serial %d, was %d", got, zone)
	}
	// The NXDOMAIN of a clean name carries the new serial too: every answer comes from one state.
	if got := soaSerial(t, s.Query(t, "9.9.9.9.demo.threatstop.local.", dns.TypeA)); int32(got-demo) <= 0 {
		t.Errorf("negative answer serial %d, was %d", got, demo)
	}
}

func TestClientsRefused(t *testing.T) {
	s, _ := start(t, `        policy private {
            lists drop
            clients 10.0.0.0/8 ::1
        }`)
	lookups := func(result string) float64 {
		return coretest.Counter(t, "coredns_threatstop_lookups_total", map[string]string{"policy": "private", "result": result})
	}
	refused := lookups("refused")
	r := s.Query(t, "8.10.188.5.private.threatstop.local.", dns.TypeA)
	if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("query from 127.0.0.1 to a policy for 10/8: %s", dns.RcodeToString[r.Rcode])
	}
	if got := lookups("refused"); got != refused+1 {
		t.Errorf("lookups_total{result=refused} went from %v to %v", refused, got)
	}
	if r := s.Query(t, "8.10.188.5.demo.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("a policy whose clients hold 127.0.0.1: %s", dns.RcodeToString[r.Rcode])
	}
	// A name that is neither an address nor a domain counts as an error (and answers NXDOMAIN).
	demoErr := coretest.Counter(t, "coredns_threatstop_lookups_total", map[string]string{"policy": "demo", "result": "error"})
	if r := s.Query(t, "256.2.0.192.demo.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("malformed name: %s", dns.RcodeToString[r.Rcode])
	}
	if got := coretest.Counter(t, "coredns_threatstop_lookups_total", map[string]string{"policy": "demo", "result": "error"}); got != demoErr+1 {
		t.Errorf("lookups_total{result=error} went from %v to %v", demoErr, got)
	}
}

func TestClientsAllowed(t *testing.T) {
	s, _ := start(t, `        policy private {
            lists drop
            clients 127.0.0.0/8
        }`)
	if r := s.Query(t, "8.10.188.5.private.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("query from 127.0.0.1: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestClassRefused(t *testing.T) {
	s, _ := start(t, "")
	m := new(dns.Msg)
	m.SetQuestion("8.10.188.5.demo.threatstop.local.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	if r := s.Exchange(t, "udp", m); r.Rcode != dns.RcodeRefused {
		t.Errorf("CH query: %s", dns.RcodeToString[r.Rcode])
	}
}

// TestOutsideZone: names outside the zones go down the chain (here to nothing: SERVFAIL from CoreDNS).
func TestOutsideZone(t *testing.T) {
	s, _ := start(t, "")
	c := new(dns.Client)
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeA)
	r, _, err := c.Exchange(m, s.UDP)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode == dns.RcodeSuccess || r.Authoritative {
		t.Errorf("a name outside the zone got %v", r)
	}
}

func TestEDNS(t *testing.T) {
	s, _ := start(t, "")
	m := new(dns.Msg)
	m.SetQuestion("7.10.188.5.demo.threatstop.local.", dns.TypeTXT)
	m.SetEdns0(1232, true)
	r := s.Exchange(t, "udp", m)
	if opt := r.IsEdns0(); opt == nil || opt.UDPSize() == 0 {
		t.Errorf("no OPT record in the answer to an EDNS query: %v", r)
	}
}

// counter reads a counter of the default registry, which the prometheus plugin serves.
func counter(t *testing.T, name string, labels map[string]string) float64 {
	return coretest.Counter(t, name, labels)
}

func TestLookupMetrics(t *testing.T) {
	s, _ := start(t, `        policy metered {
            lists drop
            clients 127.0.0.1
        }`)
	get := func(result string) float64 {
		return counter(t, "coredns_threatstop_lookups_total", map[string]string{"policy": "metered", "result": result})
	}
	before := map[string]float64{"listed": get("listed"), "clean": get("clean"), "error": get("error")}
	s.Query(t, "8.10.188.5.metered.threatstop.local.", dns.TypeA)
	s.Query(t, "8.10.188.5.metered.threatstop.local.", dns.TypeTXT)
	s.Query(t, "9.9.9.9.metered.threatstop.local.", dns.TypeA)
	s.Query(t, "1.2.3.metered.threatstop.local.", dns.TypeA)
	for result, want := range map[string]float64{"listed": 2, "clean": 1, "error": 1} {
		if got := get(result) - before[result]; got != want {
			t.Errorf("lookups_total{result=%q} grew by %v, want %v", result, got, want)
		}
	}
}

// TestHitsByList: a listed lookup counts in hits_total under each list that lists it, own entries as
// custom; a clean one counts nowhere.
func TestHitsByList(t *testing.T) {
	s, _ := start(t, `        policy hits {
            lists drop
            block 203.0.113.7
        }`)
	hit := func(list string) float64 {
		return coretest.Counter(t, "coredns_threatstop_hits_total", map[string]string{"policy": "hits", "list": list})
	}
	drop, custom := hit("drop"), hit("custom")
	for _, q := range []string{"8.10.188.5", "7.113.0.203", "9.9.9.9"} {
		s.Query(t, q+".hits.threatstop.local.", dns.TypeA)
	}
	if got := hit("drop"); got != drop+1 {
		t.Errorf("hits_total{list=drop} went from %v to %v, want one more", drop, got)
	}
	if got := hit("custom"); got != custom+1 {
		t.Errorf("hits_total{list=custom} went from %v to %v, want one more", custom, got)
	}
}
