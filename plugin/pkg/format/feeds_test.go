package format_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
)

// The expected numbers below were counted on the files with grep, awk, sort -u and wc (and Python's
// ipaddress for distinct prefixes), not by running these parsers. For example, for spamhaus_drop.txt:
//
//	grep -v '^;' spamhaus_drop.txt | grep -c .                          # 1699 data lines
//	grep -v '^;' spamhaus_drop.txt | awk '{print $1}' | sort -u | wc -l  # 1698 distinct
//	grep -v '^;' spamhaus_drop.txt | awk '{print $1}' | sort | uniq -d   # 62.60.226.0/24 (lines 230, 231)

// feedCase is one real feed file and what it must give.
type feedCase struct {
	file, format string
	opts         map[string][]string
	lines        int
	entries      int
	invalid      int
	skipped      int
	v4, v6       int // distinct prefixes
	names, wild  int // distinct names
	bad          []format.Issue
	has          []string // prefixes that must be in the Set
	hasNames     []string
	hasWild      []string
	hasNot       []string // names that must be in neither Names nor Wildcards
	hasNotPrefix []string
	prefixLines  int   // with a split mode: the file's first lines are the prefix of every line (a header)
	mode         *mode // instead of formatMode(format)
}

func checkFeed(t *testing.T, fc feedCase) (*entryset.Set, format.Stats) {
	t.Helper()
	data := readFeed(t, fc.file)
	p := newParser(t, fc.format, fc.opts)
	m := formatMode(fc.format)
	if fc.mode != nil {
		m = *fc.mode
	}
	if m.split && fc.prefixLines > 0 {
		m.prefix = headLines(t, fc.file, fc.prefixLines)
		data = data[len(m.prefix):]
	}
	s, st := checkMode(t, p, data, m)
	if m.records {
		checkRecords(t, p, fc.format, data, s, st)
	}
	if st.Lines != fc.lines || st.Entries != fc.entries || st.Invalid != fc.invalid || st.Skipped != fc.skipped {
		t.Errorf("%s: Stats lines %d entries %d invalid %d skipped %d, want %d %d %d %d", fc.file,
			st.Lines, st.Entries, st.Invalid, st.Skipped, fc.lines, fc.entries, fc.invalid, fc.skipped)
	}
	if len(s.V4) != fc.v4 || len(s.V6) != fc.v6 || s.Names.Len() != fc.names || s.Wildcards.Len() != fc.wild {
		t.Errorf("%s: Set has %d V4, %d V6, %d names, %d wildcards; want %d, %d, %d, %d", fc.file,
			len(s.V4), len(s.V6), s.Names.Len(), s.Wildcards.Len(), fc.v4, fc.v6, fc.names, fc.wild)
	}
	if len(fc.bad) > 0 || len(st.Samples) > 0 {
		if len(st.Samples) != len(fc.bad) {
			t.Errorf("%s: Samples %v, want %v", fc.file, st.Samples, fc.bad)
		} else {
			for i, is := range st.Samples {
				if is.Line != fc.bad[i].Line || is.Text != fc.bad[i].Text {
					t.Errorf("%s: Samples[%d] = %v, want line %d %q", fc.file, i, is, fc.bad[i].Line, fc.bad[i].Text)
				}
			}
		}
	}
	for _, p := range fc.has {
		if !hasPrefix(s, p) {
			t.Errorf("%s: %s is not in the Set", fc.file, p)
		}
	}
	for _, p := range fc.hasNotPrefix {
		if hasPrefix(s, p) {
			t.Errorf("%s: %s is in the Set", fc.file, p)
		}
	}
	for _, n := range fc.hasNames {
		if !hasString(s.Names.Strings(), n) {
			t.Errorf("%s: name %q is not in the Set", fc.file, n)
		}
	}
	for _, n := range fc.hasWild {
		if !hasString(s.Wildcards.Strings(), n) {
			t.Errorf("%s: wildcard %q is not in the Set", fc.file, n)
		}
	}
	for _, n := range fc.hasNot {
		if hasString(s.Names.Strings(), n) || hasString(s.Wildcards.Strings(), n) {
			t.Errorf("%s: %q is in the Set", fc.file, n)
		}
	}
	return s, st
}

func TestFeedSpamhausDrop(t *testing.T) {
	s, _ := checkFeed(t, feedCase{file: "spamhaus_drop.txt", format: "spamhaus",
		lines: 1704, entries: 1699, v4: 1698,
		has: []string{"1.10.16.0/20", "1.19.0.0/16", "62.60.226.0/24", "223.169.0.0/16", "223.254.0.0/16"},
	})
	if got := entryset.UnpackV4(s.V4[0]).String(); got != "1.10.16.0/20" {
		t.Errorf("first prefix %s", got)
	}
	if got := entryset.UnpackV4(s.V4[len(s.V4)-1]).String(); got != "223.254.0.0/16" {
		t.Errorf("last prefix %s", got)
	}
}

