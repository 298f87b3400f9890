package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// zone is the zone of every test Corefile; policies are <policy>.threatstop.test.
const zone = "threatstop.test."

// The SOA and TTLs that lookup.corefile implies.
const (
	soaNS       = "ns1.threatstop.test."
	soaMbox     = "hostmaster.threatstop.test."
	positiveTTL = 300
	negativeTTL = 60
)

// lookupFeeds are the feed files lookup.corefile reads: all the feeds of Corefile.example.
var lookupFeeds = []string{
	"spamhaus_drop.txt", "spamhaus_dropv6.txt", "firehol_level1.netset", "ipsum.txt",
	"tor_exit_nodes.lst", "urlhaus-filter-hosts.txt", "hagezi_fake.wildcard.txt",
}

// apexOf is the apex of a policy.
func apexOf(policy string) string { return policy + "." + zone }

// v4 and v6 are query names of addresses under a policy; dn is the query name of a domain.
func v4(t testing.TB, addr, policy string) string { return addrName(t, addr, apexOf(policy)) }
func v6(t testing.TB, addr, policy string) string { return addrName(t, addr, apexOf(policy)) }
func dn(domain, policy string) string             { return domain + "." + apexOf(policy) }

// wantListed checks a listed answer: NOERROR, authoritative, exactly the A records want (any order) with
// the configured TTL, owned by the query name.
func wantListed(t testing.TB, r *dns.Msg, qname string, want ...string) {
	t.Helper()
	if r.Rcode != dns.RcodeSuccess {
		t.Errorf("%s A: rcode %s, want NOERROR (listed, %v)\n%v", qname, rcode(r), want, r)
		return
	}
	if !r.Authoritative {
		t.Errorf("%s A: AA flag not set", qname)
	}
	got := aRecords(r)
	if len(got) != len(r.Answer) {
		t.Errorf("%s A: answer section has records other than A: %v", qname, r.Answer)
	}
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("%s A: answers %v, want %v", qname, got, w)
	}
	for _, rr := range r.Answer {
		if !strings.EqualFold(rr.Header().Name, qname) || rr.Header().Ttl != positiveTTL {
			t.Errorf("%s A: record %v, want owner %s and TTL %d", qname, rr, qname, positiveTTL)
		}
	}
}

// wantTXT checks a TXT answer: NOERROR and exactly the TXT strings want (any order).
func wantTXT(t testing.TB, r *dns.Msg, qname string, want ...string) {
	t.Helper()
	if r.Rcode != dns.RcodeSuccess {
		t.Errorf("%s TXT: rcode %s, want NOERROR with %q", qname, rcode(r), want)
		return
	}
	got := txtRecords(r)
	slices.Sort(got)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("%s TXT: %q, want %q", qname, got, w)
	}
}

