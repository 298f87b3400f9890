package format_test

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
)

// feedDir holds the real feed files, relative to this package.
const feedDir = "../../../testdata/feeds/"

func readFeed(tb testing.TB, name string) string {
	tb.Helper()
	data, err := os.ReadFile(feedDir + name)
	if err != nil {
		tb.Fatalf("reading feed file: %v", err)
	}
	return string(data)
}

func newParser(tb testing.TB, name string, opts map[string][]string) format.Parser {
	tb.Helper()
	p, err := format.New(name, opts)
	if err != nil {
		tb.Fatalf("format.New(%q, %v): %v", name, opts, err)
	}
	return p
}

// run parses data and returns the Set, the Stats and the Builder's Len just before Set.
func run(p format.Parser, data string) (*entryset.Set, format.Stats, int) {
	var b entryset.Builder
	var st format.Stats
	p.Parse(data, &b, &st)
	n := b.Len()
	return b.Set(), st, n
}

// prefixes lists the V4 and then the V6 entries of s in their String form.
func prefixes(s *entryset.Set) []string {
	var out []string
	for _, v := range s.V4 {
		out = append(out, entryset.UnpackV4(v).String())
	}
	for _, v := range s.V6 {
		out = append(out, v.Prefix().String())
	}
	return out
}

func hasPrefix(s *entryset.Set, p string) bool {
	pp := netip.MustParsePrefix(p)
	if pp.Addr().Is4() {
		_, ok := slices.BinarySearch(s.V4, entryset.PackV4(pp))
		return ok
	}
	_, ok := slices.BinarySearchFunc(s.V6, entryset.PackV6(pp), entryset.V6.Compare)
	return ok
}

func hasString(list []string, s string) bool {
	_, ok := slices.BinarySearch(list, s)
	return ok
}

