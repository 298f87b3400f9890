package format_test

import (
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/threatstop/threatstop/plugin/pkg/format"
)

func TestRegistry(t *testing.T) {
	want := []string{"adblock", "bind", "csv", "dnsmasq", "dshield", "feodo-csv", "feodo-json", "hosts", "ipset", "ipsum",
		"maltrail", "misp", "netset", "p2p", "plain", "rbldnsd-dnset", "rbldnsd-ip4set", "rbldnsd-ip4trie", "rbldnsd-ip6trie", "rpz",
		"spamhaus", "spamhaus-json", "stix", "threatfox", "tpl",
		"unbound", "url", "wildcard"}
	if got := format.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, n := range want {
		f, ok := format.Lookup(n)
		if !ok || f.Name != n || f.New == nil {
			t.Errorf("Lookup(%q) = %+v, %v", n, f, ok)
		}
		if _, err := format.New(n, nil); err != nil {
			t.Errorf("New(%q, nil): %v", n, err)
		}
		if _, err := format.New(n, map[string][]string{}); err != nil {
			t.Errorf("New(%q, {}): %v", n, err)
		}
	}
	for name, opts := range map[string][]string{"ipsum": {"min_score"}, "csv": {"column", "delimiter"},
		"feodo-csv": {"status"}, "feodo-json": {"status"}, "misp": {"all_attributes"}, "url": {"paths"}, "plain": nil, "rpz": nil} {
		if f, ok := format.Lookup(name); !ok || !slices.Equal(f.Options, opts) {
			t.Errorf("%s options = %q, want %q", name, f.Options, opts)
		}
	}
	for _, n := range []string{"", "Plain", "PLAIN", "json", "Adblock", "RPZ", "feodo", "spamhaus_json", "hosts "} {
		if _, ok := format.Lookup(n); ok {
			t.Errorf("Lookup(%q) found a format", n)
		}
		_, err := format.New(n, nil)
		if err == nil {
			t.Errorf("New(%q) accepted an unknown format", n)
		} else if !strings.Contains(err.Error(), strings.Join(want, ", ")) {
			t.Errorf("New(%q) error %q does not list the known formats", n, err)
		}
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		format string
		opts   map[string][]string
		ok     bool
	}{
		{"ipsum", nil, true},
		{"ipsum", map[string][]string{"min_score": {"1"}}, true},
		{"ipsum", map[string][]string{"min_score": {"3"}}, true},
		{"ipsum", map[string][]string{"min_score": {"100"}}, true},
		{"ipsum", map[string][]string{"min_score": {"0"}}, false},
		{"ipsum", map[string][]string{"min_score": {"-1"}}, false},
		{"ipsum", map[string][]string{"min_score": {"x"}}, false},
		{"ipsum", map[string][]string{"min_score": {"1.5"}}, false},
		{"ipsum", map[string][]string{"min_score": {"3x"}}, false},
		{"ipsum", map[string][]string{"min_score": {""}}, false},
		{"ipsum", map[string][]string{"min_score": {" 3"}}, false},
		{"ipsum", map[string][]string{"min_score": {"99999999999999999999999"}}, false},
		{"ipsum", map[string][]string{"min_score": {}}, false},
		{"ipsum", map[string][]string{"min_score": nil}, false},
		{"ipsum", map[string][]string{"min_score": {"1", "2"}}, false},
		{"ipsum", map[string][]string{"minscore": {"1"}}, false},
		{"ipsum", map[string][]string{"min_score": {"2"}, "extra": {"1"}}, false},
		{"plain", map[string][]string{"min_score": {"2"}}, false},
		{"hosts", map[string][]string{"min_score": {"2"}}, false},
		{"spamhaus", map[string][]string{"x": nil}, false},
		{"wildcard", map[string][]string{"": nil}, false},
	}
	for _, tt := range tests {
		p, err := format.New(tt.format, tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, %q): error %v, want ok=%v", tt.format, tt.opts, err, tt.ok)
		}
		if err == nil && p == nil {
			t.Errorf("New(%q, %q) returned a nil parser", tt.format, tt.opts)
		}
	}
}

