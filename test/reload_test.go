package test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// soaSerial returns the serial of the SOA at apex.
func soaSerial(t testing.TB, s *Server, apex string) uint32 {
	t.Helper()
	r := s.Query(t, apex, dns.TypeSOA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("%s SOA: %s %v", apex, rcode(r), r.Answer)
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		t.Fatalf("%s SOA: %v", apex, r.Answer[0])
	}
	return soa.Serial
}

// serialAfter reports whether serial a comes after b in RFC 1982 arithmetic.
func serialAfter(a, b uint32) bool { return int32(a-b) > 0 }

// listedA returns "" when name answers NOERROR with exactly the A record want, else what it got.
func listedA(t testing.TB, s *Server, network, name, want string) string {
	t.Helper()
	r := s.QueryNet(t, network, name, dns.TypeA)
	if a := aRecords(r); r.Rcode != dns.RcodeSuccess || len(a) != 1 || a[0] != want {
		return fmt.Sprintf("%s %s: %s %v, want NOERROR with A %s", network, name, rcode(r), a, want)
	}
	return ""
}

// notListed returns "" when name answers NXDOMAIN, else what it got.
func notListed(t testing.TB, s *Server, network, name string) string {
	t.Helper()
	r := s.QueryNet(t, network, name, dns.TypeA)
	if r.Rcode != dns.RcodeNameError {
		return fmt.Sprintf("%s %s: %s %v, want NXDOMAIN", network, name, rcode(r), aRecords(r))
	}
	return ""
}

// withLine returns feed data with one more line.
func withLine(data []byte, line string) []byte {
	out := bytes.Clone(data)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, line+"\n"...)
}

// withoutLines returns feed data without the lines that start with prefix.
func withoutLines(t testing.TB, data []byte, prefix string) []byte {
	t.Helper()
	var out []byte
	n := 0
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(l, []byte(prefix)) {
			n++
			continue
		}
		out = append(out, l...)
	}
	if n == 0 {
		t.Fatalf("no line starts with %q", prefix)
	}
	return out
}

