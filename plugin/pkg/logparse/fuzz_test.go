package logparse

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

// One fuzz target per format, seeded with the format's fixture: a parser never panics, and an event it
// returns is well formed (a valid source, a time, its own format, a normalised name).
func fuzzFormat(f *testing.F, fixture string, parse func(*Parser, string) (Event, bool), formats ...Format) {
	fh, err := os.Open(filepath.Join("..", "..", "..", "testdata", "logs", fixture))
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f.Add(sc.Text())
	}
	fh.Close()
	f.Fuzz(func(t *testing.T, line string) {
		p := &Parser{Now: now}
		for _, ev := range []func() (Event, bool){func() (Event, bool) { return parse(p, line) }, func() (Event, bool) { return p.Line(line) }} {
			e, ok := ev()
			if !ok {
				continue
			}
			if !e.Src.IsValid() || e.Time.IsZero() || e.Action == "" {
				t.Fatalf("malformed event %+v from %q", e, line)
			}
			if e.Name != "" {
				if n, ok := domain.Normalize(e.Name); !ok || n != e.Name {
					t.Fatalf("name %q not normalised, from %q", e.Name, line)
				}
			}
			if e.Name == "" && !e.Dst.IsValid() {
				t.Fatalf("no remote side in %+v from %q", e, line)
			}
		}
		if e, ok := parse(p, line); ok {
			good := false
			for _, f := range formats {
				good = good || e.Format == f
			}
			if !good {
				t.Fatalf("format %s from %q", e.Format, line)
			}
		}
	})
}

func FuzzNetfilter(f *testing.F) {
	fuzzFormat(f, "netfilter.log", (*Parser).netfilter, Netfilter, ThreatstopSyn)
}

func FuzzThreatstopSync(f *testing.F) {
	fuzzFormat(f, "threatstop-sync.log", (*Parser).netfilter, Netfilter, ThreatstopSyn)
}

func FuzzPF(f *testing.F) { fuzzFormat(f, "pflog.txt", (*Parser).pf, PF) }

func FuzzDecision(f *testing.F) {
	fuzzFormat(f, "threatstop-decisions.log", func(p *Parser, l string) (Event, bool) {
		if !containsDecision(l) {
			return Event{}, false
		}
		return p.decision(l)
	}, Decision)
}

func FuzzBind(f *testing.F) { fuzzFormat(f, "bind-rpz.log", (*Parser).bind, BindRPZ) }

func FuzzUnbound(f *testing.F) {
	fuzzFormat(f, "unbound-rpz.log", func(p *Parser, l string) (Event, bool) {
		if !containsApplied(l) {
			return Event{}, false
		}
		return p.unbound(l)
	}, UnboundRPZ)
}

func FuzzASA(f *testing.F) {
	fuzzFormat(f, "asa.log", func(p *Parser, l string) (Event, bool) {
		if !containsASA(l) {
			return Event{}, false
		}
		return p.asa(l)
	}, ASA)
}

func containsDecision(l string) bool { return indexOf(l, "plugin/threatstop: decision ") >= 0 }
func containsApplied(l string) bool  { return indexOf(l, "rpz: applied ") >= 0 }
func containsASA(l string) bool      { return indexOf(l, "%ASA-") >= 0 || indexOf(l, "%FTD-") >= 0 }
func indexOf(s, sub string) int      { return strings.Index(s, sub) }
