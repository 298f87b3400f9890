package threatadmin_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// benchServer serves 10,000 policies over a 5,000-prefix feed; customer demo owns p0, p5000 and p9999.
func benchServer(b *testing.B) (*coretest.Server, string) {
	const policies = 10_000
	dir := b.TempDir()
	feed := filepath.Join(dir, "drop.txt")
	var lines strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&lines, "5.%d.%d.0/24\n", 100+i/256, i%256)
	}
	if err := os.WriteFile(feed, []byte(lines.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	var ps strings.Builder
	for i := range policies {
		fmt.Fprintf(&ps, "        policy p%d {\n            lists drop\n            block 192.0.2.%d\n            clients 127.0.0.1\n        }\n", i, i%256)
	}
	api := freeAddr(b)
	s := coretest.Start(b, fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    threatfeed {
        feed drop {
            file %s
            format plain
            category spam
        }
    }
    threatstop {
%s    }
    threatadmin {
        listen %s
        db %s
        customer demo {
            policies p0 p5000 p9999
            token %s
        }
    }
}
`, feed, ps.String(), api, filepath.Join(dir, "admin.db"), demoToken))
	return s, api
}

// BenchmarkEditVisible: an API edit until the DNS answer shows it, with 10,000 policies served: the POST
// of a new block entry for one policy, then queries until its address is listed. Reports p50 and p99 of
// the whole round trip (HTTP, the new State, the first answer).
//
//	go test -run '^$' -bench EditVisible -benchtime 200x ./plugin/threatadmin/
func BenchmarkEditVisible(b *testing.B) {
	s, api := benchServer(b)
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
// right code. Reports the queries answered per second meanwhile and the failed ones (want 0).
//
//	go test -run '^$' -bench SustainedEdits -benchtime 6000x ./plugin/threatadmin/
func BenchmarkSustainedEdits(b *testing.B) {
	s, api := benchServer(b)
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
			name, want := fmt.Sprintf("1.%d.%d.5.p%d.threatstop.local.", i%256, 100+i%19, 1+i%9998), dns.RcodeSuccess
			if i%2 == 1 {
				name, want = fmt.Sprintf("9.9.9.%d.p%d.threatstop.local.", i%256, 1+i%9998), dns.RcodeNameError
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
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		addr := fmt.Sprintf("198.%d.%d.%d", 18+i/65536%2, i/256%256, i%256)
		if code, body := call(b, "POST", "http://"+api+"/api/v1/policies/p0/block", demoToken, `{"value":"`+addr+`"}`); code != http.StatusCreated {
			b.Fatalf("POST %s: %d %s", addr, code, body)
		}
	}
	b.StopTimer()
	close(stop)
	r := <-done
	b.ReportMetric(float64(r[0])/time.Since(start).Seconds(), "qps")
	b.ReportMetric(float64(r[1]), "failed")
	if r[1] > 0 {
		b.Errorf("%d DNS answers failed during the edits", r[1])
	}
}
