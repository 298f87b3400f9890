package threatlog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// benchMatcher is policy demo of the plugin tests over the same five real feeds, built directly.
func benchMatcher(b *testing.B) *matcher {
	b.Helper()
	feeds := filepath.Join("..", "..", "testdata", "feeds")
	var lists []snapshot.List
	for _, f := range []struct{ name, category, file string }{
		{"spamhaus-drop", "spam", "spamhaus_drop.txt"}, {"spamhaus-dropv6", "spam", "spamhaus_dropv6.txt"},
		{"tor-exits", "tor", "tor_exit_nodes.lst"}, {"cobalt", "c2", "alienvault-cobalt-strike.domains.txt"},
		{"hagezi-fake", "fraud", "hagezi_fake.wildcard.txt"},
	} {
		data, err := os.ReadFile(filepath.Join(feeds, f.file))
		if err != nil {
			b.Fatal(err)
		}
		var eb entryset.Builder
		for _, l := range strings.Split(string(data), "\n") {
			l, _, _ = strings.Cut(l, ";")
			if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
				policy.AddEntry(&eb, l) // comments and odd lines: skipped
			}
		}
		lists = append(lists, snapshot.List{Name: f.name, Category: f.category, Version: 1, Set: eb.Set()})
	}
	snap := snapshot.Build(lists, nil)
	p, err := policy.New(policy.Config{Name: "demo", Block: []int{0, 1, 2, 3, 4}, Blocked: []string{"203.0.113.0/24", "evil.example"}}, policy.Catalog(snap.Lists))
	if err != nil {
		b.Fatal(err)
	}
	return &matcher{p: p, snap: snap, t: &Threatlog{v4Bits: 32, v6Bits: 128, syncPrefix: "THREATSTOP DROP"}}
}

// benchLog is every fixture line (all seven formats, a quarter of them unknown) repeated to n lines.
func benchLog(b *testing.B, n int) []byte {
	b.Helper()
	var lines []string
	for _, f := range []string{"netfilter.log", "threatstop-sync.log", "pflog.txt", "threatstop-decisions.log", "bind-rpz.log", "unbound-rpz.log", "asa.log"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "logs", f))
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		buf.WriteString(lines[i%len(lines)])
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// BenchmarkIngest: parsing and matching against the policy, without storing.
func BenchmarkIngest(b *testing.B) {
	m, body := benchMatcher(b), benchLog(b, 10000)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st, err := m.ingest(bytes.NewReader(body), "gw", now, func(*logstore.Record) error { return nil }); err != nil || st.Lines != 10000 || st.Listed < st.Events*3/4 {
			b.Fatal(err, st)
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkIngestStore: parsing, matching and storing one 10,000-line upload (one transaction, one fsync).
func BenchmarkIngestStore(b *testing.B) {
	m, body := benchMatcher(b), benchLog(b, 10000)
	st, err := logstore.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var batch logstore.Batch
		if _, err := m.ingest(bytes.NewReader(body), "gw", now, batch.Add); err != nil {
			b.Fatal(err)
		}
		if err := st.AddBatch("demo", "gw", fmt.Sprint(i), now, &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "lines/s")
}