// wantNegative checks NXDOMAIN (rc = dns.RcodeNameError) or NODATA (rc = dns.RcodeSuccess): the rcode,
// an empty answer section, and the SOA of apex in the authority section with the negative TTL.
func wantNegative(t testing.TB, r *dns.Msg, qname string, rc int, apex string) {
	t.Helper()
	what := map[int]string{dns.RcodeNameError: "NXDOMAIN", dns.RcodeSuccess: "NODATA"}[rc]
	if r.Rcode != rc {
		t.Errorf("%s: rcode %s, want %s\n%v", qname, rcode(r), what, r)
		return
	}
	if len(r.Answer) != 0 {
		t.Errorf("%s: %s with answers %v", qname, what, r.Answer)
	}
	if !r.Authoritative {
		t.Errorf("%s: %s without the AA flag", qname, what)
	}
	soa := authSOA(r)
	if soa == nil {
		t.Errorf("%s: %s without exactly one SOA in the authority section: %v", qname, what, r.Ns)
		return
	}
	if !strings.EqualFold(soa.Hdr.Name, apex) || soa.Ns != soaNS || soa.Mbox != soaMbox || soa.Minttl != negativeTTL || soa.Hdr.Ttl != negativeTTL || soa.Serial == 0 {
		t.Errorf("%s: %s authority %v, want the SOA of %s (ns %s, mbox %s, minimum and TTL %d, a serial)", qname, what, soa, apex, soaNS, soaMbox, negativeTTL)
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	s := startServer(t, "lookup.corefile", lookupFeeds...)

	type lookup struct {
		desc  string
		qname string
		a     []string // nil: not listed (NXDOMAIN with the policy's SOA)
		txt   []string // TXT strings when listed; nil: not checked
	}
	const (
		spamDrop   = "list=spamhaus-drop category=spam"
		spamDrop6  = "list=spamhaus-dropv6 category=spam"
		firehol    = "list=firehol-level1 category=attacks"
		tor        = "list=tor-exits category=tor"
		urlhaus    = "list=urlhaus category=malware"
		hagezi     = "list=hagezi-fake category=fraud"
		ipsum      = "list=ipsum category=scanner"
		customDemo = "list=custom category=custom"
	)
	cases := []lookup{
		// Listed and clean IPv4, IPv6 and domains, with their TXT reasons (one string per matching list).
		{"IPv4 in DROP and firehol", v4(t, "1.10.16.1", "demo"), []string{"127.0.0.2"}, []string{spamDrop, firehol}},
		{"IPv4 at the end of 1.10.16.0/20", v4(t, "1.10.31.255", "demo"), []string{"127.0.0.2"}, []string{spamDrop, firehol}},
		{"IPv4 clean", v4(t, "8.8.8.8", "demo"), nil, nil},
		{"IPv4 just past 1.10.16.0/20", v4(t, "1.10.32.0", "demo"), nil, nil},
		{"IPv6 inside a DROPv6 /48", v6(t, "2001:678:6c4::1", "demo"), []string{"127.0.0.2"}, []string{spamDrop6}},
		{"IPv6 at the end of a DROPv6 /48", v6(t, "2001:678:6c4:ffff:ffff:ffff:ffff:ffff", "demo"), []string{"127.0.0.2"}, []string{spamDrop6}},
		{"IPv6 just past a DROPv6 /48", v6(t, "2001:678:6c5::", "demo"), nil, nil},
		{"IPv6 tor exit, per-category answer", v6(t, "2001:470:1:908::9001", "demo"), []string{"127.0.0.3"}, []string{tor}},
		{"IPv6 next to a tor exit", v6(t, "2001:470:1:908::9002", "demo"), nil, nil},
		{"IPv6 clean", v6(t, "2001:4860:4860::8888", "demo"), nil, nil},
		{"IPv4 tor exit, per-category answer", v4(t, "101.99.92.179", "demo"), []string{"127.0.0.3"}, []string{tor}},
		{"hosts domain, per-category answer", dn("01print.ma", "demo"), []string{"127.0.0.4"}, []string{urlhaus}},
		{"hosts domain in upper case", dn("01PRINT.MA", "demo"), []string{"127.0.0.4"}, []string{urlhaus}},
		{"subdomain of a hosts domain (exact entries)", dn("www.01print.ma", "demo"), nil, nil},
		{"wildcard entry itself", dn("eoutlet.2023shoponline.com", "demo"), []string{"127.0.0.2"}, []string{hagezi}},
		{"subdomain of a wildcard entry", dn("a.b.eoutlet.2023shoponline.com", "demo"), []string{"127.0.0.2"}, []string{hagezi}},
		{"parent of a wildcard entry", dn("2023shoponline.com", "demo"), nil, nil},
		{"domain clean", dn("example.com", "demo"), nil, nil},

		// Allow wins over listings, in its own policy only.
		{"allow address inside a listed prefix", v4(t, "1.10.16.5", "demo"), nil, nil},
		{"neighbour of an allow address", v4(t, "1.10.16.6", "demo"), []string{"127.0.0.2"}, []string{spamDrop, firehol}},
		{"allow address in another policy", v4(t, "1.10.16.5", "mail"), []string{"127.0.0.2"}, []string{spamDrop}},
		{"allow IPv6 inside a listed prefix", v6(t, "2001:678:6c4::5", "demo"), nil, nil},
		{"allow domain", dn("01melliserendipity.buzz", "demo"), nil, nil},
		{"allow domain in another policy", dn("01melliserendipity.buzz", "fraud"), []string{"127.0.0.7"}, []string{urlhaus}},
		{"allow *.name covers a listed wildcard entry", dn("eu.2bagsvalley.cn", "demo"), nil, nil},
		{"allow *.name covers a listed subdomain", dn("x.eu.2bagsvalley.cn", "demo"), nil, nil},
		{"listed subdomain in another policy", dn("x.eu.2bagsvalley.cn", "fraud"), []string{"127.0.0.7"}, []string{hagezi}},

		// Own block entries are list "custom" with their own answer.
		{"block prefix", v4(t, "5.5.5.5", "demo"), []string{"127.0.0.10"}, nil},
		{"block IPv6 prefix", v6(t, "2001:db8:bad::1", "demo"), []string{"127.0.0.10"}, nil},
		{"block domain", dn("evil.example", "demo"), []string{"127.0.0.10"}, nil},
		{"subdomain of a block domain", dn("www.evil.example", "demo"), nil, nil},
		{"block *.name itself", dn("custom-bad.example", "demo"), []string{"127.0.0.10"}, nil},
		{"block *.name subdomain", dn("x.custom-bad.example", "demo"), []string{"127.0.0.10"}, nil},
		{"block entry and feeds together", v4(t, "1.19.0.1", "demo"), []string{"127.0.0.2", "127.0.0.10"}, nil},
		{"block entry of another policy", v4(t, "5.5.5.5", "mail"), nil, nil},

		// Per-category answers and categories.
		{"ipsum above min_score in category scanner", v4(t, "77.239.124.102", "mail"), []string{"127.0.0.5"}, []string{ipsum}},
		{"ipsum below min_score", v4(t, "1.0.164.165", "mail"), nil, nil},
		{"spam only: firehol not in mail", v4(t, "1.10.16.1", "mail"), []string{"127.0.0.2"}, []string{spamDrop}},
		{"spam category includes DROPv6", v6(t, "2001:678:6c4::1", "mail"), []string{"127.0.0.2"}, []string{spamDrop6}},
		{"tor not in mail", v4(t, "101.99.92.179", "mail"), nil, nil},
		{"answer default", dn("x.eoutlet.2023shoponline.com", "fraud"), []string{"127.0.0.7"}, []string{hagezi}},
		{"answer default for category malware", dn("01print.ma", "fraud"), []string{"127.0.0.7"}, []string{urlhaus}},
		{"spam not in fraud", v4(t, "1.10.16.1", "fraud"), nil, nil},
	}
	// RFC 5782 §5 test points, in every policy, whatever the feeds say (firehol lists 127.0.0.0/8).
	defaults := map[string]string{"demo": "127.0.0.2", "mail": "127.0.0.2", "fraud": "127.0.0.7"}
	for _, p := range []string{"demo", "mail", "fraud"} {
		d := []string{defaults[p]}
		cases = append(cases,
			lookup{"test point 127.0.0.2 in " + p, v4(t, "127.0.0.2", p), d, nil},
			lookup{"test point ::FFFF:7F00:2 in " + p, v6(t, "::ffff:7f00:2", p), d, nil},
			lookup{"test point TEST in " + p, dn("test", p), d, nil},
			lookup{"test point 127.0.0.1 in " + p, v4(t, "127.0.0.1", p), nil, nil},
			lookup{"test point ::FFFF:7F00:1 in " + p, v6(t, "::ffff:7f00:1", p), nil, nil},
			lookup{"test point INVALID in " + p, dn("invalid", p), nil, nil},
		)
	}

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			for _, c := range cases {
				policy := strings.TrimSuffix(c.qname, "."+zone)
				policy = policy[strings.LastIndexByte(policy, '.')+1:]
				r := s.QueryNet(t, network, c.qname, dns.TypeA)
				if c.a == nil {
					t.Run(c.desc, func(t *testing.T) { wantNegative(t, r, c.qname, dns.RcodeNameError, apexOf(policy)) })
					continue
				}
				t.Run(c.desc, func(t *testing.T) { wantListed(t, r, c.qname, c.a...) })
				r = s.QueryNet(t, network, c.qname, dns.TypeTXT)
				switch {
				case c.txt != nil:
					t.Run(c.desc+" TXT", func(t *testing.T) { wantTXT(t, r, c.qname, c.txt...) })
				default:
					if r.Rcode != dns.RcodeSuccess || len(txtRecords(r)) == 0 {
						t.Errorf("%s TXT: rcode %s, %d TXT records; want NOERROR with reasons", c.qname, rcode(r), len(txtRecords(r)))
					}
				}
			}
		})
	}

	t.Run("custom TXT", func(t *testing.T) {
		r := s.Query(t, v4(t, "5.5.5.5", "demo"), dns.TypeTXT)
		txt := txtRecords(r)
		if r.Rcode != dns.RcodeSuccess || len(txt) != 1 || !strings.HasPrefix(txt[0], customDemo) {
			t.Errorf("5.5.5.5 in demo TXT: %s %q, want one %q", rcode(r), txt, customDemo+"…")
		}
		r = s.Query(t, v4(t, "1.19.0.1", "demo"), dns.TypeTXT)
		txt = txtRecords(r)
		var custom, others []string
		for _, x := range txt {
			if strings.HasPrefix(x, customDemo) {
				custom = append(custom, x)
			} else {
				others = append(others, x)
			}
		}
		slices.Sort(others)
		if len(custom) != 1 || !slices.Equal(others, []string{firehol, spamDrop}) {
			t.Errorf("1.19.0.1 in demo TXT: %q, want one custom reason, %q and %q", txt, spamDrop, firehol)
		}
	})

	t.Run("apex", func(t *testing.T) {
		serials := map[string]uint32{}
		for _, apex := range []string{zone, apexOf("demo"), apexOf("mail"), apexOf("fraud")} {
			for _, network := range []string{"udp", "tcp"} {
				r := s.QueryNet(t, network, apex, dns.TypeSOA)
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.Authoritative {
					t.Errorf("%s %s SOA: %s with %d answers (AA %v), want NOERROR with one SOA", network, apex, rcode(r), len(r.Answer), r.Authoritative)
					continue
				}
				soa, ok := r.Answer[0].(*dns.SOA)
				if !ok || soa.Hdr.Name != apex || soa.Ns != soaNS || soa.Mbox != soaMbox || soa.Serial == 0 || soa.Minttl != negativeTTL {
					t.Errorf("%s %s SOA: %v, want owner %s, ns %s, mbox %s, minimum %d", network, apex, r.Answer[0], apex, soaNS, soaMbox, negativeTTL)
					continue
				}
				serials[apex] = soa.Serial

				r = s.QueryNet(t, network, apex, dns.TypeNS)
				var ns []string
				for _, rr := range r.Answer {
					if n, ok := rr.(*dns.NS); ok && n.Hdr.Name == apex {
						ns = append(ns, n.Ns)
					}
				}
				if r.Rcode != dns.RcodeSuccess || len(ns) != 1 || ns[0] != soaNS {
					t.Errorf("%s %s NS: %s %v, want NOERROR with NS %s", network, apex, rcode(r), r.Answer, soaNS)
				}
				for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX} {
					r := s.QueryNet(t, network, apex, qt)
					wantNegative(t, r, fmt.Sprintf("%s %s %s", network, apex, dns.TypeToString[qt]), dns.RcodeSuccess, apex)
				}
			}
		}
		// The SOA in a negative answer of a policy is the policy's SOA, with the same serial.
		r := s.Query(t, v4(t, "8.8.8.8", "demo"), dns.TypeA)
		if soa := authSOA(r); soa == nil || soa.Serial != serials[apexOf("demo")] {
			t.Errorf("SOA of an NXDOMAIN in demo: %v, want serial %d of the demo apex", r.Ns, serials[apexOf("demo")])
		}
	})

	t.Run("NODATA on listed names", func(t *testing.T) {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{v4(t, "1.10.16.1", "demo"), dns.TypeAAAA},
			{v4(t, "1.10.16.1", "demo"), dns.TypeMX},
			{v6(t, "2001:470:1:908::9001", "demo"), dns.TypeAAAA},
			{dn("01print.ma", "demo"), dns.TypeAAAA},
			{dn("x.eoutlet.2023shoponline.com", "demo"), dns.TypeNS},
			{v4(t, "5.5.5.5", "demo"), dns.TypeSOA},
			{dn("test", "mail"), dns.TypeMX},
			{v4(t, "127.0.0.2", "fraud"), dns.TypeAAAA},
		} {
			for _, network := range []string{"udp", "tcp"} {
				r := s.QueryNet(t, network, q.name, q.qtype)
				policy := strings.Split(strings.TrimSuffix(q.name, "."+zone), ".")
				wantNegative(t, r, fmt.Sprintf("%s %s %s", network, q.name, dns.TypeToString[q.qtype]), dns.RcodeSuccess, apexOf(policy[len(policy)-1]))
			}
		}
		// A clean name stays NXDOMAIN whatever the type.
		r := s.Query(t, v4(t, "8.8.8.8", "demo"), dns.TypeTXT)
		wantNegative(t, r, "8.8.8.8 in demo TXT", dns.RcodeNameError, apexOf("demo"))
	})

	t.Run("unknown policy", func(t *testing.T) {
		for _, name := range []string{
			"nosuch." + zone,
			v4(t, "1.10.16.1", "nosuch"),
			dn("01print.ma", "nosuch"),
			dn("test", "nosuch"),
			v4(t, "127.0.0.2", "nosuch"),
		} {
			for _, network := range []string{"udp", "tcp"} {
				for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
					r := s.QueryNet(t, network, name, qt)
					wantNegative(t, r, fmt.Sprintf("%s %s %s", network, name, dns.TypeToString[qt]), dns.RcodeNameError, zone)
				}
			}
		}
	})

	t.Run("dig", func(t *testing.T) {
		testDigLookups(t, s)
	})

	t.Run("metrics", func(t *testing.T) {
		for _, series := range []string{
			`coredns_threatstop_lookups_total{policy="demo",result="listed"}`,
			`coredns_threatstop_lookups_total{policy="demo",result="clean"}`,
			`coredns_threatfeed_entries{feed="spamhaus-drop"}`,
			`coredns_threatfeed_entries{feed="hagezi-fake"}`,
		} {
			if v, ok := s.Metric(series); !ok || v <= 0 {
				t.Errorf("metric %s = %v (present %v), want > 0", series, v, ok)
			}
		}
		if v, ok := s.Metric(`coredns_threatfeed_load_errors_total{feed="spamhaus-drop"}`); ok && v != 0 {
			t.Errorf("load errors for a good feed: %v", v)
		}
	})

	s.CheckAlive(t, v4(t, "1.10.16.1", "demo"), dns.TypeA, dns.RcodeSuccess)
}

