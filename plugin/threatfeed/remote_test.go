package threatfeed_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	golog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// feedServer serves one feed whose behaviour a test switches between modes.
type feedServer struct {
	*httptest.Server
	mode     atomic.Value // string
	body     atomic.Value // []byte: the good version
	shrunk   []byte
	requests atomic.Int64
	cond     atomic.Int64 // requests that carried If-None-Match
	flip     atomic.Bool
}

const etagOf = `"v-%x"`

func newFeedServer(t *testing.T, body []byte, shrunk []byte) *feedServer {
	fs := &feedServer{shrunk: shrunk}
	fs.mode.Store("normal")
	fs.body.Store(body)
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.requests.Add(1)
	body := fs.body.Load().([]byte)
	etag := fmt.Sprintf(etagOf, len(body))
	if r.Header.Get("If-None-Match") != "" {
		fs.cond.Add(1)
	}
	switch fs.mode.Load().(string) {
	case "normal":
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(body)
	case "gzip-file": // a .gz body without Content-Encoding
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		z.Write(body)
		z.Close()
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(b.Bytes())
	case "slow":
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		time.Sleep(2 * time.Second)
	case "huge":
		w.Write(bytes.Repeat([]byte("45.61.139.1\n"), 300_000)) // 3.6 MB, over max_size
	case "truncated":
		// Promise more than is sent, then hang up mid-line.
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2+3])
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	case "html":
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body><h1>Maintenance</h1>\n<p>Back soon.</p></body></html>\n"))
	case "html-as-text": // an error page that does not say it is one
		w.Write([]byte("<html>\n<head><title>Error</title></head>\n<body>\n<p>Rate limit exceeded</p>\n</body>\n</html>\n"))
	case "500":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "shrunk":
		w.Write(fs.shrunk)
	case "flap": // every other fetch a 90% shrink
		if fs.flip.Load() {
			w.Write(fs.shrunk)
		} else {
			w.Write(body)
		}
		fs.flip.Store(!fs.flip.Load())
	}
}

// addresses returns n public IPv4 addresses in 45.60.0.0/16 and the feed listing them.
func addresses(n int) ([]string, []byte) {
	var addrs []string
	var b strings.Builder
	b.WriteString("# test feed\n")
	for i := range n {
		a := fmt.Sprintf("45.60.%d.%d", i/200, 1+i%200)
		addrs = append(addrs, a)
		b.WriteString(a + "\n")
	}
	return addrs, []byte(b.String())
}

func rev(a string) string {
	p := strings.Split(a, ".")
	return p[3] + "." + p[2] + "." + p[1] + "." + p[0]
}

