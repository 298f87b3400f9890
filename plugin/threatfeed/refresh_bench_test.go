package threatfeed

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/feed"
	"github.com/threatstop/threatstop/plugin/pkg/format"
	"github.com/threatstop/threatstop/plugin/pkg/guard"
	"github.com/threatstop/threatstop/plugin/pkg/source"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// writeSynthetic writes n public IPv4 addresses (one in ten a prefix) and n domains (one in ten a
// wildcard), with a fixed seed; shift changes the first `shift` lines of each, for a refresh.
func writeSynthetic(tb testing.TB, dir string, n, shift int) (v4, names string) {
	r := rand.New(rand.NewPCG(9, 9))
	v4, names = filepath.Join(dir, "v4.txt"), filepath.Join(dir, "names.txt")
	for _, path := range []string{v4, names} {
		tmp := path + ".tmp"
		fh, err := os.Create(tmp)
		if err != nil {
			tb.Fatal(err)
		}
		w := bufio.NewWriterSize(fh, 1<<20)
		for i := range n {
			v := r.Uint32()
			if path == v4 {
				first := 1 + v>>24%223 // 1..223, then skip what the guard drops
				if first == 10 || first == 100 || first == 127 || first == 169 || first == 172 || first == 192 || first == 198 || first == 203 {
					first = 45
				}
				if i < shift {
					first = 46
				}
				if i%10 == 0 {
					fmt.Fprintf(w, "%d.%d.%d.0/24\n", first, byte(v>>16), byte(v>>8))
				} else {
					fmt.Fprintf(w, "%d.%d.%d.%d\n", first, byte(v>>16), byte(v>>8), byte(v))
				}
				continue
			}
			prefix := ""
			if i%10 == 0 {
				prefix = "*."
			}
			if i < shift {
				prefix += "new."
			}
			fmt.Fprintf(w, "%sh%x.d%d.example%d.com\n", prefix, v, i, v%1000)
		}
		w.Flush()
		fh.Close()
		if err := os.Rename(tmp, path); err != nil {
			tb.Fatal(err)
		}
	}
	return v4, names
}

// procKB reads a field of /proc/self/status in kB.
func procKB(field string) uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.ParseUint(strings.Fields(l)[1], 10, 64)
			return n * 1024
		}
	}
	return 0
}

// BenchmarkRefresh1M loads 1M IPv4 entries and 1M domains through the whole pipeline (read, parse,
// guard, compile), then refreshes both feeds with 1% of their lines changed while a sampler records the
// peak heap. It reports the load time, the steady heap, and the peak heap during the refresh as a ratio.
func BenchmarkRefresh1M(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	v4, names := writeSynthetic(b, dir, n, 0)
	plain, _ := format.New("plain", nil)
	mk := func(name, path string) *feed.Feed {
		return &feed.Feed{Name: name, Category: "c", Format: "plain", Source: &source.File{Path: path}, Parser: plain,
			Guard: guard.Default(), MaxShrink: feed.DefaultMaxShrink, Refresh: time.Hour}
	}
	for b.Loop() {
		runtime.GC()
		f := newFeeds(state.NewStore())
		f.add(mk("v4", v4))
		f.add(mk("names", names))
		start := time.Now()
		if err := f.Start(); err != nil {
			b.Fatal(err)
		}
		load := time.Since(start)
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		steady := ms.HeapAlloc
		steadyRSS := procKB("VmRSS")

		writeSynthetic(b, dir, n, n/100)
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			var m runtime.MemStats
			for {
				select {
				case <-done:
					return
				default:
				}
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
		start = time.Now()
		ctx := context.Background()
		f.update(ctx, 0)
		f.update(ctx, 1)
		f.rebuild()
		refresh := time.Since(start)
		close(done)
		peakRSS := procKB("VmHWM")
		f.Stop()
		b.ReportMetric(load.Seconds(), "load-s")
		b.ReportMetric(refresh.Seconds(), "refresh-s")
		b.ReportMetric(float64(steady)/1e6, "steady-heap-MB")
		b.ReportMetric(float64(peak.Load())/float64(steady), "peak/steady-heap")
		b.ReportMetric(float64(steadyRSS)/1e6, "steady-RSS-MB")
		b.ReportMetric(float64(peakRSS)/float64(steadyRSS), "peak/steady-RSS")
		runtime.KeepAlive(f)
	}
}

// BenchmarkLoadRealFeed reads, parses, guards and compiles one real feed, as a refresh of it does.
func BenchmarkLoadRealFeed(b *testing.B) {
	for _, tc := range []struct{ file, format string }{
		{"ipsum.txt", "ipsum"},
		{"hagezi_tif.mini.adblock.txt", "adblock"},
	} {
		b.Run(tc.format, func(b *testing.B) {
			p, err := format.New(tc.format, nil)
			if err != nil {
				b.Fatal(err)
			}
			path := filepath.Join("..", "..", "testdata", "feeds", tc.file)
			b.ReportAllocs()
			for b.Loop() {
				f := newFeeds(state.NewStore())
				f.add(&feed.Feed{Name: "f", Category: "c", Format: tc.format, Source: &source.File{Path: path}, Parser: p,
					Guard: guard.Default(), MaxShrink: feed.DefaultMaxShrink})
				f.update(context.Background(), 0)
				f.rebuild()
				if f.Snapshot().Lists[0].Entries == 0 {
					b.Fatal("nothing loaded")
				}
			}
		})
	}
}