func TestIssueString(t *testing.T) {
	is := format.Issue{Line: 3, Text: "0.0.0.0 ttp", Reason: "not a host name"}
	if got, want := is.String(), `line 3: not a host name: "0.0.0.0 ttp"`; got != want {
		t.Errorf("Issue.String() = %q, want %q", got, want)
	}
}

// parseCase is one small inline input and what it must give.
type parseCase struct {
	name     string
	format   string
	opts     map[string][]string
	in       string
	prefixes []string // V4 then V6, in Set order
	names    []string
	wild     []string
	lines    int
	entries  int
	invalid  int
	skipped  int   // -1: not checked
	bad      []int // line numbers of Samples
	mode     *mode // instead of formatMode(format)
}

func runCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.format+"/"+tc.name, func(t *testing.T) {
			p := newParser(t, tc.format, tc.opts)
			m := formatMode(tc.format)
			if tc.mode != nil {
				m = *tc.mode
			}
			s, st := checkMode(t, p, tc.in, m)
			if m.records {
				checkRecords(t, p, tc.format, tc.in, s, st)
			}
			if got := prefixes(s); !slices.Equal(got, tc.prefixes) {
				t.Errorf("prefixes = %q, want %q", got, tc.prefixes)
			}
			if !slices.Equal(s.Names.Strings(), tc.names) {
				t.Errorf("Names = %q, want %q", s.Names, tc.names)
			}
			if !slices.Equal(s.Wildcards.Strings(), tc.wild) {
				t.Errorf("Wildcards = %q, want %q", s.Wildcards, tc.wild)
			}
			if st.Lines != tc.lines || st.Entries != tc.entries || st.Invalid != tc.invalid || (tc.skipped >= 0 && st.Skipped != tc.skipped) {
				t.Errorf("Stats = lines %d entries %d invalid %d skipped %d, want %d %d %d %d",
					st.Lines, st.Entries, st.Invalid, st.Skipped, tc.lines, tc.entries, tc.invalid, tc.skipped)
			}
			var bad []int
			for _, is := range st.Samples {
				bad = append(bad, is.Line)
			}
			if !slices.Equal(bad, tc.bad) {
				t.Errorf("Samples at lines %v, want %v (%v)", bad, tc.bad, st.Samples)
			}
		})
	}
}

