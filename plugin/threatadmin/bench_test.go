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

// BenchmarkEditVisible: an API edit until the DNS answer shows it, with 10,000 policies served: the POST
// of a new block entry for one policy, then queries until its address is listed. Reports p50 and p99 of
// the whole round trip (HTTP, the new State, the first answer).
//
//	go test -run '^$' -bench EditVisible -benchtime 200x ./plugin/threatadmin/
func BenchmarkEditVisible(b *testing.B) {
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