// TestSerialFollowsFeedChanges: the SOA serial of a policy increases when a feed it uses (to block or to
// allow) changes on disk, and stays when the feed it uses did not change or changed only in comments.
func TestSerialFollowsFeedChanges(t *testing.T) {
	t.Parallel()
	s := startServer(t, "reload.corefile", reloadFeeds...)
	apexes := []string{zone, apexOf("spam"), apexOf("tor"), apexOf("torallow"), apexOf("web")}
	serials := func() map[string]uint32 {
		m := map[string]uint32{}
		for _, a := range apexes {
			m[a] = soaSerial(t, s, a)
		}
		return m
	}
	before := serials()
	drop := readFeed(t, "spamhaus_drop.txt")
	path := s.Path("spamhaus_drop.txt")
	marker := v4(t, "45.61.137.1", "spam")

	// The same entries in other bytes: a new file, but no new version and no new serial. Nothing can be
	// observed when the feed is polled and found unchanged, so this waits for several refresh intervals.
	replaceFile(t, path, append([]byte("; re-downloaded, same entries\n"), drop...))
	time.Sleep(5 * 200 * time.Millisecond)
	if got := serials(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("serials after a comment-only change: %v, want unchanged %v", got, before)
	}

	// A real change: 45.61.137.0/24 is added to the DROP feed.
	replaceFile(t, path, withLine(drop, "45.61.137.0/24 ; SBL-TEST"))
	eventually(t, reloadTimeout, func() string { return listedA(t, s, "udp", marker, "127.0.0.2") })
	after := serials()
	for _, a := range []string{apexOf("spam"), apexOf("torallow")} {
		if !serialAfter(after[a], before[a]) {
			t.Errorf("serial of %s (uses spamhaus-drop): %d after the change, was %d; want it to increase", a, after[a], before[a])
		}
	}
	for _, a := range []string{apexOf("tor"), apexOf("web")} {
		if after[a] != before[a] {
			t.Errorf("serial of %s (does not use spamhaus-drop): %d after the change, was %d; want it kept", a, after[a], before[a])
		}
	}
	if serialAfter(before[zone], after[zone]) {
		t.Errorf("zone serial went back from %d to %d", before[zone], after[zone])
	}
	// The serial in the authority section of a negative answer is the new one too.
	r := s.Query(t, v4(t, "8.8.8.8", "spam"), dns.TypeA)
	if soa := authSOA(r); soa == nil || soa.Serial != after[apexOf("spam")] {
		t.Errorf("NXDOMAIN SOA in spam: %v, want serial %d", r.Ns, after[apexOf("spam")])
	}
	if v, ok := s.Metric(`coredns_threatstop_policy_serial{policy="spam"}`); !ok || uint32(v) != after[apexOf("spam")] {
		t.Errorf("coredns_threatstop_policy_serial{policy=\"spam\"} = %v (present %v), want %d", v, ok, after[apexOf("spam")])
	}
	s.WaitLog(t, regexp.MustCompile(`feed spamhaus-drop \(file [^)]*\): version 2, \d+ entries`), reloadTimeout)

	// A second change, very likely within the same second: the serial still increases (old+1).
	replaceFile(t, path, drop)
	eventually(t, reloadTimeout, func() string { return notListed(t, s, "udp", marker) })
	again := serials()
	if !serialAfter(again[apexOf("spam")], after[apexOf("spam")]) {
		t.Errorf("serial of spam after a second change: %d, was %d; want it to increase", again[apexOf("spam")], after[apexOf("spam")])
	}
	if again[apexOf("tor")] != before[apexOf("tor")] || again[apexOf("web")] != before[apexOf("web")] {
		t.Errorf("serials of tor and web after two changes of spamhaus-drop: %v, want %v", again, before)
	}

	// And a change of tor-exits moves tor and torallow, not spam.
	replaceFile(t, s.Path("tor_exit_nodes.lst"), withLine(readFeed(t, "tor_exit_nodes.lst"), "45.61.138.44"))
	eventually(t, reloadTimeout, func() string { return listedA(t, s, "udp", v4(t, "45.61.138.44", "tor"), "127.0.0.3") })
	third := serials()
	for _, a := range []string{apexOf("tor"), apexOf("torallow")} {
		if !serialAfter(third[a], again[a]) {
			t.Errorf("serial of %s after tor-exits changed: %d, was %d; want it to increase", a, third[a], again[a])
		}
	}
	if third[apexOf("spam")] != again[apexOf("spam")] || third[apexOf("web")] != again[apexOf("web")] {
		t.Errorf("serials of spam and web after tor-exits changed: %v, want %v", third, again)
	}
}

