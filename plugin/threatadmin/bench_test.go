package threatadmin_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// benchFeeds are the feeds of the benchmarks' servers: those of make bench's data set when
// $THREATSTOP_BENCH_FEEDS names its folder (v4.txt, v6.txt, dom.txt: bench/out/data-*/feeds, 2.1M
// entries), else one feed of 5,000 prefixes made here. It returns the threatfeed block's feeds.
func benchFeeds(b *testing.B) string {
	if d := os.Getenv("THREATSTOP_BENCH_FEEDS"); d != "" {
		var out strings.Builder
		for _, f := range []string{"v4", "v6", "dom"} {
			fmt.Fprintf(&out, "        feed %s {\n            file %s\n            format plain\n            category bench\n        }\n", f, filepath.Join(d, f+".txt"))
		}
		return out.String()
	}
	feed := filepath.Join(b.TempDir(), "drop.txt")
	var lines strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&lines, "5.%d.%d.0/24\n", 100+i/256, i%256)
	}
	if err := os.WriteFile(feed, []byte(lines.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return fmt.Sprintf("        feed drop {\n            file %s\n            format plain\n            category spam\n        }\n", feed)
}

// benchServer serves n policies p0 ... over the benchmark feeds; customer demo owns p0, p5000 and p9999
// (those of them there are).
func benchServer(b *testing.B, n int) (*coretest.Server, string) {
	api := freeAddr(b)
	text := benchCorefile(b, n, api, filepath.Join(b.TempDir(), "admin.db"))
	return coretest.Start(b, text), api
}

// benchCorefile is benchServer's Corefile, with the API on api and the database at db.
func benchCorefile(b *testing.B, n int, api, db string) string {
	feeds := benchFeeds(b)
	var ps strings.Builder
	for i := range n {
		fmt.Fprintf(&ps, "        policy p%d {\n            lists %s\n            block 192.0.2.%d\n            clients 127.0.0.1\n        }\n", i, benchLists(feeds), i%256)
	}
	owned := []string{"p0"}
	for _, i := range []int{5000, 9999} {
		if i < n {
			owned = append(owned, fmt.Sprintf("p%d", i))
		}
	}
	return fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    threatfeed {
%s    }
    threatstop {
%s    }
    threatadmin {
        listen %s
        db %s
        customer demo {
            policies %s
            token %s
        }
    }
}
`, feeds, ps.String(), api, db, strings.Join(owned, " "), demoToken)
}

// benchLists are the names of the feeds of benchFeeds' block.
func benchLists(feeds string) string {
	if strings.Contains(feeds, "feed drop") {
		return "drop"
	}
	return "v4 v6 dom"
}

// BenchmarkEditVisible: an API edit until the DNS answer shows it, with 10,000 policies served: the POST
// of a new block entry for one policy, then queries until its address is listed. Reports p50 and p99 of
// the whole round trip (HTTP, the new State, the first answer).
//
//	go test -run '^$' -bench EditVisible -benchtime 200x ./plugin/threatadmin/
func BenchmarkEditVisible(b *testing.B) {
	s, api := benchServer(b, 10_000)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		p := []string{"p0", "p5000", "p9999"}[i%3]
		addr := fmt.Sprintf("198.51.%d.%d", 100+i/250, i%250+1)
		octets := strings.Split(addr, ".")
		slices.Reverse(octets)
		name := strings.Join(octets, ".") + "." + p + ".threatstop.local."
		start := time.Now()
		if code, body := call(b, "POST", "http://"+api+"/api/v1/policies/"+p+"/block", demoToken, `{"value":"`+addr+`"}`); code != http.StatusCreated {
			b.Fatalf("POST: %d %s", code, body)
		}
		for s.Query(b, name, dns.TypeA).Rcode != dns.RcodeSuccess {
			if time.Since(start) > 5*time.Second {
				b.Fatalf("%s not listed 5 s after the edit", name)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkSustainedEdits: edits at 100 a second (b.N of them: -benchtime 6000x is a minute) while a
// client keeps asking listed and clean names of other policies over UDP; every answer must come, with the
// right code. Reports the edits applied per second, the queries answered per second meanwhile and the
// failed ones (want 0).
//
//	go test -run '^$' -bench SustainedEdits -benchtime 6000x ./plugin/threatadmin/
func BenchmarkSustainedEdits(b *testing.B) {
	s, api := benchServer(b, 10_000)
	stop := make(chan struct{})
	done := make(chan [2]int)
	go func() {
		var ok, failed int
		c := &dns.Client{Timeout: time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- [2]int{ok, failed}
				return
			default:
			}
			// Listed: policy pJ's own entry 192.0.2.(J mod 256); clean: TEST-NET-3, which no feed lists (the
			// guards drop it; the edits are in 198.18.0.0/15). Not the edited policies.
			j := 1 + i%4999
			name, want := fmt.Sprintf("%d.2.0.192.p%d.threatstop.local.", j%256, j), dns.RcodeSuccess
			if i%2 == 1 {
				name, want = fmt.Sprintf("%d.113.0.203.p%d.threatstop.local.", i%256, j), dns.RcodeNameError
			}
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			if r, _, err := c.Exchange(m, s.UDP); err != nil || r.Rcode != want {
				failed++
			} else {
				ok++
			}
		}
	}()
	// One edit every 10 ms, sent by whichever of four clients is free (as API callers are several): the
	// server orders them; the rate holds when it applies each in under 10 ms.
	work := make(chan int)
	var wg sync.WaitGroup
	var editErr atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				addr := fmt.Sprintf("198.%d.%d.%d", 18+i/65536%2, i/256%256, i%256)
				p := []string{"p0", "p5000", "p9999"}[i%3] // the customer's policies, in turn
				if code, body := call(b, "POST", "http://"+api+"/api/v1/policies/"+p+"/block", demoToken, `{"value":"`+addr+`"}`); code != http.StatusCreated {
					editErr.Store(fmt.Sprintf("POST %s: %d %s", addr, code, body))
				}
			}
		}()
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	close(stop)
	r := <-done
	if e := editErr.Load(); e != nil {
		b.Fatal(e)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "edits/s")
	b.ReportMetric(float64(r[0])/took.Seconds(), "qps")
	b.ReportMetric(float64(r[1]), "failed")
	if r[1] > 0 {
		b.Errorf("%d DNS answers failed during the edits", r[1])
	}
}

// BenchmarkPoliciesRSS: the process's RSS with one policy, then with 10,000 policies of which 9,999 were
// made through the API like the first (POST /api/v1/policies), each measured after a GC that returns freed
// memory to the system. Reports both and their ratio (the target is at most 1.2 over make bench's data
// set), and how long the 9,999 creations took.
//
//	THREATSTOP_BENCH_FEEDS=$PWD/bench/out/data-1000000-100000-1000000-1000000-20251123/feeds \
//	    go test -run '^$' -bench PoliciesRSS -benchtime 1x -timeout 30m ./plugin/threatadmin/
func BenchmarkPoliciesRSS(b *testing.B) {
	for range b.N {
		api, db := freeAddr(b), filepath.Join(b.TempDir(), "admin.db")
		text := benchCorefile(b, 1, api, db)
		s, err := coretest.StartErr(text)
		if err != nil {
			b.Fatal(err)
		}
		one, oneAnon := rssKB(b)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		for i := 1; i < 10_000; i++ {
			if code, body := call(b, "POST", "http://"+api+"/api/v1/policies", demoToken, fmt.Sprintf(`{"name":"a%d","like":"p0"}`, i)); code != http.StatusCreated {
				b.Fatalf("create a%d: %d %s", i, code, body)
			}
		}
		took := time.Since(start)
		if r := s.Query(b, "2.0.0.127.a9999.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
			b.Fatalf("a9999: %v", r)
		}
		many, manyAnon := rssKB(b)
		runtime.ReadMemStats(&m1)
		// A restart: a new server over the same database, whose policies and edits are read from it.
		s.Stop()
		s, err = coretest.StartErr(text)
		if err != nil {
			b.Fatal(err)
		}
		if r := s.Query(b, "2.0.0.127.a9999.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
			b.Fatalf("a9999 after the restart: %v", r)
		}
		restarted, restartedAnon := rssKB(b)
		b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/9999, "heap-B/policy")
		b.ReportMetric(float64(int64(m1.Sys)-int64(m0.Sys))/9999, "sys-B/policy")
		b.ReportMetric(float64(one)/1024, "rss-1-MB")
		b.ReportMetric(float64(many)/1024, "rss-10k-MB")
		b.ReportMetric(float64(many)/float64(one), "ratio")
		b.ReportMetric(float64(restarted)/float64(one), "ratio-restarted")
		b.ReportMetric(float64(manyAnon)/float64(oneAnon), "anon-ratio")
		b.ReportMetric(float64(restartedAnon)/float64(oneAnon), "anon-ratio-restarted")
		b.ReportMetric(took.Seconds()/9999*1000, "ms/create")
		s.Stop()
	}
}

// rssKB is the process's VmRSS and RssAnon (VmRSS less the pages of files, bbolt's mapped database
// among them) after a GC that gives freed memory back.
func rssKB(b *testing.B) (rss, anon int) {
	runtime.GC()
	debug.FreeOSMemory()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	field := func(name string) int {
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				return kb
			}
		}
		b.Fatalf("no %s", name)
		return 0
	}
	return field("VmRSS"), field("RssAnon")
}
