package format_test

import (
	"encoding/json"
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
	}{{"Names", s.Names.Strings()}, {"Wildcards", s.Wildcards.Strings()}} {
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

// mode says which of checkMode's properties hold for a format.
type mode struct {
	// split: after prefix, each line parses on its own: the whole parse equals the union of the parses
	// of prefix+line for each line, in entries, skipped count, invalid lines and Set.
	split  bool
	prefix string
	// exclusive (with split): every line that is not a comment is exactly one of: a line that gave
	// entries (one or more: a range gives several), one skip, or one invalid line.
	exclusive bool
	// comment tells the lines that must count nothing (blank and comment lines); default isCommentLine.
	comment func(string) bool
	// records: a JSON format, whose Lines count records, not text lines.
	records bool
}

// checkParse parses data with p and checks every property that holds for any input of a line format:
//   - Stats.Lines is the number of lines;
//   - Stats.Entries is what went into the Builder, so at least the distinct entries of the Set;
//   - the Set's invariants (checkSet);
//   - parsing is line by line: the whole parse equals the union of the parses of each line alone, in
//     entries, skipped count and Set;
//   - Stats.Invalid counts lines: each line is flagged at most once, Invalid is the number of flagged
//     lines, and Samples hold the first MaxSamples of them with their 1-based line numbers.
//
// lineExclusive also checks that every line that is not blank or a comment is exactly one of a line that
// gave entries (a range gives several), a skipped line or an invalid line (true of every line format but
// hosts, whose lines hold several names).
func checkParse(t testing.TB, p format.Parser, data string, lineExclusive bool) (*entryset.Set, format.Stats) {
	t.Helper()
	return checkMode(t, p, data, mode{split: true, exclusive: lineExclusive})
}

// checkMode parses m.prefix+data with p and checks the properties that m names, and those that hold for
// every format: Entries is what went into the Builder; the Set's invariants; Samples are the first
// MaxSamples invalid lines, in order, within the body, with a reason and a short copy of the text; a second
// parse gives the same result; and a JSON body that is not valid JSON is one invalid line and nothing
// else.
func checkMode(t testing.TB, p format.Parser, data string, m mode) (*entryset.Set, format.Stats) {
	t.Helper()
	whole := m.prefix + data
	s, st, built := run(p, whole)
	if m.records {
		if !json.Valid([]byte(strings.TrimPrefix(whole, "\ufeff"))) && (st.Lines != 1 || st.Invalid != 1 || st.Entries != 0 || st.Skipped != 0 || len(st.Samples) != 1) {
			t.Fatalf("a body that is not JSON: %+v; want 1 line, 1 invalid, nothing else", st)
		}
		if st.Skipped+st.Invalid > st.Lines || st.Entries > 0 && st.Lines == 0 {
			t.Fatalf("%d skipped and %d invalid records, %d entries, out of %d records", st.Skipped, st.Invalid, st.Entries, st.Lines)
		}
	} else if want := len(splitLines(whole)); st.Lines != want {
		t.Fatalf("Stats.Lines = %d, want %d", st.Lines, want)
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
	// Every skip names its reason, so that a version whose every line was skipped says why.
	named := 0
	for r, c := range st.Skips {
		if r == "" || c <= 0 {
			t.Fatalf("Skips holds %q: %d", r, c)
		}
		named += c
	}
	if named != st.Skipped {
		t.Fatalf("%d lines skipped, %d of them with a reason (%v)", st.Skipped, named, st.Skips)
	}
	checkSet(t, s)
	if want := min(st.Invalid, format.MaxSamples); len(st.Samples) != want {
		t.Fatalf("%d Samples for %d invalid lines, want %d", len(st.Samples), st.Invalid, want)
	}
	for k, is := range st.Samples {
		if is.Line < 1 || is.Line > max(st.Lines, 1) || is.Reason == "" || len(is.Text) > 80+len("…") {
			t.Fatalf("Samples[%d] = %+v: line out of 1..%d, no reason, or a long text", k, is, st.Lines)
		}
		if k > 0 && st.Samples[k-1].Line > is.Line {
			t.Fatalf("Samples not in line order: %v", st.Samples)
		}
	}
	s2, st2, _ := run(p, whole)
	if !s2.Equal(s) || st2.Lines != st.Lines || st2.Entries != st.Entries || st2.Invalid != st.Invalid ||
		st2.Skipped != st.Skipped || !slices.Equal(st2.Samples, st.Samples) {
		t.Fatalf("a second parse differs: %+v vs %+v", st2, st)
	}
	if m.split {
		checkSplit(t, p, data, m, s, st)
	}
	return s, st
}

// checkSplit checks that the parse of prefix+data (s, st) is the union of the parses of prefix+line.
func checkSplit(t testing.TB, p format.Parser, data string, m mode, s *entryset.Set, st format.Stats) {
	t.Helper()
	comment := m.comment
	if comment == nil {
		comment = isCommentLine
	}
	_, pre, _ := run(p, m.prefix)
	if pre.Invalid != 0 || pre.Entries != 0 || pre.Skipped != 0 {
		t.Fatalf("the prefix alone counts %+v; want nothing", pre)
	}
	lines := splitLines(data)
	var merged entryset.Builder
	var flagged []int
	var sampleOf []format.Issue
	entries, skipped, dataLines, counted := 0, 0, 0, 0
	for i, line := range lines {
		n := pre.Lines + i + 1
		ls, lst, _ := run(p, m.prefix+line+"\n")
		if lst.Lines != pre.Lines+1 {
			t.Fatalf("line %d alone: Stats.Lines = %d", n, lst.Lines)
		}
		switch {
		case lst.Invalid > 1:
			t.Fatalf("line %d %q is counted invalid %d times; Stats.Invalid counts lines", n, line, lst.Invalid)
		case lst.Invalid == 1:
			flagged = append(flagged, n)
			if len(lst.Samples) != 1 || lst.Samples[0].Line != pre.Lines+1 {
				t.Fatalf("line %d alone: Samples %v", n, lst.Samples)
			}
			sampleOf = append(sampleOf, lst.Samples[0])
		case len(lst.Samples) != 0:
			t.Fatalf("line %d alone: Samples %v but no Invalid", n, lst.Samples)
		}
		if comment(line) {
			if lst.Entries != 0 || lst.Invalid != 0 || lst.Skipped != 0 {
				t.Fatalf("comment or blank line %d %q counted: %+v", n, line, lst)
			}
		} else if m.exclusive {
			dataLines++
			if min(lst.Entries, 1)+lst.Skipped+lst.Invalid != 1 {
				t.Fatalf("line %d %q: %d entries, %d skipped, %d invalid; want entries, one skip or one invalid", n, line, lst.Entries, lst.Skipped, lst.Invalid)
			}
		}
		counted += min(lst.Entries, 1) + lst.Skipped + lst.Invalid
		entries += lst.Entries
		skipped += lst.Skipped
		for _, v := range ls.V4 {
			merged.AddPrefix(entryset.UnpackV4(v))
		}
		for _, v := range ls.V6 {
			merged.AddPrefix(v.Prefix())
		}
		for _, nm := range ls.Names.All() {
			merged.AddName(nm, false)
		}
		for _, nm := range ls.Wildcards.All() {
			merged.AddName(nm, true)
		}
	}
	if st.Invalid != len(flagged) {
		t.Fatalf("Stats.Invalid = %d, but %d lines are flagged", st.Invalid, len(flagged))
	}
	if st.Entries != entries || st.Skipped != skipped {
		t.Fatalf("whole parse: %d entries, %d skipped; line by line: %d, %d", st.Entries, st.Skipped, entries, skipped)
	}
	for k, is := range st.Samples {
		if is.Line != flagged[k] || is.Text != sampleOf[k].Text || is.Reason != sampleOf[k].Reason {
			t.Fatalf("Samples[%d] = %+v, want line %d %+v", k, is, flagged[k], sampleOf[k])
		}
		if k > 0 && st.Samples[k-1].Line >= is.Line {
			t.Fatalf("Samples not in strict line order: %v", st.Samples)
		}
	}
	if m.exclusive && counted != dataLines {
		t.Fatalf("%d lines gave entries, a skip or an invalid line, out of %d data lines", counted, dataLines)
	}
	if mg := merged.Set(); !mg.Equal(s) {
		t.Fatalf("whole parse and line-by-line parse give different Sets: %d vs %d entries", s.Len(), mg.Len())
	}
}

// Comment predicates of the formats whose comments are not '#' and ';' lines. They are written here from
// the formats' documentation, not taken from the parsers.
var (
	adblockComment = func(line string) bool {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '!' {
			return true
		}
		// '#' lines are comments unless they are cosmetic rules ("##sel", "#@#sel", "#?#sel", ...).
		return line[0] == '#' && !strings.Contains(line, "##") && !strings.Contains(line, "#@#") &&
			!strings.Contains(line, "#?#") && !strings.Contains(line, "#$#") && !strings.Contains(line, "#%#") &&
			!strings.Contains(line, "#@?#") && !strings.Contains(line, "#@$#") && !strings.Contains(line, "#@%#")
	}
	tplComment = func(line string) bool {
		line = strings.TrimSpace(line)
		return line == "" || line[0] == '#' || line[0] == ':' || strings.EqualFold(line, "msFilterList")
	}
	unboundComment = func(line string) bool {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '#'); i >= 0 && !strings.Contains(line[:i], `"`) {
			line = strings.TrimSpace(line[:i])
		}
		key, ok := strings.CutSuffix(line, ":")
		return line == "" || ok && key != "" && !strings.ContainsAny(key, " \t:\"")
	}
	hashComment = func(line string) bool {
		line = strings.TrimSpace(line)
		return line == "" || line[0] == '#'
	}
	zoneComment = func(line string) bool {
		line = strings.Trim(line, " \t\r\v\f") // zone files are ASCII: U+3000 is no blank there
		return line == "" || line[0] == ';'
	}
)

// formatMode is the mode a format's parses are checked with (without a prefix).
func formatMode(name string) mode {
	switch name {
	case "hosts":
		return mode{split: true}
	case "adblock":
		return mode{split: true, exclusive: true, comment: adblockComment}
	case "tpl":
		return mode{split: true, exclusive: true, comment: tplComment}
	case "unbound":
		return mode{split: true, exclusive: true, comment: unboundComment}
	case "maltrail", "csv", "feodo-csv":
		return mode{split: true, exclusive: true, comment: hashComment}
	case "rpz", "bind":
		return mode{} // owners, origins and statements span lines
	case "feodo-json", "threatfox", "misp", "stix":
		return mode{records: true}
	}
	return mode{split: true, exclusive: true}
}

// jsonSplit splits a JSON feed body into its records, in the order the format numbers them, and returns a
// function that wraps one record into a body of its own. ok is false when the body does not have the
// format's shape (then only checkMode's general properties apply).
func jsonSplit(format, data string) (recs []string, wrap func(string) string, ok bool) {
	data = strings.TrimPrefix(data, "\ufeff")
	if !json.Valid([]byte(data)) {
		return nil, nil, false
	}
	raws := func(raw json.RawMessage) bool {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return false
		}
		for _, r := range list {
			recs = append(recs, string(r))
		}
		return true
	}
	switch format {
	case "feodo-json":
		return recs, func(r string) string { return "[" + r + "]" }, raws(json.RawMessage(data))
	case "stix":
		var b struct {
			Type    string          `json:"type"`
			Objects json.RawMessage `json:"objects"`
		}
		if json.Unmarshal([]byte(data), &b) != nil || b.Type != "bundle" {
			return nil, nil, false
		}
		return recs, func(r string) string { return `{"type":"bundle","objects":[` + r + `]}` }, raws(b.Objects)
	case "misp":
		var e struct {
			Event *struct {
				Attribute json.RawMessage
				Object    []struct{ Attribute json.RawMessage }
			}
		}
		if json.Unmarshal([]byte(data), &e) != nil || e.Event == nil || !raws(e.Event.Attribute) {
			return nil, nil, false
		}
		for _, o := range e.Event.Object {
			if !raws(o.Attribute) {
				return nil, nil, false
			}
		}
		return recs, func(r string) string { return `{"Event":{"Attribute":[` + r + `]}}` }, true
	case "threatfox":
		dec := json.NewDecoder(strings.NewReader(data))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return nil, nil, false
		}
		for dec.More() {
			if _, err := dec.Token(); err != nil {
				return nil, nil, false
			}
			var v json.RawMessage
			if dec.Decode(&v) != nil || !raws(v) {
				return nil, nil, false
			}
		}
		return recs, func(r string) string { return `{"1":[` + r + `]}` }, true
	}
	return nil, nil, false
}