// TestFeedSwapUnderLoad replaces a feed file (write, then rename over it) while clients query without
// pause over UDP and TCP: every answer is the old or the new correct one, never an error or a timeout, and
// once a client has seen the new content it never sees the old again.
func TestFeedSwapUnderLoad(t *testing.T) {
	t.Parallel()
	s := startServer(t, "reload.corefile", reloadFeeds...)
	drop := readFeed(t, "spamhaus_drop.txt")
	next := withLine(withoutLines(t, drop, "1.10.16.0/20"), "45.61.137.0/24 ; SBL-TEST")

	type probe struct {
		name     string
		old, new string // "NX" or the A record
	}
	probes := []probe{
		{v4(t, "1.10.16.1", "spam"), "127.0.0.2", "NX"},           // removed
		{v4(t, "45.61.137.1", "spam"), "NX", "127.0.0.2"},         // added
		{v4(t, "1.19.0.1", "spam"), "127.0.0.2", "127.0.0.2"},     // kept
		{v4(t, "8.8.8.8", "spam"), "NX", "NX"},                    // never listed
		{v4(t, "101.99.92.179", "tor"), "127.0.0.3", "127.0.0.3"}, // another feed
		{dn("01print.ma", "web"), "127.0.0.2", "127.0.0.2"},       // names
	}
	changing := 0 // probes whose answer the swap changes
	for _, pr := range probes {
		if pr.old != pr.new {
			changing++
		}
	}
	const workersPerNet = 3
	const maxRounds = 100000 // per worker, a bound beside the deadline

	var (
		stop     atomic.Bool
		swapped  atomic.Bool
		failures atomic.Int64
		queries  atomic.Int64
		mu       sync.Mutex
		errs     []string
	)
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 20 {
			mu.Lock()
			errs = append(errs, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
	}
	type progress struct {
		rounds        atomic.Int64
		roundsWithNew atomic.Int64 // rounds in which every changing probe gave the new answer
	}
	var workers []*progress
	var wg sync.WaitGroup
	for _, network := range []string{"udp", "tcp"} {
		for w := range workersPerNet {
			p := &progress{}
			workers = append(workers, p)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &dns.Client{Net: network, Timeout: queryTimeout}
				var conn *dns.Conn
				if network == "tcp" {
					var err error
					if conn, err = c.Dial(s.Addr); err != nil {
						fail("%s worker %d: dial: %v", network, w, err)
						return
					}
					defer conn.Close()
				}
				sawNew := false
				for round := 0; round < maxRounds && !stop.Load(); round++ {
					newCount := 0
					for _, pr := range probes {
						m := new(dns.Msg)
						m.SetQuestion(pr.name, dns.TypeA)
						m.RecursionDesired = false
						var r *dns.Msg
						var err error
						if conn != nil {
							r, _, err = c.ExchangeWithConn(m, conn)
						} else {
							r, _, err = c.Exchange(m, s.Addr)
						}
						queries.Add(1)
						if err != nil {
							fail("%s worker %d: %s: %v", network, w, pr.name, err)
							continue
						}
						got := ""
						switch a := aRecords(r); {
						case r.Rcode == dns.RcodeNameError && len(r.Answer) == 0:
							got = "NX"
						case r.Rcode == dns.RcodeSuccess && len(a) == 1 && len(r.Answer) == 1:
							got = a[0]
						default:
							fail("%s worker %d: %s: %s %v", network, w, pr.name, rcode(r), r.Answer)
							continue
						}
						switch {
						case pr.old == pr.new:
							if got != pr.old {
								fail("%s worker %d: %s: %s, want %s", network, w, pr.name, got, pr.old)
							}
						case got == pr.new:
							if !swapped.Load() {
								fail("%s worker %d: %s: new answer %s before the file was replaced", network, w, pr.name, got)
							}
							newCount++
							sawNew = true
						case got == pr.old:
							// Sequential queries of one client see snapshots in order: no way back.
							if sawNew {
								fail("%s worker %d: %s: old answer %s after a new one (round %d)", network, w, pr.name, got, round)
							}
						default:
							fail("%s worker %d: %s: %s, want %s (old) or %s (new)", network, w, pr.name, got, pr.old, pr.new)
						}
					}
					if newCount == changing {
						p.roundsWithNew.Add(1)
					}
					p.rounds.Add(1)
				}
			}()
		}
	}
	finish := func() {
		stop.Store(true)
		wg.Wait()
	}
	defer finish()

	waitRounds := func(what string, n int64, get func(*progress) int64) {
		deadline := time.Now().Add(reloadTimeout)
		for {
			done := true
			for _, p := range workers {
				if get(p) < n {
					done = false
				}
			}
			if done {
				return
			}
			if time.Now().After(deadline) || failures.Load() > 20 {
				finish()
				t.Fatalf("workers did not reach %d rounds %s within %s (%d failures: %v)", n, what, reloadTimeout, failures.Load(), errs)
			}
			time.Sleep(pollInterval)
		}
	}
	waitRounds("before the swap", 20, func(p *progress) int64 { return p.rounds.Load() })
	swapped.Store(true)
	replaceFile(t, s.Path("spamhaus_drop.txt"), next)
	waitRounds("with the new content", 30, func(p *progress) int64 { return p.roundsWithNew.Load() })
	finish()

	t.Logf("%d queries, %d failures", queries.Load(), failures.Load())
	if n := failures.Load(); n > 0 {
		t.Errorf("%d failed or wrong answers during the swap; first ones:\n%s", n, strings.Join(errs, "\n"))
	}
	s.CheckAlive(t, v4(t, "45.61.137.1", "spam"), dns.TypeA, dns.RcodeSuccess)
}