func TestPlain(t *testing.T) {
	runCases(t, []parseCase{
		{name: "empty", format: "plain", in: ""},
		{name: "one LF", format: "plain", in: "\n", lines: 1},
		{name: "comments", format: "plain", in: "# c\n; c\n  # indented\n\t; indented\n#1.2.3.4\n;example.com\n1.2.3.4\n",
			prefixes: []string{"1.2.3.4/32"}, lines: 7, entries: 1},
		{name: "inline comments", format: "plain",
			in:       "1.2.3.4 # c\n5.6.7.8\t; c\nexample.com  #x\n10.0.0.0/8\t \t# y\n2001:db8::1 ;z\n*.evil.example\t#w\n",
			prefixes: []string{"1.2.3.4/32", "5.6.7.8/32", "10.0.0.0/8", "2001:db8::1/128"},
			names:    []string{"example.com"}, wild: []string{"evil.example"}, lines: 6, entries: 6},
		{name: "comment glued to the entry", format: "plain", in: "1.2.3.4#c\nexample.com;c\n5.6.7.8\n",
			prefixes: []string{"5.6.7.8/32"}, lines: 3, entries: 1, invalid: 2, bad: []int{1, 2}},
		{name: "CRLF", format: "plain", in: "1.2.3.4\r\nexample.com\r\n# c\r\n\r\n10.0.0.0/8 # c\r\n",
			prefixes: []string{"1.2.3.4/32", "10.0.0.0/8"}, names: []string{"example.com"}, lines: 5, entries: 3},
		{name: "no final newline", format: "plain", in: "1.2.3.4\nexample.com",
			prefixes: []string{"1.2.3.4/32"}, names: []string{"example.com"}, lines: 2, entries: 2},
		{name: "no final newline, CR", format: "plain", in: "1.2.3.4\r\nexample.com\r",
			prefixes: []string{"1.2.3.4/32"}, names: []string{"example.com"}, lines: 2, entries: 2},
		{name: "only a comment without newline", format: "plain", in: "# c", lines: 1},
		{name: "blank and whitespace lines", format: "plain", in: "\n   \n\t\n \t \r\n\r\n1.2.3.4\n\n",
			prefixes: []string{"1.2.3.4/32"}, lines: 7, entries: 1},
		{name: "surrounding blanks", format: "plain", in: "  1.2.3.4  \n\texample.com\t\n",
			prefixes: []string{"1.2.3.4/32"}, names: []string{"example.com"}, lines: 2, entries: 2},
		{name: "uppercase", format: "plain", in: "EXAMPLE.COM\nWww.Example.Com\n*.EVIL.Example\n2001:DB8::ABCD\n",
			prefixes: []string{"2001:db8::abcd/128"}, names: []string{"example.com", "www.example.com"},
			wild: []string{"evil.example"}, lines: 4, entries: 4},
		{name: "trailing dot", format: "plain", in: "example.com.\n*.evil.example.\nexample.net..\n",
			names: []string{"example.com"}, wild: []string{"evil.example"}, lines: 3, entries: 2, invalid: 1, bad: []int{3}},
		{name: "IPv4-mapped IPv6", format: "plain", in: "::ffff:1.2.3.4\n::ffff:10.0.0.0/104\n::ffff:192.0.2.0/120\n::ffff:0:0/96\n",
			prefixes: []string{"0.0.0.0/0", "1.2.3.4/32", "10.0.0.0/8", "192.0.2.0/24"}, lines: 4, entries: 4},
		{name: "host bits masked", format: "plain", in: "192.0.2.77/24\n2001:db8::1/32\n10.255.255.255/8\n1.2.3.4/0\n",
			prefixes: []string{"0.0.0.0/0", "10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"}, lines: 4, entries: 4},
		{name: "duplicates", format: "plain", in: "1.2.3.4\n1.2.3.4/32\n::ffff:1.2.3.4\n1.2.3.5/32\na.example\nA.example.\n*.a.example\n*.A.EXAMPLE\n",
			prefixes: []string{"1.2.3.4/32", "1.2.3.5/32"}, names: []string{"a.example"}, wild: []string{"a.example"},
			lines: 8, entries: 8},
		{name: "text after the entry", format: "plain",
			in:       "1.2.3.4 5.6.7.8\nexample.com extra\n1.2.3.4 ok # no\n10.0.0.0/8\tSBL1\n1.2.3.4\n",
			prefixes: []string{"1.2.3.4/32"}, lines: 5, entries: 1, invalid: 4, bad: []int{1, 2, 3, 4}},
		{name: "not entries", format: "plain",
			in: "localhost\n1.2.3.256\n1.2.3.4/33\n01.2.3.4\n-bad.com\n*.com\n*.\n||ads.example^\nbad_\xff.example\n1.2.3\n" +
				"1.2.3.4/\n/24\n2001:db8::/129\n2001:db8:::1\nexample..com\n*\n0.0.0.0/-1\n1.2.3.4/08\nab--c.münchen.de\n" + strings.Repeat("a", 64) + ".com\n",
			lines: 20, invalid: 20, bad: []int{1, 2, 3, 4, 5}},
		{name: "URLs and hashes are skipped", format: "plain",
			in: "http://example.com/x\nhxxps://evil.example\nftp://1.2.3.4/a\nHTTP:evil.example\nmailto:a@b.example\n" +
				"d41d8cd98f00b204e9800998ecf8427e\nda39a3ee5e6b4b0d3255bfef95601890afd80709\n" +
				"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n" + strings.Repeat("ab", 64) + "\n" +
				"d41d8cd98f00b204e9800998ecf8427\nd41d8cd98f00b204e9800998ecf8427e0.example\nevil.example:8080\n",
			names: []string{"d41d8cd98f00b204e9800998ecf8427e0.example"}, lines: 12, entries: 1, skipped: 9, invalid: 2, bad: []int{10, 12}},
		{name: "internationalised names", format: "plain", in: "münchen.de\nMÜNCHEN.DE.\n*.Bücher.example\n日本語.jp\nxn--mnchen-3ya.de\n",
			names: []string{"xn--mnchen-3ya.de", "xn--wgv71a119e.jp"}, wild: []string{"xn--bcher-kva.example"}, lines: 5, entries: 5},
		{name: "ranges", format: "plain",
			in: "192.0.2.0-192.0.2.255\r\n10.0.0.1-10.0.0.1\n10.0.0.5-10.0.0.10 # c\n2001:db8::-2001:db8::ffff:ffff\n" +
				"::ffff:1.2.3.0-::ffff:1.2.3.3\n0.0.0.0-255.255.255.255\n",
			prefixes: []string{"0.0.0.0/0", "1.2.3.0/30", "10.0.0.1/32", "10.0.0.5/32", "10.0.0.6/31", "10.0.0.8/31", "10.0.0.10/32",
				"192.0.2.0/24", "2001:db8::/96"},
			lines: 6, entries: 9},
		{name: "bad ranges", format: "plain",
			in:    "10.0.0.2-10.0.0.1\n10.0.0.1-2001:db8::1\n10.0.0.1-\n-10.0.0.1\n10.0.0.1--10.0.0.2\n10.0.0.0/24-10.0.1.0\nfe80::1%eth0-fe80::2\n1.2.3.4 - 1.2.3.5\na-b.example\n",
			names: []string{"a-b.example"}, lines: 9, entries: 1, invalid: 8, bad: []int{1, 2, 3, 4, 5}},
		{name: "MaxSamples", format: "plain",
			in:       "bad1\n1.2.3.4\nbad2\nbad3\n# c\nbad4\nbad5\nbad6\nexample.com\nbad7\n",
			prefixes: []string{"1.2.3.4/32"}, names: []string{"example.com"}, lines: 10, entries: 2, invalid: 7,
			bad: []int{1, 3, 4, 6, 7}},
		{name: "single-label names", format: "plain", in: "com\n*.com\nlocalhost.\n",
			lines: 3, invalid: 3, bad: []int{1, 2, 3}},
		{name: "underscores and hyphens", format: "plain", in: "_dmarc.example.com\nxn--bcher-kva.example\na-b.c_d.example\n",
			names: []string{"_dmarc.example.com", "a-b.c_d.example", "xn--bcher-kva.example"}, lines: 3, entries: 3},
	})
}

