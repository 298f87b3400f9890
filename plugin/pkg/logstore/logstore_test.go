package logstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func all(t *testing.T, s *Store, customer string) []Record {
	t.Helper()
	var out []Record
	if err := s.Each(customer, time.Time{}, t0.AddDate(1, 0, 0), func(r *Record) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func recs(n int, start time.Time, step time.Duration) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{Time: start.Add(time.Duration(i) * step), Remote: fmt.Sprintf("1.10.16.%d", i%250), Inside: "192.168.1.20", Lists: []string{"drop"}}
	}
	return out
}

func TestAddEachDuplicateReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path)
	if err := s.Add("demo", "gw", "b1", t0, recs(10, t0, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("demo", "gw", "b1", t0, recs(10, t0, time.Hour)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Add of b1: %v, want ErrDuplicate", err)
	}
	// The same batch ID from another device, or for another customer, is another batch.
	if err := s.Add("demo", "fw", "b1", t0, recs(1, t0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("other", "gw", "b1", t0, recs(3, t0, 0)); err != nil {
		t.Fatal(err)
	}
	if n := len(all(t, s, "demo")); n != 11 {
		t.Fatalf("demo has %d records, want 11", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	got := all(t, s, "demo")
	if len(got) != 11 || len(all(t, s, "other")) != 3 || len(all(t, s, "nobody")) != 0 {
		t.Fatalf("after reopen: demo %d (want 11), other %d (want 3)", len(got), len(all(t, s, "other")))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Time.Before(got[i-1].Time) {
			t.Fatalf("records out of order at %d", i)
		}
	}
	if err := s.Add("demo", "gw", "b1", t0, nil); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("b1 after reopen: %v, want ErrDuplicate", err)
	}
	// A period: [15:00+2h, 15:00+5h) holds hours 2, 3, 4 of gw's batch and nothing of fw's.
	n := 0
	s.Each("demo", t0.Add(2*time.Hour), t0.Add(5*time.Hour), func(*Record) error { n++; return nil })
	if n != 3 {
		t.Fatalf("period holds %d records, want 3", n)
	}
}

func TestPurgeExact(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "log.db"))
	defer s.Close()
	// 100 records, one every 30 minutes from t0: across three days.
	if err := s.Add("demo", "gw", "b1", t0, recs(100, t0, 30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("other", "gw", "b2", t0.Add(40*time.Hour), recs(5, t0.Add(40*time.Hour), time.Minute)); err != nil {
		t.Fatal(err)
	}
	cut := t0.Add(30*time.Hour + 10*time.Minute) // inside the second day: records 0..60 are older
	n, err := s.Purge(cut)
	if err != nil {
		t.Fatal(err)
	}
	if n != 61 {
		t.Fatalf("purged %d, want 61", n)
	}
	got := all(t, s, "demo")
	if len(got) != 39 || got[0].Time.Before(cut) || !got[0].Time.Equal(t0.Add(61*30*time.Minute)) {
		t.Fatalf("after purge: %d records from %v", len(got), got[0].Time)
	}
	if len(all(t, s, "other")) != 5 {
		t.Fatal("purge deleted newer records of another customer")
	}
	// b1 was uploaded before the cut: its ID is forgotten; b2's is kept.
	if err := s.Add("demo", "gw", "b1", cut, nil); err != nil {
		t.Fatalf("b1 after purge: %v", err)
	}
	if err := s.Add("other", "gw", "b2", cut, nil); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("b2 after purge: %v", err)
	}
}

// TestDeleteCustomer: a customer's deletion takes all its records and batch IDs, over every day, and
// nothing of another customer's, and lasts across a reopen.
func TestDeleteCustomer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s := open(t, path)
	for _, c := range []struct {
		customer, batch string
		n               int
	}{{"demo", "b1", 100}, {"demo", "b2", 7}, {"other", "b1", 5}} {
		if err := s.Add(c.customer, "gw", c.batch, t0, recs(c.n, t0, 30*time.Minute)); err != nil { // 100: three days
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		customer string
		want     int
	}{{"demo", 107}, {"demo", 0}, {"nobody", 0}} {
		if n, err := s.DeleteCustomer(tc.customer); err != nil || n != tc.want {
			t.Errorf("DeleteCustomer(%s): %d %v, want %d", tc.customer, n, err, tc.want)
		}
	}
	if len(all(t, s, "demo")) != 0 || len(all(t, s, "other")) != 5 {
		t.Fatalf("after deleting demo: demo %d, other %d records", len(all(t, s, "demo")), len(all(t, s, "other")))
	}
	if cs, _ := s.Customers(); len(cs) != 1 || cs[0] != "other" {
		t.Errorf("customers after the delete: %q", cs)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if len(all(t, s, "demo")) != 0 {
		t.Fatal("demo's records are back after a reopen")
	}
	// The batch IDs went with the records: the same batch is stored again; other's is still a duplicate.
	if err := s.Add("demo", "gw", "b1", t0, recs(1, t0, 0)); err != nil {
		t.Errorf("b1 of demo after the delete: %v", err)
	}
	if err := s.Add("other", "gw", "b1", t0, nil); !errors.Is(err, ErrDuplicate) {
		t.Errorf("b1 of other after demo's delete: %v, want ErrDuplicate", err)
	}
}

func TestFirstSeen(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "log.db"))
	defer s.Close()
	if n, _ := s.MarkSeen("drop", []string{"1.10.16.0/20", "5.188.10.0/24"}, t0); n != 2 {
		t.Fatalf("new %d, want 2", n)
	}
	if n, _ := s.MarkSeen("drop", []string{"1.10.16.0/20", "45.13.37.0/24"}, t0.Add(time.Hour)); n != 1 {
		t.Fatalf("new %d, want 1", n)
	}
	if ts, ok := s.FirstSeen("drop", "1.10.16.0/20"); !ok || !ts.Equal(t0) {
		t.Fatalf("first seen %v %v, want %v", ts, ok, t0)
	}
	if ts, _ := s.FirstSeen("drop", "45.13.37.0/24"); !ts.Equal(t0.Add(time.Hour)) {
		t.Fatalf("first seen %v", ts)
	}
	if _, ok := s.FirstSeen("other", "1.10.16.0/20"); ok {
		t.Fatal("first seen in a list that never held it")
	}
}

func BenchmarkAdd(b *testing.B) {
	s, _ := Open(filepath.Join(b.TempDir(), "log.db"))
	defer s.Close()
	batch := recs(10000, t0, time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Add("demo", "gw", fmt.Sprint(i), t0, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
}

// A reader that stalls inside Each (a client that stops reading a CSV export) must not hold a read
// transaction: a writer that grows the file (bbolt remaps it) waits for every open read transaction.
func TestEachDoesNotBlockWriters(t *testing.T) {
	defer func(n int) { InitialMmap = n }(InitialMmap)
	InitialMmap = 0 // bbolt's smallest: the Add below remaps
	s := open(t, filepath.Join(t.TempDir(), "log.db"))
	defer s.Close()
	if err := s.Add("demo", "gw", "b1", t0, recs(100, t0, time.Minute)); err != nil {
		t.Fatal(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	eachDone := make(chan int)
	go func() {
		n := 0
		s.Each("demo", t0, t0.AddDate(0, 0, 1), func(*Record) error {
			if n == 0 {
				close(inside)
				<-release
			}
			n++
			return nil
		})
		eachDone <- n
	}()
	<-inside
	added := make(chan error)
	go func() { added <- s.Add("other", "gw", "b2", t0, recs(5000, t0, time.Second)) }() // about 2 MB: the file grows
	select {
	case err := <-added:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("an Add that grows the file waited for a stalled Each")
	}
	close(release)
	if n := <-eachDone; n != 100 {
		t.Fatalf("Each read %d records, want 100", n)
	}
}

// Each reads in pages, each its own read transaction: every record once, in time order, across days
// and page boundaries, and an error from fn ends it.
func TestEachPages(t *testing.T) {
	defer func(n int) { eachPage = n }(eachPage)
	eachPage = 7
	s := open(t, filepath.Join(t.TempDir(), "log.db"))
	defer s.Close()
	// 100 records every 50 minutes from t0 (four days), the same times again from another batch.
	if err := s.Add("demo", "gw", "b1", t0, recs(100, t0, 50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("demo", "fw", "b1", t0, recs(100, t0, 50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 6, 7, 8, 14, 200} { // below, at and above page sizes
		from, to := t0.Add(10*time.Minute), t0.Add(10*time.Minute+time.Duration(n)*25*time.Minute)
		var got []Record
		if err := s.Each("demo", from, to, func(r *Record) error { got = append(got, *r); return nil }); err != nil {
			t.Fatal(err)
		}
		want := 0
		for i := 0; i < 100; i++ {
			if at := t0.Add(time.Duration(i) * 50 * time.Minute); !at.Before(from) && at.Before(to) {
				want += 2
			}
		}
		if len(got) != want {
			t.Errorf("%s..%s: %d records, want %d", from, to, len(got), want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Time.Before(got[i-1].Time) {
				t.Fatalf("out of order at %d", i)
			}
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Each("demo", t0, t0.AddDate(0, 0, 5), func(*Record) error { n++; return map[bool]error{true: stop}[n == 10] }); err != stop || n != 10 {
		t.Fatalf("Each after fn's error: %v after %d records", err, n)
	}
}

// A batch is stored in time order whatever the order of its records (a log of several files, or of
// several devices' clocks), equal times in the order they were added.
func TestAddOutOfOrder(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "log.db"))
	defer s.Close()
	in := recs(50, t0, 7*time.Hour) // about two weeks, added backwards and every time twice
	var b Batch
	for i := len(in) - 1; i >= 0; i-- {
		for _, dev := range []string{"first", "second"} {
			r := in[i]
			r.Device = dev
			if err := b.Add(&r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if b.Len() != 100 {
		t.Fatalf("batch of %d records, want 100", b.Len())
	}
	if err := s.AddBatch("demo", "gw", "b1", t0, &b); err != nil {
		t.Fatal(err)
	}
	got := all(t, s, "demo")
	if len(got) != 100 {
		t.Fatalf("%d records, want 100", len(got))
	}
	for i, r := range got {
		if want := in[i/2].Time; !r.Time.Equal(want) || r.Device != []string{"first", "second"}[i%2] {
			t.Fatalf("record %d: %s %s, want %s %s", i, r.Time, r.Device, want, []string{"first", "second"}[i%2])
		}
	}
}

// TestLastUploads: per device, the time of its latest stored upload, whatever the order they came in.
func TestLastUploads(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "log.db"))
	defer s.Close()
	for i, u := range []struct {
		device string
		at     time.Time
	}{{"gw", t0.Add(2 * time.Hour)}, {"gw", t0}, {"fw", t0.Add(time.Hour)}} {
		if err := s.Add("demo", u.device, fmt.Sprint("b", i), u.at, recs(1, u.at, 0)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LastUploads("demo")
	if err != nil || len(got) != 2 || !got["gw"].Equal(t0.Add(2*time.Hour)) || !got["fw"].Equal(t0.Add(time.Hour)) {
		t.Errorf("LastUploads: %v %v", got, err)
	}
	if got, _ := s.LastUploads("nobody"); len(got) != 0 {
		t.Errorf("LastUploads of an unknown customer: %v", got)
	}
}