func TestFeedSpamhausDropV6(t *testing.T) {
	s, _ := checkFeed(t, feedCase{file: "spamhaus_dropv6.txt", format: "spamhaus",
		lines: 83, entries: 78, v6: 78,
		has: []string{"2001:678:6c4::/48", "2c0f:6c0::/28"},
	})
	if got := s.V6[len(s.V6)-1].Prefix().String(); got != "2c0f:6c0::/28" {
		t.Errorf("last prefix %s", got)
	}
}

func TestFeedSpamhausEdropEmpty(t *testing.T) {
	checkFeed(t, feedCase{file: "spamhaus_edrop_2024_merged_empty.txt", format: "spamhaus", lines: 6})
}

func TestFeedFireholLevel1(t *testing.T) {
	checkFeed(t, feedCase{file: "firehol_level1.netset", format: "plain",
		lines: 2544, entries: 2511, v4: 2511,
		has: []string{"0.0.0.0/8", "224.0.0.0/3", "103.142.0.0/23"},
	})
}

func TestFeedIpsum(t *testing.T) {
	// awk -F'\t' -v n=N '!/^#/ && $2>=n' ipsum.txt | wc -l; 120430 data lines, all "IPv4<TAB>score",
	// all distinct; 7 comment lines.
	const total = 120430
	for _, tc := range []struct {
		min     int
		entries int
		has     []string
		hasNot  []string
	}{
		{0, total, []string{"1.1.220.166/32", "1.0.164.165/32", "1.20.178.157/32", "162.251.62.103/32"}, nil},
		{1, total, []string{"1.1.220.166/32", "77.90.185.20/32"}, nil},
		{2, 30773, []string{"1.0.164.165/32", "1.20.178.157/32"}, []string{"1.1.220.166/32", "162.251.62.103/32"}},
		{3, 14217, []string{"1.20.178.157/32"}, []string{"1.0.164.165/32"}},
		{5, 1413, nil, []string{"1.20.178.157/32"}},
		{8, 23, []string{"2.57.122.53/32", "77.239.124.108/32"}, nil},
		{10, 3, []string{"77.90.185.20/32", "77.239.124.102/32", "77.239.124.108/32"}, []string{"2.57.122.53/32"}},
		{11, 0, nil, []string{"77.90.185.20/32"}},
	} {
		t.Run(strconv.Itoa(tc.min), func(t *testing.T) {
			var opts map[string][]string
			if tc.min > 0 {
				opts = map[string][]string{"min_score": {strconv.Itoa(tc.min)}}
			}
			checkFeed(t, feedCase{file: "ipsum.txt", format: "ipsum", opts: opts,
				lines: 120437, entries: tc.entries, skipped: total - tc.entries, v4: tc.entries,
				has: tc.has, hasNotPrefix: tc.hasNot,
			})
		})
	}
}

// TestIpsumLevelFile: ipsum's levels/5.txt, the addresses of ipsum.txt with a score of at least 5 and no
// score column, gives them all, whatever min_score says, and the same set as ipsum.txt with min_score 5.
func TestIpsumLevelFile(t *testing.T) {
	// wc -l: 1413 lines, all IPv4, sort -u: 1413; the file is
	// awk -F'\t' '!/^#/ && $2>=5 {print $1}' ipsum.txt (cmp).
	var level *entryset.Set
	for _, min := range []string{"", "1", "5", "10"} {
		var opts map[string][]string
		if min != "" {
			opts = map[string][]string{"min_score": {min}}
		}
		level, _ = checkFeed(t, feedCase{file: "ipsum_level5.txt", format: "ipsum", opts: opts,
			lines: 1413, entries: 1413, v4: 1413,
			has:          []string{"77.90.185.20/32", "2.57.122.53/32", "155.4.218.159/32"},
			hasNotPrefix: []string{"1.20.178.157/32", "1.1.220.166/32"},
		})
	}
	scored, _, _ := run(newParser(t, "ipsum", map[string][]string{"min_score": {"5"}}), readFeed(t, "ipsum.txt"))
	if !level.Equal(scored) {
		t.Errorf("levels/5.txt gives %d entries, ipsum.txt with min_score 5 %d", level.Len(), scored.Len())
	}
}

func TestFeedTorExitNodes(t *testing.T) {
	// 1746 lines, no comments: 1127 IPv4 and 619 IPv6, the IPv6 ones written in full
	// ("2001:0470:0001:0908:0000:0000:0000:9001"); all distinct.
	checkFeed(t, feedCase{file: "tor_exit_nodes.lst", format: "plain",
		lines: 1746, entries: 1746, v4: 1127, v6: 619,
		has: []string{"101.99.92.179/32", "102.130.113.9/32", "2001:470:1:908::9001/128", "2a12:a800:2:1:45:138:16:203/128",
			"2a12:8641:3:38::/128"},
	})
}