// testDigLookups asks a few of the lookups again with dig, parsing its status line and records.
func testDigLookups(t *testing.T, s *Server) {
	listed := v4(t, "1.10.16.1", "demo")

	out := dig(t, s.Port, "+noall", "+answer", "+comments", listed, "A")
	if st := digStatus(t, out); st != "NOERROR" {
		t.Errorf("dig %s A: status %s, want NOERROR\n%s", listed, st, out)
	}
	rrs := digRRs(t, out)
	if len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeA || rrs[0].(*dns.A).A.String() != "127.0.0.2" {
		t.Errorf("dig %s A: %v, want one A 127.0.0.2\n%s", listed, rrs, out)
	}

	out = dig(t, s.Port, "+short", listed, "TXT")
	got := digShort(out)
	slices.Sort(got)
	want := []string{`"list=firehol-level1 category=attacks"`, `"list=spamhaus-drop category=spam"`}
	if !slices.Equal(got, want) {
		t.Errorf("dig +short %s TXT: %q, want %q", listed, got, want)
	}

	clean := v4(t, "8.8.8.8", "demo")
	out = dig(t, s.Port, "+noall", "+authority", "+comments", clean, "A")
	if st := digStatus(t, out); st != "NXDOMAIN" {
		t.Errorf("dig %s A: status %s, want NXDOMAIN\n%s", clean, st, out)
	}
	rrs = digRRs(t, out)
	if len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[0].Header().Name != apexOf("demo") {
		t.Errorf("dig %s A authority: %v, want the SOA of %s\n%s", clean, rrs, apexOf("demo"), out)
	}

	torName := v6(t, "2001:470:1:908::9001", "demo")
	if got := digShort(dig(t, s.Port, "+short", torName, "A")); !slices.Equal(got, []string{"127.0.0.3"}) {
		t.Errorf("dig +short %s A: %q, want 127.0.0.3", torName, got)
	}
	if got := digShort(dig(t, s.Port, "+short", "+tcp", dn("01print.ma", "demo"), "A")); !slices.Equal(got, []string{"127.0.0.4"}) {
		t.Errorf("dig +tcp +short 01print.ma in demo: %q, want 127.0.0.4", got)
	}
	if got := digShort(dig(t, s.Port, "+short", dn("x.eoutlet.2023shoponline.com", "demo"), "A")); !slices.Equal(got, []string{"127.0.0.2"}) {
		t.Errorf("dig +short x.eoutlet.2023shoponline.com in demo: %q, want 127.0.0.2", got)
	}

	out = dig(t, s.Port, "+noall", "+answer", "+comments", apexOf("demo"), "SOA")
	if st := digStatus(t, out); st != "NOERROR" {
		t.Errorf("dig %s SOA: status %s\n%s", apexOf("demo"), st, out)
	}
	if rrs := digRRs(t, out); len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("dig %s SOA: %v, want one SOA\n%s", apexOf("demo"), rrs, out)
	}

	out = dig(t, s.Port, "+noall", "+answer", "+comments", "nosuch."+zone, "A")
	if st := digStatus(t, out); st != "NXDOMAIN" {
		t.Errorf("dig nosuch.%s: status %s, want NXDOMAIN\n%s", zone, st, out)
	}
}
