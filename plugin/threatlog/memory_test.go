package threatlog_test

import (
	"bufio"
	"bytes"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/threatlog"
)

// maxSizeLog is the lines of the fixtures files repeated up to size bytes; with eventsOnly, only the
// lines in a known format.
func maxSizeLog(t testing.TB, size int, files []string, eventsOnly bool) ([]byte, int) {
	var lines [][]byte
	for _, f := range files {
		sc := bufio.NewScanner(bytes.NewReader(fixture(t, f)))
		for sc.Scan() {
			if eventsOnly && (strings.Contains(sc.Text(), "nf_conntrack") || !strings.Contains(sc.Text(), "ASA-")) {
				continue
			}
			lines = append(lines, append(sc.Bytes(), '\n'))
		}
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	n := 0
	for ; buf.Len()+len(lines[n%len(lines)]) <= size; n++ {
		buf.Write(lines[n%len(lines)])
	}
	return buf.Bytes(), n
}

// peakHeap runs f and returns the highest heap in use while it ran, above what was in use before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-stopped
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// TestUploadMemory measures the heap one upload of max_size (the default, 32 MiB) takes while it is
// received, parsed, matched and stored, and holds it to the README's bound with room to spare: a mixed
// log (all seven formats, a quarter of the lines unknown), and Cisco ASA denies only, short lines that
// are all events (the most events a max-size upload of these formats holds).
func TestUploadMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("32 MiB uploads: not in -short or -race")
	}
	e := setup(t, "")
	for _, c := range []struct {
		name       string
		files      []string
		eventsOnly bool
	}{{"mixed", fixtures, false}, {"asa", []string{"asa.log"}, true}} {
		body, lines := maxSizeLog(t, threatlog.DefaultMaxSize, c.files, c.eventsOnly)
		var code int
		var res threatlog.UploadResult
		peak := peakHeap(func() { code, res = e.upload(body, map[string]string{threatlog.HeaderBatch: c.name}, demo) })
		if code != http.StatusOK || res.Lines != lines || res.Stored == 0 {
			t.Fatalf("%s max-size upload: %d %+v", c.name, code, res)
		}
		t.Logf("%s: upload of %d MiB, %d lines, %d events: peak heap %d MiB above the body (%d bytes per event)", c.name, len(body)>>20, lines, res.Stored, peak>>20, peak/uint64(res.Stored))
		if limit := uint64(maxUploadHeap); peak > limit {
			t.Errorf("%s: peak heap %d MiB, more than %d MiB", c.name, peak>>20, limit>>20)
		}
	}
}

// maxUploadHeap bounds the heap of one max-size upload: the README's "under 8 times max_size", with room
// for the garbage collector's pace (measured: 150 to 180 MiB; 312 MiB before uploads were kept in
// their stored form).
const maxUploadHeap = 8 * threatlog.DefaultMaxSize