// TestPlainZone: an IPv6 address with a zone is no feed entry, written as an address or as a prefix.
func TestPlainZone(t *testing.T) {
	for _, f := range []string{"plain", "spamhaus"} {
		p := newParser(t, f, nil)
		s, st, _ := run(p, "fe80::1%eth0\nfe80::1%eth0/128\n")
		if st.Invalid != 2 || st.Entries != 0 || s.Len() != 0 {
			t.Errorf("%s: zoned address lines gave %d entries %q, %d invalid; want 0 entries, 2 invalid",
				f, st.Entries, prefixes(s), st.Invalid)
		}
	}
	p := newParser(t, "ipsum", nil)
	s, st, _ := run(p, "fe80::1%eth0\t3\n")
	if st.Invalid != 1 || st.Entries != 0 || s.Len() != 0 {
		t.Errorf("ipsum: zoned address line gave %d entries %q, %d invalid; want 0 entries, 1 invalid",
			st.Entries, prefixes(s), st.Invalid)
	}
}

func TestSampleText(t *testing.T) {
	long := strings.Repeat("x", 100)
	data := "ok.example\n  " + long + "  \r\n"
	s, st, _ := run(newParser(t, "plain", nil), data)
	if s.Len() != 1 || st.Invalid != 1 || len(st.Samples) != 1 {
		t.Fatalf("got %d entries, %+v", s.Len(), st)
	}
	is := st.Samples[0]
	if is.Line != 2 || is.Text != long[:80]+"…" || is.Reason == "" {
		t.Errorf("Samples[0] = %+v, want line 2 and the first 80 bytes of the trimmed line", is)
	}
	// A sample is a copy: it must not keep the feed body alive.
	lo := uintptr(unsafe.Pointer(unsafe.StringData(data)))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(is.Text))); p >= lo && p < lo+uintptr(len(data)) {
		t.Errorf("Samples[0].Text points into the feed body")
	}

	_, st, _ = run(newParser(t, "plain", nil), "bad line\n")
	if st.Samples[0].Text != "bad line" {
		t.Errorf("short sample text = %q", st.Samples[0].Text)
	}
}