// splitLines splits data the way the parsers count lines: at LF, with a last line that has no LF still a
// line, and no line after a final LF.
func splitLines(data string) []string {
	if data == "" {
		return nil
	}
	lines := strings.Split(data, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func isCommentLine(line string) bool {
	line = strings.TrimSpace(line)
	return line == "" || line[0] == '#' || line[0] == ';'
}

// checkSet checks the invariants of a built Set: sorted, duplicate-free, masked, valid prefixes, no
// IPv4-mapped IPv6 prefix that should have been stored as IPv4, and normalised, listable names.
func checkSet(t testing.TB, s *entryset.Set) {
	t.Helper()
	for i, v := range s.V4 {
		if i > 0 && s.V4[i-1] >= v {
			t.Fatalf("V4 not strictly ascending at %d: %s then %s", i, entryset.UnpackV4(s.V4[i-1]), entryset.UnpackV4(v))
		}
		p := entryset.UnpackV4(v)
		if !p.IsValid() || !p.Addr().Is4() || p.Bits() > 32 || p.Masked() != p || entryset.PackV4(p) != v {
			t.Fatalf("V4 entry %#x = %s is not a valid masked IPv4 prefix", v, p)
		}
	}
	for i, v := range s.V6 {
		if i > 0 && s.V6[i-1].Compare(v) >= 0 {
			t.Fatalf("V6 not strictly ascending at %d: %s then %s", i, s.V6[i-1].Prefix(), v.Prefix())
		}
		p := v.Prefix()
		if !p.IsValid() || !p.Addr().Is6() || p.Masked() != p || entryset.PackV6(p) != v {
			t.Fatalf("V6 entry %+v = %s is not a valid masked IPv6 prefix", v, p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			t.Fatalf("V6 entry %s is IPv4-mapped and should be stored as IPv4", p)
		}
	}
	for _, list := range []struct {
		what  string
		names []string
	}{{"Names", s.Names}, {"Wildcards", s.Wildcards}} {
		for i, n := range list.names {
			if i > 0 && list.names[i-1] >= n {
				t.Fatalf("%s not strictly ascending at %d: %q then %q", list.what, i, list.names[i-1], n)
			}
			if !domain.Valid(n) || !domain.Listable(n) || strings.ToLower(n) != n {
				t.Fatalf("%s holds %q, which is not a valid, listable, lowercase name", list.what, n)
			}
		}
	}
}

// checkParse parses data with p and checks every property that holds for any input:
//   - Stats.Lines is the number of lines;
//   - Stats.Entries is what went into the Builder, so at least the distinct entries of the Set;
//   - the Set's invariants (checkSet);
//   - parsing is line by line: the whole parse equals the union of the parses of each line alone, in
//     entries, skipped count and Set;
//   - Stats.Invalid counts lines: each line is flagged at most once, Invalid is the number of flagged
//     lines, and Samples hold the first MaxSamples of them with their 1-based line numbers.
//
// lineExclusive also checks that every line that is not blank or a comment is exactly one of an entry, a
// skipped line or an invalid line (true of every format but hosts, whose lines hold several names).
func checkParse(t testing.TB, p format.Parser, data string, lineExclusive bool) (*entryset.Set, format.Stats) {
	t.Helper()
	s, st, built := run(p, data)
	lines := splitLines(data)
	if st.Lines != len(lines) {
		t.Fatalf("Stats.Lines = %d, want %d", st.Lines, len(lines))
	}
	if st.Entries != built {
		t.Fatalf("Stats.Entries = %d, but %d entries went into the Builder", st.Entries, built)
	}
	if st.Entries < s.Len() {
		t.Fatalf("Stats.Entries = %d < %d distinct entries in the Set", st.Entries, s.Len())
	}
	if st.Entries < 0 || st.Invalid < 0 || st.Skipped < 0 {
		t.Fatalf("negative Stats: %+v", st)
	}
	checkSet(t, s)

	var merged entryset.Builder
	var flagged []int
	var sampleOf []format.Issue
	entries, skipped, data0 := 0, 0, 0
	for i, line := range lines {
		n := i + 1
		ls, lst, _ := run(p, line+"\n")
		if lst.Lines != 1 {
			t.Fatalf("line %d alone: Stats.Lines = %d", n, lst.Lines)
		}
		switch {
		case lst.Invalid > 1:
			t.Fatalf("line %d %q is counted invalid %d times; Stats.Invalid counts lines", n, line, lst.Invalid)
		case lst.Invalid == 1:
			flagged = append(flagged, n)
			if len(lst.Samples) != 1 || lst.Samples[0].Line != 1 {
				t.Fatalf("line %d alone: Samples %v", n, lst.Samples)
			}
			sampleOf = append(sampleOf, lst.Samples[0])
		case len(lst.Samples) != 0:
			t.Fatalf("line %d alone: Samples %v but no Invalid", n, lst.Samples)
		}
		if lineExclusive && !isCommentLine(line) {
			data0++
			if lst.Entries+lst.Skipped+lst.Invalid != 1 {
				t.Fatalf("line %d %q: %d entries, %d skipped, %d invalid; want exactly one", n, line, lst.Entries, lst.Skipped, lst.Invalid)
			}
		}
		if isCommentLine(line) && (lst.Entries != 0 || lst.Invalid != 0 || lst.Skipped != 0) {
			t.Fatalf("comment or blank line %d %q counted: %+v", n, line, lst)
		}
		entries += lst.Entries
		skipped += lst.Skipped
		for _, v := range ls.V4 {
			merged.AddPrefix(entryset.UnpackV4(v))
		}
		for _, v := range ls.V6 {
			merged.AddPrefix(v.Prefix())
		}
		for _, nm := range ls.Names {
			merged.AddName(nm, false)
		}
		for _, nm := range ls.Wildcards {
			merged.AddName(nm, true)
		}
	}
	if st.Invalid != len(flagged) {
		t.Fatalf("Stats.Invalid = %d, but %d lines are flagged", st.Invalid, len(flagged))
	}
	if st.Entries != entries || st.Skipped != skipped {
		t.Fatalf("whole parse: %d entries, %d skipped; line by line: %d, %d", st.Entries, st.Skipped, entries, skipped)
	}
	if want := min(len(flagged), format.MaxSamples); len(st.Samples) != want {
		t.Fatalf("%d Samples for %d invalid lines, want %d", len(st.Samples), len(flagged), want)
	}
	for k, is := range st.Samples {
		if is.Line != flagged[k] || is.Text != sampleOf[k].Text || is.Reason != sampleOf[k].Reason {
			t.Fatalf("Samples[%d] = %+v, want line %d %+v", k, is, flagged[k], sampleOf[k])
		}
		if k > 0 && st.Samples[k-1].Line >= is.Line {
			t.Fatalf("Samples not in line order: %v", st.Samples)
		}
	}
	if lineExclusive && st.Entries+st.Skipped+st.Invalid != data0 {
		t.Fatalf("%d entries + %d skipped + %d invalid != %d data lines", st.Entries, st.Skipped, st.Invalid, data0)
	}
	if m := merged.Set(); !m.Equal(s) {
		t.Fatalf("whole parse and line-by-line parse give different Sets: %d vs %d entries", s.Len(), m.Len())
	}
	return s, st
}
