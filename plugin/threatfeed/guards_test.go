package threatfeed_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	golog "log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// logBuffer collects the standard logger's output (CoreDNS's plugin log writes through it).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// TestGuardsReport: each guard has its log line and its metric. The never-block guard drops reserved,
// private and broad entries (guard_dropped by reason); the shrink guard holds a version that loses most
// entries (held); the staleness guard reports a feed not refreshed within max_age (stale).
func TestGuardsReport(t *testing.T) {
	logs := &logBuffer{}
	golog.SetOutput(logs)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	write("g.txt", "10.0.0.0/8\n127.0.0.1\n192.0.2.1\n2.0.0.0/7\n45.1.2.3\n")
	var many strings.Builder
	for i := range 20 {
		fmt.Fprintf(&many, "45.9.0.%d\n", i+1)
	}
	write("s.txt", many.String())
	write("o.txt", "45.7.7.7\n")
	coretest.Start(t, `guards.test:0 {
    bind 127.0.0.1
    threatfeed {
        refresh 50ms
        feed guarded {
            file `+dir+`/g.txt
            format plain
            category spam
        }
        feed shrinking {
            file `+dir+`/s.txt
            format plain
            category spam
        }
        feed old {
            file `+dir+`/o.txt
            format plain
            category spam
            max_age 1s
        }
    }
    threatstop {
        policy p {
            lists guarded shrinking old
        }
    }
}
`)
	metric := func(name string, labels map[string]string) float64 {
		return coretest.Counter(t, "coredns_threatfeed_"+name, labels)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s\n--- log ---\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for why, want := range map[string]float64{"private": 1, "reserved": 2, "broad": 1} {
		if got := metric("guard_dropped", map[string]string{"feed": "guarded", "reason": why}); got != want {
			t.Errorf("guard_dropped{feed=guarded,reason=%s} = %v, want %v", why, got, want)
		}
	}
	if !strings.Contains(logs.String(), "feed guarded: 4 entries dropped or trimmed because they must never be blocked") {
		t.Errorf("no guard log line for feed guarded:\n%s", logs.String())
	}

	write("s.txt", "45.9.0.1\n")
	waitFor("the shrinking feed is not held", func() bool {
		return metric("held", map[string]string{"feed": "shrinking"}) == 1
	})
	if !strings.Contains(logs.String(), "feed shrinking (file ") || !strings.Contains(logs.String(), "lost too many entries: 1 entries, down from 20") {
		t.Errorf("no log line for the held version:\n%s", logs.String())
	}
	if got := metric("entries", map[string]string{"feed": "shrinking"}); got != 20 {
		t.Errorf("entries{feed=shrinking} = %v while the shrunk version is held, want 20", got)
	}

	if err := os.Remove(filepath.Join(dir, "o.txt")); err != nil {
		t.Fatal(err)
	}
	waitFor("the old feed is not reported stale", func() bool {
		return metric("stale", map[string]string{"feed": "old"}) == 1
	})
	if !strings.Contains(logs.String(), "feed old (file ") || !strings.Contains(logs.String(), "not refreshed for more than 1s; still served") {
		t.Errorf("no staleness log line:\n%s", logs.String())
	}
	write("o.txt", "45.7.7.7\n")
	waitFor("the old feed does not become fresh again", func() bool {
		return metric("stale", map[string]string{"feed": "old"}) == 0
	})
}

// TestAllSkippedNotReady: a feed whose every line is skipped (HaGeZi's regex rules, which the adblock
// format cannot list) is not loaded at first, like a feed that does not parse: the server stays not
// ready, nothing of it is served, the log and the status say why, naming the format. With allow_empty
// the same file is a valid empty feed, served with a warning. Once the file lists an entry, it loads.
func TestAllSkippedNotReady(t *testing.T) {
	logs := &logBuffer{}
	golog.SetOutput(logs)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	dir := t.TempDir()
	regex, err := os.ReadFile(filepath.Join("..", "..", "testdata", "feeds", "hagezi_regex-wildcard-rules.adguard.txt"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, body []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p+".tmp", body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
	}
	write("good.txt", []byte("45.7.7.7\n"))
	write("regex.txt", regex)
	write("regex-ok.txt", regex)
	statusAddr, readyAddr := freeTCP(t), freeTCP(t)
	s := coretest.Start(t, fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    ready %s
    threatfeed {
        status %s
        refresh 50ms
        feed good {
            file %[3]s/good.txt
            format plain
            category spam
        }
        feed regex {
            file %[3]s/regex.txt
            format adblock
            category ads
        }
        feed regex-ok {
            file %[3]s/regex-ok.txt
            format adblock
            category ads
            allow_empty
        }
    }
    threatstop {
        policy p {
            lists good regex regex-ok
        }
    }
}
`, readyAddr, statusAddr, dir))
	ready := func() int {
		t.Helper()
		resp, err := http.Get("http://" + readyAddr + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	status := func() (bool, map[string]map[string]any) {
		t.Helper()
		resp, err := http.Get("http://" + statusAddr + "/feeds")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Ready bool             `json:"ready"`
			Feeds []map[string]any `json:"feeds"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		byName := map[string]map[string]any{}
		for _, f := range doc.Feeds {
			byName[f["name"].(string)] = f
		}
		return doc.Ready, byName
	}

	// A few polls after start-up: still not ready, the good feed served meanwhile.
	time.Sleep(5 * 50 * time.Millisecond)
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("ready with a feed whose every line is skipped: %d, want 503", code)
	}
	if r := s.Query(t, "7.7.7.45.p.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("the good feed is not served: %s", dns.RcodeToString[r.Rcode])
	}
	isReady, feeds := status()
	rx, ok := feeds["regex"], feeds["regex-ok"]
	if isReady || rx["loaded"] != false || rx["skipped"] != float64(33) || rx["entries"] != float64(0) {
		t.Errorf("status: ready %v, regex %v", isReady, rx)
	}
	if e, _ := rx["last_error"].(string); !strings.Contains(e, "every line skipped (33 lines skipped by format adblock") || !strings.Contains(e, "allow_empty") {
		t.Errorf("regex: last_error %q does not say that every line was skipped by the format", e)
	}
	if ok["loaded"] != true || ok["entries"] != float64(0) || ok["skipped"] != float64(33) || ok["last_error"] != nil {
		t.Errorf("regex-ok (allow_empty): %v", ok)
	}
	out := logs.String()
	if !strings.Contains(out, "[ERROR] plugin/threatfeed: feed regex (file ") || !strings.Contains(out, "no entries: every line skipped (33 lines skipped by format adblock") {
		t.Errorf("no error logged for feed regex:\n%s", out)
	}
	if !strings.Contains(out, "[WARNING] plugin/threatfeed: feed regex-ok (file ") || !strings.Contains(out, "version 1 has no entries: every line skipped (33 lines skipped by format adblock") {
		t.Errorf("no warning logged for feed regex-ok:\n%s", out)
	}
	if got := coretest.Counter(t, "coredns_threatfeed_skipped_lines", map[string]string{"feed": "regex"}); got != 33 {
		t.Errorf("skipped_lines{feed=regex} = %v, want 33", got)
	}

	// A version that lists something loads, and the server is ready.
	write("regex.txt", append(regex, "||listed.example^\n"...))
	deadline := time.Now().Add(5 * time.Second)
	for ready() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after the feed listed an entry\n--- log ---\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := s.Query(t, "listed.example.p.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("the entry of the loaded version is not listed: %s", dns.RcodeToString[r.Rcode])
	}
}
