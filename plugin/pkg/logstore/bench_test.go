package logstore

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSize reports the database bytes per stored event, for records like real ones: each iteration
// stores 100,000 events in a new database.
func BenchmarkSize(b *testing.B) {
	const n = 100000
	batch := make([]Record, 10000)
	var size int64
	for it := 0; it < b.N; it++ {
		path := filepath.Join(b.TempDir(), "log.db")
		s, _ := Open(path)
		for i := 0; i < n/len(batch); i++ {
			for j := range batch {
				k := i*len(batch) + j
				batch[j] = Record{Time: t0.Add(time.Duration(k) * time.Second), Device: "gw", Format: "netfilter", Dir: "out", Action: "drop", Proto: "tcp",
					Remote: fmt.Sprintf("1.10.%d.%d", k/250%250, k%250), RemotePort: 443, Inside: fmt.Sprintf("192.168.1.%d", k%200), Lists: []string{"spamhaus-drop"}, Categories: []string{"spam"}}
			}
			if err := s.Add("demo", "gw", fmt.Sprint(i), t0, batch); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
		fi, _ := os.Stat(path)
		size = fi.Size()
	}
	b.ReportMetric(float64(size)/n, "bytes/event")
}

// BenchmarkEach reads a day of 100,000 events, as a report does.
func BenchmarkEach(b *testing.B) {
	s, _ := Open(filepath.Join(b.TempDir(), "log.db"))
	defer s.Close()
	for i := 0; i < 10; i++ {
		s.Add("demo", "gw", fmt.Sprint(i), t0, recs(10000, t0.Add(time.Duration(i)*10000*100*time.Millisecond), 100*time.Millisecond))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		s.Each("demo", t0, t0.Add(24*time.Hour), func(*Record) error { n++; return nil })
		if n != 100000 {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.N*100000)/b.Elapsed().Seconds(), "records/s")
}