// TestNamesDoNotAliasBody checks that the Set built from a parse does not point into the feed body.
func TestNamesDoNotAliasBody(t *testing.T) {
	data := "a.example\n*.b.example\n0.0.0.0 c.example\n"
	for _, f := range []string{"plain", "hosts", "wildcard"} {
		s, _, _ := run(newParser(t, f, nil), data)
		lo := uintptr(unsafe.Pointer(unsafe.StringData(data)))
		for _, n := range append(slices.Clone(s.Names.Strings()), s.Wildcards.Strings()...) {
			if p := uintptr(unsafe.Pointer(unsafe.StringData(n))); p >= lo && p < lo+uintptr(len(data)) {
				t.Errorf("%s: name %q points into the feed body", f, n)
			}
		}
	}
}

func TestHosts(t *testing.T) {
	runCases(t, []parseCase{
		{name: "preamble", format: "hosts",
			in: "127.0.0.1 localhost\n::1 localhost\n255.255.255.255 broadcasthost\n0.0.0.0 0.0.0.0\n" +
				"127.0.0.1 localhost.localdomain\n127.0.0.1 local\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\n" +
				"ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\nff02::3 ip6-allhosts\n::1 ip6-localhost\n::1 ip6-loopback\n" +
				"127.0.0.1 LocalHost\n0.0.0.0 evil.example\n",
			names: []string{"evil.example"}, lines: 15, entries: 1, skipped: 14},
		{name: "preamble with several names", format: "hosts",
			in:    "::1 localhost ip6-localhost ip6-loopback\n127.0.0.1 localhost localhost.localdomain evil.example\n",
			names: []string{"evil.example"}, lines: 2, entries: 1, skipped: -1},
		{name: "several names", format: "hosts", in: "0.0.0.0 a.example b.example # comment\n127.0.0.1\tc.example\t\td.example\n",
			names: []string{"a.example", "b.example", "c.example", "d.example"}, lines: 2, entries: 4},
		{name: "CRLF, tabs, case, trailing dot, no final newline", format: "hosts",
			in:    "# c\r\n0.0.0.0\tA.Example.\r\n\r\n127.0.0.1   b.EXAMPLE",
			names: []string{"a.example", "b.example"}, lines: 4, entries: 2},
		{name: "comments", format: "hosts", in: "# 0.0.0.0 a.example\n; 0.0.0.0 b.example\n  # x\n0.0.0.0 c.example #d.example\n0.0.0.0 e.example#glued\n",
			names: []string{"c.example", "e.example"}, lines: 5, entries: 2},
		{name: "addresses", format: "hosts", in: "0.0.0.0 a.example\n127.0.0.1 b.example\n::1 c.example\n:: d.example\n192.0.2.1 e.example\nfe80::1%lo0 f.example\n",
			names: []string{"a.example", "b.example", "c.example", "d.example", "e.example", "f.example"}, lines: 6, entries: 6},
		{name: "duplicates", format: "hosts", in: "0.0.0.0 a.example\n127.0.0.1 A.EXAMPLE\n0.0.0.0 a.example a.example.\n",
			names: []string{"a.example"}, lines: 3, entries: 4},
		{name: "invalid", format: "hosts",
			in: "0.0.0.0 ttp\n0.0.0.0 84.54.0.51.78\nevil.example\n0.0.0.0\nnot-an-ip evil.example\n1.2.3.0/24 evil.example\n" +
				"0.0.0.0 *.evil.example\n0.0.0.0 # only a comment\n0.0.0.0 -bad.example\n0.0.0.0 ok.example\n0.0.0.0 1.2.3.4\n",
			names: []string{"ok.example"}, lines: 11, entries: 1, invalid: 10, bad: []int{1, 2, 3, 4, 5}},
		{name: "a good and a bad name on one line", format: "hosts", in: "0.0.0.0 ok.example bad!\n0.0.0.0 ttp ok2.example\n",
			names: []string{"ok.example", "ok2.example"}, lines: 2, entries: 2, invalid: 2, bad: []int{1, 2}},
		{name: "preamble and a bad name", format: "hosts", in: "127.0.0.1 localhost ttp\n",
			lines: 1, invalid: 1, bad: []int{1}}, // a line counts once, as invalid
	})
}

