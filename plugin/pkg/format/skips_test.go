package format_test

import (
	"maps"
	"testing"
)

// TestSkipReasons: every skipped line of a real file is counted under the reason it was skipped for, and
// the most common one is what threatfeed names when a first version has no entries. The counts are those
// of the Feed tests, split by kind with grep and Python's json and csv modules (commands there).
func TestSkipReasons(t *testing.T) {
	for _, tc := range []struct {
		file, format string
		opts         map[string][]string
		want         map[string]int
		top          string
	}{
		// 13 "/regex/" rules and 20 "|*word*^" wildcard rules.
		{file: "hagezi_regex-wildcard-rules.adguard.txt", format: "adblock", want: map[string]int{"regex": 13, "wildcard": 20}, top: "wildcard"},
		// 2993 "||host/path$all": the path is what a DNS server cannot see.
		{file: "urlhaus-filter-online.txt", format: "adblock", want: map[string]int{"path": 2993}, top: "path"},
		{file: "hagezi_tif.mini.adblock.txt", format: "adblock", want: map[string]int{"header": 1}, top: "header"},
		{file: "badd-boyz.hosts", format: "hosts", want: map[string]int{"preamble": 2}, top: "preamble"},
		{file: "threatfox_export_recent.json", format: "threatfox", want: map[string]int{"url": 165, "hash": 15}, top: "url"},
		{file: "maltrail_agenttesla.txt", format: "maltrail", want: map[string]int{"url": 156, "path": 338}, top: "path"},
		{file: "tweetfeed_week.csv", format: "csv", opts: map[string][]string{"column": {"4"}},
			want: map[string]int{"url": 699, "hash": 88 + 28}, top: "url"},
		// json.load: 35 attributes of types that are not listed (md5, sha1, filename, link, ...).
		{file: "misp_event_osint_fallchill.json", format: "misp", want: map[string]int{"type": 35}, top: "type"},
		// An identity and a marking-definition; 29 url and 1 file patterns.
		{file: "tweetfeed_stix21_today.json", format: "stix", want: map[string]int{"object": 2, "type": 30}, top: "type"},
		{file: "spamhaus_drop_v4.json", format: "spamhaus-json", want: map[string]int{"metadata": 1}, top: "metadata"},
		{file: "feodo_ipblocklist.csv", format: "feodo-csv", opts: map[string][]string{"status": {"online"}},
			want: map[string]int{"status": 24}, top: "status"},
		{file: "ipsum.txt", format: "ipsum", opts: map[string][]string{"min_score": {"3"}}, want: map[string]int{"score": 120430 - 14217}, top: "score"},
		{file: "urlhaus-filter-hosts.txt", format: "hosts", want: nil},
		// A list of URLs read as url: those with a path are skipped for it.
		{file: "urlhaus-filter-online.paths.txt", format: "url", want: map[string]int{"path": 2993}, top: "path"},
		{file: "tweetfeed_week.urls.txt", format: "url", want: map[string]int{"path": 198}, top: "path"},
		// bogus-nxdomain lines are listed, not skipped.
		{file: "dnsmasq-china-list_bogus-nxdomain.china.conf", format: "dnsmasq", want: nil},
		{file: "rbldnsd_ip4set.txt", format: "rbldnsd-ip4set", want: map[string]int{"directive": 4, "default-value": 1, "exclusion": 3}, top: "directive"},
		{file: "rbldnsd_dnset.txt", format: "rbldnsd-dnset", want: map[string]int{"directive": 3, "default-value": 1, "exclusion": 2}, top: "directive"},
	} {
		_, st, _ := run(newParser(t, tc.format, tc.opts), readFeed(t, tc.file))
		if !maps.Equal(st.Skips, tc.want) {
			t.Errorf("%s as %s: Skips %v, want %v", tc.file, tc.format, st.Skips, tc.want)
		}
		if top, n := st.TopSkip(); top != tc.top || n != tc.want[tc.top] {
			t.Errorf("%s as %s: TopSkip %q %d, want %q %d", tc.file, tc.format, top, n, tc.top, tc.want[tc.top])
		}
	}
}

// TestSkipReasonsInline: the reasons of the rules the real files do not hold.
func TestSkipReasonsInline(t *testing.T) {
	for _, tc := range []struct {
		format, in string
		want       map[string]int
	}{
		{"adblock", "[Adblock Plus 2.0]\n||evil.example^$third-party\n@@||good.example^\nexample.com##.banner\n##.ad\n" +
			"|https://evil.example/\nhttp://evil.example/x\n||evil.example\n||evil.example^|\n&ad_id=\n" +
			"d41d8cd98f00b204e9800998ecf8427e\n/ads/banner\n||*.evil.example^\n/^ad[0-9]+\\./$important\n",
			map[string]int{"header": 1, "option": 1, "exception": 1, "cosmetic": 2, "url": 2, "pattern": 3, "hash": 1,
				"path": 1, "wildcard": 1, "regex": 1}},
		{"dnsmasq", "bogus-priv\ndomain-needed\ncache-size=1000\nserver=192.0.2.53\nserver=/a.example/#\naddress=/#/0.0.0.0\n",
			map[string]int{"option": 3, "upstream": 1, "exception": 1, "all-domains": 1}},
		{"plain", "http://evil.example/x\nd41d8cd98f00b204e9800998ecf8427e\n", map[string]int{"url": 1, "hash": 1}},
		{"wildcard", "hxxp://evil.example/x\nd41d8cd98f00b204e9800998ecf8427e\n", map[string]int{"url": 1, "hash": 1}},
		{"tpl", "-d *.evil.example\n-d evil.example/x\n-d evil.example /ads/\n+d good.example\n+ ok.js\n- ad.js\n",
			map[string]int{"wildcard": 1, "path": 2, "exception": 2, "pattern": 1}},
		{"unbound", "local-data: \"a.example A 0.0.0.0\"\nlocal-zone: \"b.example\" transparent\n",
			map[string]int{"option": 1, "exception": 1}},
		{"bind", "options { directory \"/var\"; };\nacl x { 1.2.3.4; };\n", map[string]int{"statement": 2}},
		{"rpz", "$ORIGIN rpz.example.\n@ SOA ns. h. 1 1 1 1 1\n@ NS ns.\nok.rpz.example. CNAME rpz-passthru.\n" +
			"ns.example.rpz-nsdname CNAME .\nsub NS ns.\n", map[string]int{"exception": 1, "trigger": 1, "record": 1}},
		{"dshield", "Start\tEnd\tNetblock\n", map[string]int{"header": 1}},
		{"misp", `{"Event": {"Attribute": [{"type": "ip-dst", "value": "192.0.2.1", "to_ids": false},` +
			`{"type": "ip-dst", "value": "192.0.2.2", "to_ids": true, "deleted": true}]}}`, map[string]int{"to_ids": 1, "deleted": 1}},
		{"stix", `{"type": "bundle", "objects": [{"type": "indicator", "revoked": true, "pattern": "[ipv4-addr:value = '192.0.2.1']"},` +
			`{"type": "indicator", "pattern_type": "sigma", "pattern": "x"}]}`, map[string]int{"revoked": 1, "pattern_type": 1}},
		{"threatfox", `{"1": [{"ioc_value": "x", "ioc_type": "ja3_fingerprint"}]}`, map[string]int{"type": 1}},
	} {
		_, st := checkMode(t, newParser(t, tc.format, nil), tc.in, formatMode(tc.format))
		if !maps.Equal(st.Skips, tc.want) {
			t.Errorf("%s: Skips %v, want %v", tc.format, st.Skips, tc.want)
		}
	}
}