func TestFeedURLhausHosts(t *testing.T) {
	// 1830 "0.0.0.0 NAME" lines after a 6-line header, no localhost preamble; two names are not
	// listable: line 124 "0.0.0.0 84.54.0.51.78" and line 1604 "0.0.0.0 ttp".
	checkFeed(t, feedCase{file: "urlhaus-filter-hosts.txt", format: "hosts",
		lines: 1836, entries: 1828, invalid: 2, names: 1828,
		bad:      []format.Issue{{Line: 124, Text: "0.0.0.0 84.54.0.51.78"}, {Line: 1604, Text: "0.0.0.0 ttp"}},
		hasNames: []string{"01melliserendipity.buzz", "01print.ma", "zznc.parish.chuathuongxot.org"},
		hasNot:   []string{"ttp", "84.54.0.51.78", "0.0.0.0"},
	})
}

func TestFeedBaddBoyzHosts(t *testing.T) {
	// Line 46 "127.0.0.1 localhost" and line 47 "::1 localhost #[IPv6]" are the preamble; 1384
	// "0.0.0.0 NAME" lines follow.
	checkFeed(t, feedCase{file: "badd-boyz.hosts", format: "hosts",
		lines: 1434, entries: 1384, skipped: 2, names: 1384,
		hasNames: []string{"000free.us", "000.gaysexe.free.fr", "01-sex-amateur.info", "yunque.pluto.ro"},
		hasNot:   []string{"localhost", "0.0.0.0", "127.0.0.1"},
	})
}

func TestFeedHagezi(t *testing.T) {
	// 12 comment lines and 16626 "*.name" lines, all distinct.
	s, _ := checkFeed(t, feedCase{file: "hagezi_fake.wildcard.txt", format: "wildcard",
		lines: 16638, entries: 16626, wild: 16626,
		hasWild: []string{"eoutlet.2023shoponline.com", "eu.2bagsvalley.cn", "ai.55aiagents.com", "zyronpaneele.com"},
		hasNot:  []string{"*.zyronpaneele.com"},
	})
	if s.Names.Len() != 0 {
		t.Errorf("%d exact names from a list of wildcards", s.Names.Len())
	}
}

func TestFeedETBlockIPs(t *testing.T) {
	// 2176 lines, the last "185.200.118.0/24" with no newline; 2116 data lines, 1151 addresses and 965
	// CIDR prefixes, all distinct.
	checkFeed(t, feedCase{file: "et_emerging-Block-IPs.txt", format: "plain",
		lines: 2176, entries: 2116, v4: 2116,
		has: []string{"222.222.222.222/32", "192.168.1.101/32", "101.187.97.173/32", "1.10.16.0/20", "2.58.176.0/23", "185.200.118.0/24"},
	})
}

func TestFeedBlocklistDeCRLF(t *testing.T) {
	s, _ := checkFeed(t, feedCase{file: "blocklistde_crlf.txt", format: "plain",
		lines: 23118, entries: 23118, v4: 23118,
		has: []string{"121.189.88.109/32", "41.242.142.196/32", "58.223.135.54/32"},
	})
	if s.Names.Len() != 0 || len(s.V6) != 0 {
		t.Errorf("CRLF lines gave names or IPv6 entries")
	}
}

func TestFeedMaltrailMassScanner(t *testing.T) {
	// 19220 data lines: most "ADDRESS # comment" (a space, or a TAB on 32 lines), IPv6 included; 5 junk lines.
	// Distinct: 16854 IPv4, 1981 IPv6.
	checkFeed(t, feedCase{file: "maltrail_mass_scanner.txt", format: "plain",
		lines: 19341, entries: 19215, invalid: 5, v4: 16854, v6: 1981,
		bad: []format.Issue{
			{Line: 16343, Text: "/w00tw00t.at.ISC.SANS.DFind:)"},
			{Line: 16347, Text: "/w00tw00t.at.blackhats.romanian.anti-sec:)"},
			{Line: 17474, Text: "C91.196.152.28 # probe.onyphe.net"},
			{Line: 17484, Text: "C91.196.152.38 # probe.onyphe.net"},
			{Line: 18235, Text: "C91.230.168.27 # probe.onyphe.net"},
		},
		has: []string{"129.82.138.12/32", "129.82.138.32/32", "185.216.140.249/32", "185.216.140.185/32",
			"2400:6180:0:d0::1008:2001/128", "2604:a880:cad:d0::f20:8001/128"},
	})
}

// TestFeedIdempotent parses each file twice and checks the Sets are Equal.
func TestFeedIdempotent(t *testing.T) {
	for _, fc := range []struct{ file, format string }{
		{"spamhaus_drop.txt", "spamhaus"}, {"tor_exit_nodes.lst", "plain"}, {"badd-boyz.hosts", "hosts"},
		{"hagezi_fake.wildcard.txt", "wildcard"},
	} {
		data := readFeed(t, fc.file)
		p := newParser(t, fc.format, nil)
		a, _, _ := run(p, data)
		b, _, _ := run(p, data)
		if !a.Equal(b) {
			t.Errorf("%s: two parses differ", fc.file)
		}
		if !slices.Equal(a.Names.Strings(), b.Names.Strings()) {
			t.Errorf("%s: names differ", fc.file)
		}
	}
}
