package threatlog

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/logstore"
)

// stalledWriter is a client that stops reading: its first Write blocks until release is closed.
type stalledWriter struct {
	header           http.Header
	stalled, release chan struct{}
	writes           int
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}
func (w *stalledWriter) Write(b []byte) (int, error) {
	if w.writes++; w.writes == 1 {
		close(w.stalled)
		<-w.release
	}
	return len(b), nil
}

func events(n int, start time.Time, remote string) []logstore.Record {
	out := make([]logstore.Record, n)
	for i := range out {
		out[i] = logstore.Record{Time: start.Add(time.Duration(i) * time.Second), Device: "gw", Format: "netfilter", Dir: "out", Action: "drop",
			Proto: "tcp", Remote: fmt.Sprintf(remote, i%250), RemotePort: 443, Inside: "192.168.1.20", Lists: []string{"spamhaus-drop"}, Categories: []string{"spam"}}
	}
	return out
}

// A CSV download whose client stops reading must not stop another customer's upload from being
// stored, even one that grows the database file (bbolt then waits for every open read transaction).
func TestStalledCSVDoesNotBlockUploads(t *testing.T) {
	defer func(n int) { logstore.InitialMmap = n }(logstore.InitialMmap)
	logstore.InitialMmap = 0 // bbolt's smallest: the upload below remaps
	st, release, err := stores.Acquire(filepath.Join(t.TempDir(), "threatlog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	tl := &Threatlog{store: st}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	if err := st.Add("demo", "gw", "b1", t0, events(3000, t0, "1.10.16.%d")); err != nil {
		t.Fatal(err)
	}
	w := &stalledWriter{header: http.Header{}, stalled: make(chan struct{}), release: make(chan struct{})}
	csvDone := make(chan struct{})
	go func() { tl.serveCSV(w, "demo", t0, t0.Add(24*time.Hour)); close(csvDone) }()
	defer func() { <-csvDone }()
	defer close(w.release)
	select {
	case <-w.stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the CSV export wrote nothing")
	}
	added := make(chan error, 1)
	go func() { added <- st.Add("other", "gw-other", "b2", t0, events(5000, t0, "185.220.101.%d")) }() // about 2 MB: the file grows
	select {
	case err := <-added:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("another customer's upload waited for a stalled CSV download")
	}
}