func freeTCP(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func remoteCorefile(url, cacheDir, statusAddr, readyAddr string) string {
	return fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    ready %s
    threatfeed {
        cache %s
        status %s
        feed remote {
            url %s
            format plain
            category botnet
            refresh 100ms
            timeout 300ms
            retries 1
            max_size 1M
        }
    }
    threatstop {
        policy p {
            lists remote
        }
    }
}
`, readyAddr, cacheDir, statusAddr, url)
}

func feedStatus(t *testing.T, addr string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/feeds/remote")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// prober queries the server without pause from a few goroutines and records anything but the expected
// answer for the names it must see listed.
type prober struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	fails  atomic.Int64
	total  atomic.Int64
	first  atomic.Value
	listed atomic.Pointer[[]string] // names that must answer NOERROR right now
}

func probe(t *testing.T, s *coretest.Server, listed []string) *prober {
	p := &prober{stop: make(chan struct{})}
	p.listed.Store(&listed)
	for g := range 3 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			c := &dns.Client{Timeout: time.Second}
			if g == 2 {
				c.Net = "tcp"
			}
			addr := s.UDP
			if c.Net == "tcp" {
				addr = s.TCP
			}
			deadline := time.Now().Add(60 * time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-p.stop:
					return
				default:
				}
				names := *p.listed.Load()
				name := names[i%len(names)]
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				r, _, err := c.Exchange(m, addr)
				p.total.Add(1)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					p.fails.Add(1)
					if p.first.Load() == nil {
						p.first.Store(fmt.Sprintf("%s: err=%v answer=%v", name, err, r))
					}
				}
			}
		}()
	}
	return p
}

func (p *prober) done(t *testing.T) {
	close(p.stop)
	p.wg.Wait()
	if n := p.fails.Load(); n > 0 {
		t.Errorf("%d of %d queries failed or lost a listing; first: %v", n, p.total.Load(), p.first.Load())
	}
	t.Logf("%d queries, %d failed", p.total.Load(), p.fails.Load())
}

// TestRemoteFeedMisbehaving: a remote feed goes through every misbehaviour while lookups run; the last good
// version is served throughout, and a good new version is taken.
func TestRemoteFeedMisbehaving(t *testing.T) {
	addrs, body := addresses(1000)
	_, shrunkBody := addresses(100)
	fs := newFeedServer(t, body, shrunkBody)
	cache, statusAddr, readyAddr := t.TempDir(), freeTCP(t), freeTCP(t)
	s := coretest.Start(t, remoteCorefile(fs.URL+"/feed.txt", cache, statusAddr, readyAddr))

	name := func(a string) string { return rev(a) + ".p.threatstop.local." }
	// The remote feed is fetched in the background: wait for it.
	waitFor(t, 5*time.Second, "the first version", func() bool { return s.Query(t, name(addrs[999]), dns.TypeA).Rcode == dns.RcodeSuccess })

	// Entries beyond the first 100 vanish only if a shrunk version is served.
	must := []string{name(addrs[0]), name(addrs[500]), name(addrs[999])}
	p := probe(t, s, must)

	// 304: the next fetches are conditional and change nothing.
	waitFor(t, 5*time.Second, "conditional requests", func() bool { return fs.cond.Load() >= 3 })
	if v := feedStatus(t, statusAddr)["version"].(float64); v != 1 {
		t.Errorf("version %v after 304s, want 1", v)
	}

	errorsBefore := counter(t, "coredns_threatfeed_load_errors_total", map[string]string{"feed": "remote"})
	for _, mode := range []string{"slow", "huge", "truncated", "html", "html-as-text", "500"} {
		fs.mode.Store(mode)
		waitFor(t, 10*time.Second, mode+" reported", func() bool { return feedStatus(t, statusAddr)["last_error"] != nil })
		if st := feedStatus(t, statusAddr); st["entries"].(float64) != 1000 || st["version"].(float64) != 1 {
			t.Errorf("%s: status %v", mode, st)
		}
		// Back to normal: the next 304 says the served version is current again.
		fs.mode.Store("normal")
		waitFor(t, 10*time.Second, "recovery from "+mode, func() bool { return feedStatus(t, statusAddr)["last_error"] == nil })
	}
	if after := counter(t, "coredns_threatfeed_load_errors_total", map[string]string{"feed": "remote"}); after < errorsBefore+6 {
		t.Errorf("load_errors_total went from %v to %v over six failing modes", errorsBefore, after)
	}

	// A gzip file body is a good new version: one entry more.
	more := append(append([]byte{}, body...), "45.61.140.7\n"...)
	fs.body.Store(more)
	fs.mode.Store("gzip-file")
	waitFor(t, 5*time.Second, "the gzip version", func() bool { return s.Query(t, name("45.61.140.7"), dns.TypeA).Rcode == dns.RcodeSuccess })

	// A flapping feed never gets its shrunk version served.
	fs.mode.Store("flap")
	before := fs.requests.Load()
	waitFor(t, 10*time.Second, "ten flapping fetches", func() bool { return fs.requests.Load() >= before+10 })
	if st := feedStatus(t, statusAddr); st["entries"].(float64) != 1001 {
		t.Errorf("flapping feed: %v entries served", st["entries"])
	}

	// A source that keeps serving a tenth of its list is not believed on the next fetch: the shrunk
	// version stays held (max_shrink_hold, 24h by default), and 90% of the list stays blocked meanwhile.
	fs.mode.Store("shrunk")
	waitFor(t, 5*time.Second, "the shrunk version held", func() bool { return feedStatus(t, statusAddr)["held"] != nil })
	before = fs.requests.Load()
	waitFor(t, 10*time.Second, "five fetches of the shrunk version", func() bool { return fs.requests.Load() >= before+5 })
	p.done(t)
	st := feedStatus(t, statusAddr)
	h, _ := st["held"].(map[string]any)
	if st["entries"] != float64(1001) || h == nil {
		t.Fatalf("the shrunk version was served after five fetches: %v", st)
	}
	since, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(h["since"]))
	releases, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(h["releases_at"]))
	if fetches, _ := h["fetches_seen"].(float64); fetches < 5 || h["fetches_needed"] != float64(3) || h["needs_operator"] != false || releases.Sub(since) != 24*time.Hour {
		t.Errorf("held: %v, want seen on 5 fetches or more, released 24h after it was first seen", h)
	}
	if got := counter(t, "coredns_threatfeed_held_release_timestamp_seconds", map[string]string{"feed": "remote"}); got != float64(releases.Unix()) {
		t.Errorf("held_release_timestamp_seconds = %v, want %d", got, releases.Unix())
	}
	if got := counter(t, "coredns_threatfeed_held_since_timestamp_seconds", map[string]string{"feed": "remote"}); got != float64(since.Unix()) {
		t.Errorf("held_since_timestamp_seconds = %v, want %d", got, since.Unix())
	}
}

// TestShrinkReleasedAfterHold: a shrunk version that the source keeps serving for max_shrink_hold is
// served without an operator, and the release is logged as a warning; the metrics of the hold go to 0.
func TestShrinkReleasedAfterHold(t *testing.T) {
	logs := &logBuffer{}
	golog.SetOutput(logs)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	addrs, body := addresses(100)
	_, shrunk := addresses(10)
	fs := newFeedServer(t, body, shrunk)
	statusAddr := freeTCP(t)
	corefile := strings.Replace(remoteCorefile(fs.URL, t.TempDir(), statusAddr, freeTCP(t)),
		"            max_size 1M\n", "            max_size 1M\n            max_shrink_hold 1s\n", 1)
	s := coretest.Start(t, corefile)
	name := rev(addrs[50]) + ".p.threatstop.local."
	waitFor(t, 5*time.Second, "the first version", func() bool { return s.Query(t, name, dns.TypeA).Rcode == dns.RcodeSuccess })

	fs.mode.Store("shrunk")
	waitFor(t, 5*time.Second, "the shrunk version held", func() bool { return feedStatus(t, statusAddr)["held"] != nil })
	heldAt := time.Now()
	if r := s.Query(t, name, dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("an entry the shrunk version lacks is unlisted while it is held: %s", dns.RcodeToString[r.Rcode])
	}
	if got := counter(t, "coredns_threatfeed_held_release_timestamp_seconds", map[string]string{"feed": "remote"}); got == 0 {
		t.Error("held_release_timestamp_seconds is 0 while a shrunk version is held")
	}
	waitFor(t, 5*time.Second, "the shrunk version served", func() bool { return s.Query(t, name, dns.TypeA).Rcode == dns.RcodeNameError })
	if d := time.Since(heldAt); d < 900*time.Millisecond {
		t.Errorf("served %s after it was held, before max_shrink_hold 1s", d)
	}
	if st := feedStatus(t, statusAddr); st["entries"] != float64(10) || st["held"] != nil {
		t.Errorf("after the release: %v", st)
	}
	for _, m := range []string{"held", "held_since_timestamp_seconds", "held_release_timestamp_seconds"} {
		if got := counter(t, "coredns_threatfeed_"+m, map[string]string{"feed": "remote"}); got != 0 {
			t.Errorf("%s = %v after the release, want 0", m, got)
		}
	}
	if !strings.Contains(logs.String(), "[WARNING] plugin/threatfeed: feed remote (") || !strings.Contains(logs.String(), "is served now: the source served it for ") {
		t.Errorf("no warning for the release:\n%s", logs.String())
	} else if !strings.Contains(logs.String(), "(max_shrink_hold 1s) and on ") {
		t.Errorf("the release's warning does not name max_shrink_hold:\n%s", logs.String())
	}
}

// TestShrinkHeldUntilAccepted: with a long refresh, a shrunk version stays held, visible in the status,
// until an operator accepts it.
func TestShrinkHeldUntilAccepted(t *testing.T) {
	logs := &logBuffer{}
	golog.SetOutput(logs)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	_, body := addresses(100)
	addrs10, shrunk := addresses(10)
	fs := newFeedServer(t, body, shrunk)
	cache, statusAddr, readyAddr := t.TempDir(), freeTCP(t), freeTCP(t)
	corefile := strings.Replace(remoteCorefile(fs.URL, cache, statusAddr, readyAddr), "refresh 100ms", "refresh 300ms", 1)
	s := coretest.Start(t, corefile)
	waitFor(t, 5*time.Second, "the first version", func() bool { return feedStatus(t, statusAddr)["entries"] == float64(100) })
	fs.mode.Store("shrunk")
	waitFor(t, 5*time.Second, "a held version", func() bool { return feedStatus(t, statusAddr)["held"] != nil })
	fs.mode.Store("normal") // the source recovers before confirming: the held version is dropped
	waitFor(t, 5*time.Second, "the held version dropped", func() bool { return feedStatus(t, statusAddr)["held"] == nil })

	// An operator accepts a held version.
	fs.mode.Store("shrunk")
	waitFor(t, 5*time.Second, "a held version", func() bool { return feedStatus(t, statusAddr)["held"] != nil })
	fs.mode.Store("html") // keep the held version from being seen again
	accept := func(query string) int {
		t.Helper()
		resp, err := http.Post("http://"+statusAddr+"/feeds/remote/accept"+query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The operator may name the version looked at: another one is not accepted in its place.
	if code := accept("?sha256=" + strings.Repeat("0", 64)); code != http.StatusConflict {
		t.Errorf("accept of another version: %d, want 409", code)
	}
	if code := accept("?sha256=xyz"); code != http.StatusBadRequest {
		t.Errorf("accept with a bad sha256: %d, want 400", code)
	}
	h := feedStatus(t, statusAddr)["held"].(map[string]any)
	if code := accept("?sha256=" + h["sha256"].(string)); code != http.StatusOK {
		t.Fatalf("accept: %d", code)
	}
	if st := feedStatus(t, statusAddr); st["entries"] != float64(10) || st["held"] != nil {
		t.Errorf("after accept: %v", st)
	}
	if r := s.Query(t, rev("45.60.0.50")+".p.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Error("an entry of the old version is still listed after the accept")
	}
	if r := s.Query(t, rev(addrs10[5])+".p.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Error("an entry of the accepted version is not listed")
	}
	if code := accept(""); code != http.StatusConflict {
		t.Errorf("accept with nothing held: %d", code)
	}
	if !strings.Contains(logs.String(), "[WARNING] plugin/threatfeed: feed remote (") || !strings.Contains(logs.String(), "held version accepted by an operator from 127.0.0.1:") {
		t.Errorf("no warning naming who accepted:\n%s", logs.String())
	}
}

// TestRestartOffline: after a restart with the source unreachable, the cached version is served at once
// and the server is ready.
func TestRestartOffline(t *testing.T) {
	addrs, body := addresses(300)
	fs := newFeedServer(t, body, nil)
	cache, statusAddr, readyAddr := t.TempDir(), freeTCP(t), freeTCP(t)
	url := fs.URL + "/feed.txt"
	first := coretest.Start(t, remoteCorefile(url, cache, statusAddr, readyAddr))
	waitFor(t, 5*time.Second, "the first version", func() bool {
		return first.Query(t, rev(addrs[7])+".p.threatstop.local.", dns.TypeA).Rcode == dns.RcodeSuccess
	})
	first.Stop()
	fs.Close() // every source unreachable from now on
	if _, err := os.Stat(filepath.Join(cache, "remote.feed")); err != nil {
		t.Fatalf("no cache file: %v", err)
	}

	statusAddr, readyAddr = freeTCP(t), freeTCP(t)
	s := coretest.Start(t, remoteCorefile(url, cache, statusAddr, readyAddr))
	// No waiting: the first query after start-up is answered from the cache.
	if r := s.Query(t, rev(addrs[7])+".p.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("cached entry not served right after the restart: %s", dns.RcodeToString[r.Rcode])
	}
	resp, err := http.Get("http://" + readyAddr + "/ready")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ready after restart from cache: %v %v", resp, err)
	}
	resp.Body.Close()
	st := feedStatus(t, statusAddr)
	if st["from_cache"] != true || st["entries"] != float64(300) {
		t.Errorf("status: %v", st)
	}
	// The failing source is reported, and the cached data keeps being served.
	waitFor(t, 5*time.Second, "the fetch error", func() bool { return feedStatus(t, statusAddr)["last_error"] != nil })
	if r := s.Query(t, rev(addrs[7])+".p.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Error("cached entry not served after the source failed")
	}
}

// TestCorruptCacheIgnored: a damaged cache file is reported and ignored; the source is used.
func TestCorruptCacheIgnored(t *testing.T) {
	addrs, body := addresses(20)
	fs := newFeedServer(t, body, nil)
	cache := t.TempDir()
	os.WriteFile(filepath.Join(cache, "remote.feed"), []byte("threatstop-feed-cache 1 00 5\n{}\n45.6"), 0o644)
	before := counter(t, "coredns_threatfeed_cache_errors_total", map[string]string{"feed": "remote", "op": "load"})
	s := coretest.Start(t, remoteCorefile(fs.URL, cache, freeTCP(t), freeTCP(t)))
	if after := counter(t, "coredns_threatfeed_cache_errors_total", map[string]string{"feed": "remote", "op": "load"}); after != before+1 {
		t.Errorf("cache_errors_total{op=load} went from %v to %v", before, after)
	}
	waitFor(t, 5*time.Second, "the source's version", func() bool {
		return s.Query(t, rev(addrs[3])+".p.threatstop.local.", dns.TypeA).Rcode == dns.RcodeSuccess
	})
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counter reads a counter of the default registry, which the prometheus plugin serves.
func counter(t *testing.T, name string, labels map[string]string) float64 {
	return coretest.Counter(t, name, labels)
}

// TestStaleDrop: a feed that cannot be refreshed for longer than max_age is reported stale and, with
// `stale drop`, no longer served; it is served again once its source answers.
func TestStaleDrop(t *testing.T) {
	addrs, body := addresses(10)
	fs := newFeedServer(t, body, nil)
	statusAddr := freeTCP(t)
	corefile := strings.Replace(remoteCorefile(fs.URL, t.TempDir(), statusAddr, freeTCP(t)),
		"            max_size 1M\n", "            max_size 1M\n            max_age 1s\n            stale drop\n", 1)
	s := coretest.Start(t, corefile)
	name := rev(addrs[4]) + ".p.threatstop.local."
	waitFor(t, 5*time.Second, "the first version", func() bool { return s.Query(t, name, dns.TypeA).Rcode == dns.RcodeSuccess })
	soa := func() uint32 { return s.Query(t, "p.threatstop.local.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial }
	fresh := soa()

	fs.mode.Store("500")
	waitFor(t, 5*time.Second, "the stale feed to be dropped", func() bool { return s.Query(t, name, dns.TypeA).Rcode == dns.RcodeNameError })
	if st := feedStatus(t, statusAddr); st["stale"] != true || st["served"] != false || st["entries"] != float64(10) {
		t.Errorf("stale status: %v", st)
	}
	if got := soa(); int32(got-fresh) <= 0 {
		t.Errorf("serial %d after the feed was withdrawn, was %d", got, fresh)
	}
	fs.mode.Store("normal")
	waitFor(t, 5*time.Second, "the feed served again", func() bool { return s.Query(t, name, dns.TypeA).Rcode == dns.RcodeSuccess })
	if st := feedStatus(t, statusAddr); st["stale"] != false || st["served"] != true {
		t.Errorf("fresh status: %v", st)
	}
}