// TestBadFeedKeepsLastGood breaks four feeds in four ways at once: an HTML error page, random bytes, a
// file truncated to empty, a deleted file. Each keeps serving its last good content, the log names the
// feed and the error, the load-error counter of the feed rises, and a good file brings new content.
func TestBadFeedKeepsLastGood(t *testing.T) {
	t.Parallel()
	s := startServer(t, "reload.corefile", reloadFeeds...)

	type breakage struct {
		feed, file string
		how        string
		breakIt    func(path string)
		logRE      string // the error in the log
		kept       string // query name listed before and while broken
		keptA      string
		restore    string // line added to the good content that brings it back
		newName    string // listed only with the restored content
	}
	html := []byte("<!DOCTYPE html>\n<html>\n<head><title>503 Service Unavailable</title></head>\n<body>\n<h1>503 Service Unavailable</h1>\n<p>The feed is temporarily unavailable.</p>\n</body>\n</html>\n")
	rnd := rand.New(rand.NewPCG(42, 7))
	junk := make([]byte, 8192)
	for i := range junk {
		junk[i] = byte(rnd.Uint32())
	}
	cases := []breakage{
		{
			feed: "spamhaus-drop", file: "spamhaus_drop.txt", how: "HTML error page",
			breakIt: func(p string) { replaceFile(t, p, html) },
			logRE:   `more invalid lines than entries`,
			kept:    v4(t, "1.10.16.1", "spam"), keptA: "127.0.0.2",
			restore: "45.61.137.0/24 ; SBL-TEST", newName: v4(t, "45.61.137.1", "spam"),
		},
		{
			feed: "tor-exits", file: "tor_exit_nodes.lst", how: "random bytes",
			breakIt: func(p string) { replaceFile(t, p, junk) },
			logRE:   `more invalid lines than entries`,
			kept:    v4(t, "101.99.92.179", "tor"), keptA: "127.0.0.3",
			restore: "45.61.138.44", newName: v4(t, "45.61.138.44", "tor"),
		},
		{
			feed: "urlhaus", file: "urlhaus-filter-hosts.txt", how: "truncated to empty",
			breakIt: func(p string) {
				if err := os.Truncate(p, 0); err != nil {
					t.Fatal(err)
				}
			},
			logRE: `no entries, after having had entries before`,
			kept:  dn("01print.ma", "web"), keptA: "127.0.0.2",
			restore: "0.0.0.0 restored-malware.example", newName: dn("restored-malware.example", "web"),
		},
		{
			feed: "hagezi-fake", file: "hagezi_fake.wildcard.txt", how: "deleted",
			breakIt: func(p string) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			},
			logRE: `no such file or directory`,
			kept:  dn("x.eoutlet.2023shoponline.com", "web"), keptA: "127.0.0.2",
			restore: "*.restored-fraud.example", newName: dn("a.restored-fraud.example", "web"),
		},
	}
	checkKept := func(when string) {
		t.Helper()
		for _, c := range cases {
			for _, network := range []string{"udp", "tcp"} {
				if msg := listedA(t, s, network, c.kept, c.keptA); msg != "" {
					t.Errorf("%s (%s, %s): %s", c.feed, c.how, when, msg)
				}
			}
		}
	}
	checkKept("before")
	before := map[string]uint32{}
	for _, p := range []string{"spam", "tor", "web"} {
		before[p] = soaSerial(t, s, apexOf(p))
	}

	for _, c := range cases {
		c.breakIt(s.Path(c.file))
	}
	for _, c := range cases {
		series := fmt.Sprintf(`coredns_threatfeed_load_errors_total{feed=%q}`, c.feed)
		eventually(t, reloadTimeout, func() string {
			if v, ok := s.Metric(series); !ok || v <= 0 {
				return fmt.Sprintf("%s (%s): %s = %v (present %v), want > 0", c.feed, c.how, series, v, ok)
			}
			return ""
		})
		s.WaitLog(t, regexp.MustCompile(`plugin/threatfeed: feed `+regexp.QuoteMeta(c.feed)+` \(file [^)]*`+regexp.QuoteMeta(c.file)+`\): .*`+c.logRE), reloadTimeout)
	}
	checkKept("broken")
	// Still broken several polls later: still served, no new serial, still ready, and no claim of recovery.
	time.Sleep(5 * 200 * time.Millisecond)
	checkKept("broken, later")
	for p, was := range before {
		if got := soaSerial(t, s, apexOf(p)); got != was {
			t.Errorf("serial of %s while its feeds are broken: %d, was %d; want it kept", p, got, was)
		}
	}
	if code, body := s.Ready(); code != 200 {
		t.Errorf("ready while feeds are broken but have a last good version: %d %q, want 200", code, body)
	}
	// A rejected version is not re-read while the file stays the same; that must not be logged as the feed
	// loading again (operators read that line as "recovered").
	var claimed []string
	for _, c := range cases {
		re := regexp.MustCompile(`feed ` + regexp.QuoteMeta(c.feed) + ` \([^)]*\): loading again`)
		if m := re.FindString(s.Output()); m != "" {
			claimed = append(claimed, fmt.Sprintf("%s (%s): %q", c.feed, c.how, m))
		}
	}
	if len(claimed) > 0 {
		t.Errorf("the log reports recovery while the files are still broken:\n%s", strings.Join(claimed, "\n"))
	}

	// Good files again, each with one new entry.
	for _, c := range cases {
		replaceFile(t, s.Path(c.file), withLine(readFeed(t, c.file), c.restore))
	}
	for _, c := range cases {
		want := c.keptA
		eventually(t, reloadTimeout, func() string { return listedA(t, s, "udp", c.newName, want) })
		s.WaitLog(t, regexp.MustCompile(`feed `+regexp.QuoteMeta(c.feed)+` \([^)]*\): version 2, \d+ entries`), reloadTimeout)
	}
	checkKept("restored")
	for p, was := range before {
		if got := soaSerial(t, s, apexOf(p)); !serialAfter(got, was) {
			t.Errorf("serial of %s after its feeds were restored with new content: %d, was %d; want it to increase", p, got, was)
		}
	}
}

