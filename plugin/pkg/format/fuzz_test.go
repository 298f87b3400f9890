package format_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// headLines returns the first n lines of a real feed file, with their terminators.
func headLines(tb testing.TB, file string, n int) string {
	tb.Helper()
	data := readFeed(tb, file)
	end := 0
	for range n {
		i := strings.IndexByte(data[end:], '\n')
		if i < 0 {
			return data
		}
		end += i + 1
	}
	return data[:end]
}

// tailLines returns the last n lines of a real feed file.
func tailLines(tb testing.TB, file string, n int) string {
	tb.Helper()
	data := readFeed(tb, file)
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	start := end
	for range n {
		i := strings.LastIndexByte(data[:start], '\n')
		if i < 0 {
			return data
		}
		start = i
	}
	return data[start+1:]
}

// edgeSeeds are inputs every parser should survive.
var edgeSeeds = []string{
	"",
	"\n",
	"\r\n",
	"# comment\n; comment\n",
	"   \n\t\n \t \r\n",
	"1.2.3.4",
	"1.2.3.4\r",
	"1.2.3.4 # c\n5.6.7.8\t; c\n",
	"1.2.3.4#c\n",
	"1.2.3.4 extra\n",
	"192.0.2.77/24\n2001:db8::1/32\n",
	"::ffff:1.2.3.4\n::ffff:10.0.0.0/104\n::ffff:1.2.3.4/95\n",
	"EXAMPLE.COM.\n*.Evil.Example\n",
	"example.com..\n-bad.com\n*.com\ncom\n",
	"1.2.3.256\n01.2.3.4\n1.2.3.4/33\n2001:db8:::1\n",
	"a\nb\nc\nd\ne\nf\ng\n",
	"münchen.de\n\xff\xfe\n\x00\n",
	strings.Repeat("x", 200) + "\n",
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range append(seeds, edgeSeeds...) {
		f.Add(s)
	}
}

func FuzzPlain(f *testing.F) {
	addSeeds(f,
		headLines(f, "firehol_level1.netset", 40),
		headLines(f, "tor_exit_nodes.lst", 10),
		tailLines(f, "tor_exit_nodes.lst", 10),
		headLines(f, "blocklistde_crlf.txt", 10),
		tailLines(f, "et_emerging-Block-IPs.txt", 10),
		headLines(f, "maltrail_mass_scanner.txt", 20),
		"/w00tw00t.at.ISC.SANS.DFind:)\nC91.196.152.28 # probe.onyphe.net\n185.216.140.249\t# scanner.openportstats.com\n2400:6180:0:d0::1008:2001 # binaryedge.ninja\n",
		"*.a.example\nexample.net\n",
		readFeed(f, "dshield_ranges.txt"),
		"10.0.0.5-10.0.0.10 # c\n2001:db8::-2001:db8::ffff:ffff\n::ffff:1.2.3.0-::ffff:1.2.3.3\n0.0.0.0-255.255.255.255\n10.0.0.2-10.0.0.1\n",
		"http://example.com/x\nd41d8cd98f00b204e9800998ecf8427e\nmünchen.de\n*.Bücher.example\n",
	)
	p := newParser(f, "plain", nil)
	f.Fuzz(func(t *testing.T, data string) {
		checkParse(t, p, data, true)
	})
}

func FuzzHosts(f *testing.F) {
	addSeeds(f,
		headLines(f, "urlhaus-filter-hosts.txt", 12),
		headLines(f, "badd-boyz.hosts", 52),
		"0.0.0.0 ttp\n0.0.0.0 84.54.0.51.78\n",
		"127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n0.0.0.0 0.0.0.0\n",
		"0.0.0.0 a.example b.example # c\n0.0.0.0\tA.Example.\r\n",
		"0.0.0.0 *.a.example\n0.0.0.0\nexample.com\n",
	)
	p := newParser(f, "hosts", nil)
	f.Fuzz(func(t *testing.T, data string) {
		checkParse(t, p, data, false)
	})
}

func FuzzSpamhaus(f *testing.F) {
	addSeeds(f,
		headLines(f, "spamhaus_drop.txt", 12),
		tailLines(f, "spamhaus_drop.txt", 4),
		headLines(f, "spamhaus_dropv6.txt", 10),
		readFeed(f, "spamhaus_edrop_2024_merged_empty.txt"),
		"62.60.226.0/24 ; SBL671779\n62.60.226.0/24 ; SBL697779\n",
		"1.10.16.0/20 SBL256894\n1.10.16.0/20;SBL1\n",
	)
	p := newParser(f, "spamhaus", nil)
	f.Fuzz(func(t *testing.T, data string) {
		checkParse(t, p, data, true)
	})
}

func FuzzIpsum(f *testing.F) {
	for _, s := range []string{
		headLines(f, "ipsum.txt", 15),
		tailLines(f, "ipsum.txt", 5),
		headLines(f, "ipsum_level5.txt", 10),
		"1.2.3.4\t0\n1.2.3.4\t-1\n1.2.3.4\t+3\n1.2.3.4\t99999999999999999999\n",
		"1.2.3.4\n1.2.3.4\t3\t# c\nbad\t3\n2001:db8::1\t4\n10.0.0.0/8\t2\n",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(2))
	}
	for _, s := range edgeSeeds {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data string, minScore uint8) {
		n := 1 + int(minScore%12)
		p := newParser(t, "ipsum", map[string][]string{"min_score": {strconv.Itoa(n)}})
		s, st := checkParse(t, p, data, true)
		// A minimum only moves lines from entries to skipped: the invalid lines are the same, and the
		// kept entries are a subset of those kept with no minimum (min_score 1).
		all, stAll, _ := run(newParser(t, "ipsum", nil), data)
		if st.Invalid != stAll.Invalid || st.Entries+st.Skipped != stAll.Entries+stAll.Skipped {
			t.Fatalf("min_score %d: %+v; no minimum: %+v", n, st, stAll)
		}
		if st.Entries > stAll.Entries || s.Len() > all.Len() {
			t.Fatalf("min_score %d keeps more than no minimum: %d > %d", n, st.Entries, stAll.Entries)
		}
		for _, v := range s.V4 {
			if p := entryset.UnpackV4(v).String(); !hasPrefix(all, p) {
				t.Fatalf("min_score %d keeps %s, which no minimum does not", n, p)
			}
		}
		for _, v := range s.V6 {
			if !hasPrefix(all, v.Prefix().String()) {
				t.Fatalf("min_score %d keeps %s, which no minimum does not", n, v.Prefix())
			}
		}
		if s.Names.Len() != 0 || s.Wildcards.Len() != 0 {
			t.Fatalf("ipsum listed names: %q %q", s.Names, s.Wildcards)
		}
	})
}

func FuzzWildcard(f *testing.F) {
	addSeeds(f,
		headLines(f, "hagezi_fake.wildcard.txt", 20),
		tailLines(f, "hagezi_fake.wildcard.txt", 5),
		"*.com\n*\n*.\n**.example.com\n*.*.example.com\n*example.com\n",
		"*.a.example # c\r\n*.b.example\t; c\r\n\r\n*.c.example",
	)
	p := newParser(f, "wildcard", nil)
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := checkParse(t, p, data, true)
		if len(s.V4) != 0 || len(s.V6) != 0 {
			t.Fatalf("wildcard listed prefixes: %q", prefixes(s))
		}
	})
}