// TestHostsInvalidCountsLines: Stats.Invalid counts lines, so one line with two bad names counts once and
// appears once in Samples. The feed compares Invalid with Entries to reject garbage, so counting names
// instead could reject a feed that is mostly good.
func TestHostsInvalidCountsLines(t *testing.T) {
	_, st, _ := run(newParser(t, "hosts", nil), "0.0.0.0 ttp xyz\n0.0.0.0 good.example\n")
	if st.Invalid != 1 || len(st.Samples) != 1 {
		t.Errorf("one line with two bad names: Invalid = %d, Samples = %v; want 1 and one sample for line 1", st.Invalid, st.Samples)
	}
}

func TestSpamhaus(t *testing.T) {
	runCases(t, []parseCase{
		{name: "drop", format: "spamhaus",
			in:       "; Spamhaus DROP List\n; Last-Modified: x\n1.10.16.0/20 ; SBL256894\n2001:678:6c4::/48 ; SBL626637\n1.19.0.0/16 ; SBL434604\n; EOF\n",
			prefixes: []string{"1.10.16.0/20", "1.19.0.0/16", "2001:678:6c4::/48"}, lines: 6, entries: 3},
		{name: "no comment, tab, hash, address", format: "spamhaus", in: "1.10.16.0/20\n1.19.0.0/16\t;SBL1\n2.0.0.0/8 # x\n192.0.2.1\n",
			prefixes: []string{"1.10.16.0/20", "1.19.0.0/16", "2.0.0.0/8", "192.0.2.1/32"}, lines: 4, entries: 4},
		{name: "masked", format: "spamhaus", in: "10.1.2.3/8 ; x\n2001:db8::1/32 ; y\n",
			prefixes: []string{"10.0.0.0/8", "2001:db8::/32"}, lines: 2, entries: 2},
		{name: "CRLF and no final newline", format: "spamhaus", in: "; c\r\n1.10.16.0/20 ; SBL256894\r\n; EOF",
			prefixes: []string{"1.10.16.0/20"}, lines: 3, entries: 1},
		{name: "duplicate prefix", format: "spamhaus", in: "62.60.226.0/24 ; SBL671779\n62.60.226.0/24 ; SBL697779\n",
			prefixes: []string{"62.60.226.0/24"}, lines: 2, entries: 2},
		{name: "invalid", format: "spamhaus",
			in:       "1.10.16.0/20 SBL256894\nexample.com ; x\n1.2.3.4/33 ; x\n*.example.com\n1.2.3.4 5.6.7.8\n1.10.16.0/20;SBL1\n3.0.0.0/8\n",
			prefixes: []string{"3.0.0.0/8"}, lines: 7, entries: 1, invalid: 6, bad: []int{1, 2, 3, 4, 5}},
		{name: "only comments", format: "spamhaus", in: "; a\n; b\n; EOF\n", lines: 3},
	})
}

