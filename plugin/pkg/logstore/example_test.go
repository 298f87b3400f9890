package logstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/logstore"
)

// Add stores one upload's matched events for a customer; the batch ID makes a
// re-upload harmless. Each reads them back in time order, Purge applies
// retention.
func ExampleStore() {
	dir, err := os.MkdirTemp("", "logstore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	s, err := logstore.Open(filepath.Join(dir, "logs.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	day := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	recs := []logstore.Record{
		{Time: day.Add(2 * time.Minute), Device: "gw", Format: "netfilter", Dir: "out", Action: "drop", Proto: "tcp",
			Remote: "185.220.101.1", RemotePort: 9001, Inside: "192.168.1.20", Lists: []string{"botnets"}, Categories: []string{"malware"}},
		{Time: day.Add(1 * time.Minute), Device: "gw", Format: "bind-rpz", Dir: "out", Action: "nxdomain",
			Remote: "bad.example", Inside: "192.168.1.21", QName: "www.bad.example", Lists: []string{"custom"}},
		{Time: day.Add(-48 * time.Hour), Device: "gw", Format: "netfilter", Dir: "in", Action: "drop",
			Remote: "45.9.148.7", Inside: "192.168.1.20"}, // listed by nothing
	}
	fmt.Println(s.Add("acme", "gw", "upload-1", day, recs))
	fmt.Println(errors.Is(s.Add("acme", "gw", "upload-1", day, recs), logstore.ErrDuplicate))

	s.Each("acme", day.Add(-72*time.Hour), day.Add(time.Hour), func(r *logstore.Record) error {
		fmt.Println(r.Time.Format(time.RFC3339), r.Remote, r.Listed())
		return nil
	})
	fmt.Println(s.Customers())
	fmt.Println(s.Purge(day.Add(-24 * time.Hour)))
	// Output:
	// <nil>
	// true
	// 2026-11-21T15:00:00Z 45.9.148.7 false
	// 2026-11-23T15:01:00Z bad.example true
	// 2026-11-23T15:02:00Z 185.220.101.1 true
	// [acme] <nil>
	// 1 <nil>
}

// MarkSeen remembers when a feed entry first appeared.
func ExampleStore_MarkSeen() {
	dir, _ := os.MkdirTemp("", "logstore-example")
	defer os.RemoveAll(dir)
	s, err := logstore.Open(filepath.Join(dir, "logs.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	t1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	fmt.Println(s.MarkSeen("botnets", []string{"1.10.16.0/20", "bad.example"}, t1))
	fmt.Println(s.MarkSeen("botnets", []string{"bad.example", "*.worse.example"}, t1.AddDate(0, 0, 5)))
	first, ok := s.FirstSeen("botnets", "bad.example")
	fmt.Println(first.Format(time.DateOnly), ok)
	// Output:
	// 2 <nil>
	// 1 <nil>
	// 2026-11-01 true
}