// TestReadyWaitsForMissingFeed: with a configured feed file missing at start, the ready endpoint answers
// 503 (and the other feeds are served); once the file appears it answers 200 and the feed is served.
func TestReadyWaitsForMissingFeed(t *testing.T) {
	t.Parallel()
	s := newServer(t, "spamhaus_drop.txt", "tor_exit_nodes.lst", "urlhaus-filter-hosts.txt") // no hagezi
	s.Start("reload.corefile", false)

	code, body := s.Ready()
	if code != 503 {
		t.Fatalf("ready with hagezi_fake.wildcard.txt missing: %d %q, want 503", code, body)
	}
	if !strings.Contains(body, "threatfeed") {
		t.Errorf("ready body %q does not name threatfeed", body)
	}
	s.WaitLog(t, regexp.MustCompile(`feed hagezi-fake \(file [^)]*hagezi_fake\.wildcard\.txt\): .*no such file or directory`), reloadTimeout)
	if msg := listedA(t, s, "udp", v4(t, "1.10.16.1", "spam"), "127.0.0.2"); msg != "" {
		t.Errorf("the feeds that loaded are not served while another is missing: %s", msg)
	}
	if msg := notListed(t, s, "udp", dn("x.eoutlet.2023shoponline.com", "web")); msg != "" {
		t.Errorf("the missing feed: %s", msg)
	}
	// Still missing a few polls later: still not ready.
	time.Sleep(3 * 200 * time.Millisecond)
	if code, body := s.Ready(); code != 503 {
		t.Errorf("ready with the file still missing: %d %q, want 503", code, body)
	}

	replaceFile(t, s.Path("hagezi_fake.wildcard.txt"), readFeed(t, "hagezi_fake.wildcard.txt"))
	// Poll closely: from the first 200 on, a load balancer sends traffic, so the feed must be served then.
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(reloadTimeout)
	for {
		code, body, err := httpGet(hc, s.ReadyURL)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ready after the file appeared: %d %q %v, want 200 within %s", code, body, err, reloadTimeout)
		}
		time.Sleep(time.Millisecond)
	}
	if msg := listedA(t, s, "udp", dn("x.eoutlet.2023shoponline.com", "web"), "127.0.0.2"); msg != "" {
		t.Errorf("ready answers 200, but the feed that appeared is not served yet: %s", msg)
	}
	eventually(t, reloadTimeout, func() string {
		return listedA(t, s, "udp", dn("x.eoutlet.2023shoponline.com", "web"), "127.0.0.2")
	})
	if code, body := s.Ready(); code != 200 {
		t.Errorf("ready again: %d %q", code, body)
	}
}