func TestIpsum(t *testing.T) {
	minScore := func(n string) map[string][]string { return map[string][]string{"min_score": {n}} }
	in := "# IPsum\n# IP\tnumber of (black)lists\n#\n1.2.3.4\t5\n5.6.7.8\t1\n9.9.9.9 3\n10.0.0.1\t2\n2001:db8::1\t4\n"
	runCases(t, []parseCase{
		{name: "default", format: "ipsum", in: in,
			prefixes: []string{"1.2.3.4/32", "5.6.7.8/32", "9.9.9.9/32", "10.0.0.1/32", "2001:db8::1/128"}, lines: 8, entries: 5},
		{name: "min 1", format: "ipsum", opts: minScore("1"), in: in,
			prefixes: []string{"1.2.3.4/32", "5.6.7.8/32", "9.9.9.9/32", "10.0.0.1/32", "2001:db8::1/128"}, lines: 8, entries: 5},
		{name: "min 3", format: "ipsum", opts: minScore("3"), in: in,
			prefixes: []string{"1.2.3.4/32", "9.9.9.9/32", "2001:db8::1/128"}, lines: 8, entries: 3, skipped: 2},
		{name: "min 5", format: "ipsum", opts: minScore("5"), in: in,
			prefixes: []string{"1.2.3.4/32"}, lines: 8, entries: 1, skipped: 4},
		{name: "min 6", format: "ipsum", opts: minScore("6"), in: in, lines: 8, skipped: 5},
		{name: "score 0", format: "ipsum", in: "1.2.3.4\t0\n", lines: 1, skipped: 1},
		{name: "CRLF and no final newline", format: "ipsum", in: "# c\r\n1.2.3.4\t5\r\n5.6.7.8\t6",
			prefixes: []string{"1.2.3.4/32", "5.6.7.8/32"}, lines: 3, entries: 2},
		{name: "invalid", format: "ipsum", opts: minScore("3"),
			in:       "bad\n1.2.3.4\tx\n1.2.3.4\t-1\nbad\t3\n1.2.3.4\t3\t# c\n1.2.3.4\t3 extra\nexample.com\t5\n1.2.3.256\t1\n5.6.7.8\t4\n",
			prefixes: []string{"5.6.7.8/32"}, lines: 9, entries: 1, invalid: 8, bad: []int{1, 2, 3, 4, 5}},
		// A level file's addresses have no score: the level chose them, min_score does not apply.
		{name: "level file", format: "ipsum", opts: minScore("6"), in: "1.2.3.4\n2001:db8::1\r\n10.0.0.0/8\n5.6.7.8\t5\nexample.com\n1.2.3.256\n",
			prefixes: []string{"1.2.3.4/32", "10.0.0.0/8", "2001:db8::1/128"}, lines: 6, entries: 3, invalid: 2, skipped: 1, bad: []int{5, 6}},
		{name: "invalid below the minimum", format: "ipsum", opts: minScore("3"), in: "bad\t1\n1.2.3.4\t1\n",
			lines: 2, invalid: 1, skipped: 1, bad: []int{1}},
	})
}

func TestWildcard(t *testing.T) {
	runCases(t, []parseCase{
		{name: "hagezi", format: "wildcard", in: "# Title: x\n*.Example.COM\nexample.net\n*.evil.example.\n# c\n",
			names: []string{"example.net"}, wild: []string{"evil.example", "example.com"}, lines: 5, entries: 3},
		{name: "inline comments, CRLF, no final newline", format: "wildcard", in: "*.a.example # c\r\n*.b.example\t; c\r\n\r\n*.c.example",
			wild: []string{"a.example", "b.example", "c.example"}, lines: 4, entries: 3},
		{name: "duplicates", format: "wildcard", in: "*.a.example\n*.A.example.\na.example\n",
			names: []string{"a.example"}, wild: []string{"a.example"}, lines: 3, entries: 3},
		{name: "invalid", format: "wildcard",
			in:   "*.com\n*\n*.\n**.example.com\n*.*.example.com\n1.2.3.4\n||example.com^\nexample.com extra\n.example.com\n1.2.3.0/24\n*example.com\n*.ok.example\n",
			wild: []string{"ok.example"}, lines: 12, entries: 1, invalid: 11, bad: []int{1, 2, 3, 4, 5}},
	})
}
