package threatfeed_test

import (
	"bytes"
	"fmt"
	golog "log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