// TestReadyWaitsForAllSkippedFeed: a feed whose every line is skipped (HaGeZi's AdGuard regex rules read
// as adblock) is not loaded, like a feed that does not parse: the ready endpoint answers 503 and the log
// names the feed, the format and the skipped lines, while the other feeds are served. Once the file lists
// an entry, the feed loads and the server is ready.
func TestReadyWaitsForAllSkippedFeed(t *testing.T) {
	t.Parallel()
	const file = "hagezi_regex-wildcard-rules.adguard.txt"
	s := newServer(t, "spamhaus_drop.txt", file)
	s.Start("allskipped.corefile", false)

	// A few polls after start-up: the file was read and rejected each time, and nothing claims readiness.
	time.Sleep(3 * 200 * time.Millisecond)
	if code, body := s.Ready(); code != 503 || !strings.Contains(body, "threatfeed") {
		t.Errorf("ready with a feed whose every line is skipped: %d %q, want 503 naming threatfeed", code, body)
	}
	s.WaitLog(t, regexp.MustCompile(`\[ERROR\] plugin/threatfeed: feed hagezi-regex \(file [^)]*`+regexp.QuoteMeta(file)+`\): no entries: every line skipped \(33 lines skipped by format adblock`), reloadTimeout)
	if msg := listedA(t, s, "udp", v4(t, "1.10.16.1", "spam"), "127.0.0.2"); msg != "" {
		t.Errorf("the feed that loaded is not served: %s", msg)
	}
	if v, ok := s.Metric(`coredns_threatfeed_skipped_lines{feed="hagezi-regex"}`); !ok || v != 33 {
		t.Errorf("skipped_lines{feed=hagezi-regex} = %v (present %v), want 33", v, ok)
	}
	if _, ok := s.Metric(`coredns_threatfeed_entries{feed="hagezi-regex"}`); ok {
		t.Error("entries{feed=hagezi-regex} is exported: a version of it is served")
	}

	replaceFile(t, s.Path(file), withLine(readFeed(t, file), "||listed.example^"))
	eventually(t, reloadTimeout, func() string {
		if code, body := s.Ready(); code != 200 {
			return fmt.Sprintf("ready after the feed listed an entry: %d %q, want 200", code, body)
		}
		return ""
	})
	if msg := listedA(t, s, "udp", dn("listed.example", "ads"), "127.0.0.2"); msg != "" {
		t.Errorf("the entry of the loaded version: %s", msg)
	}
}