// checkRecords checks that a JSON feed's parse is the union of the parses of its records alone, each
// record being one entry-giving record, one skip or one invalid record, with Samples at record indices.
func checkRecords(t testing.TB, p format.Parser, name, data string, s *entryset.Set, st format.Stats) {
	t.Helper()
	recs, wrap, ok := jsonSplit(name, data)
	if !ok {
		return
	}
	if st.Lines != len(recs) {
		t.Fatalf("Stats.Lines = %d for %d records", st.Lines, len(recs))
	}
	var merged entryset.Builder
	var flagged []int
	var sampleOf []format.Issue
	entries, skipped := 0, 0
	for i, r := range recs {
		ls, lst, _ := run(p, wrap(r))
		if lst.Lines != 1 || min(lst.Entries, 1)+lst.Skipped+lst.Invalid != 1 {
			t.Fatalf("record %d %s alone: %+v; want one record that gives entries, a skip or an invalid record", i+1, r, lst)
		}
		if lst.Invalid == 1 {
			flagged = append(flagged, i+1)
			sampleOf = append(sampleOf, lst.Samples[0])
		}
		entries += lst.Entries
		skipped += lst.Skipped
		for _, v := range ls.V4 {
			merged.AddPrefix(entryset.UnpackV4(v))
		}
		for _, v := range ls.V6 {
			merged.AddPrefix(v.Prefix())
		}
		for _, nm := range ls.Names.All() {
			merged.AddName(nm, false)
		}
		for _, nm := range ls.Wildcards.All() {
			merged.AddName(nm, true)
		}
	}
	if st.Entries != entries || st.Skipped != skipped || st.Invalid != len(flagged) {
		t.Fatalf("whole parse: %d entries, %d skipped, %d invalid; record by record: %d, %d, %d",
			st.Entries, st.Skipped, st.Invalid, entries, skipped, len(flagged))
	}
	for k, is := range st.Samples {
		if is.Line != flagged[k] || is.Text != sampleOf[k].Text || is.Reason != sampleOf[k].Reason {
			t.Fatalf("Samples[%d] = %+v, want record %d %+v", k, is, flagged[k], sampleOf[k])
		}
	}
	if mg := merged.Set(); !mg.Equal(s) {
		t.Fatalf("whole parse and record-by-record parse give different Sets: %d vs %d entries", s.Len(), mg.Len())
	}
}
