package format_test

import (
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
)

// Real files of the formats beyond the original five. As in feeds_test.go, every expected number was
// counted on the file with grep, awk, sort -u, wc or Python's json, csv and ipaddress modules, never by
// running these parsers; the commands are in the comments.

func TestFeedDShieldBlock(t *testing.T) {
	// wc -l: 48; grep -vc '^#': 20 data lines, all "start<TAB>end<TAB>24<TAB>...", end = start+255;
	// awk -F'\t' '{print $1}' | sort -u: 20 distinct. Placeholders "-" and ">>UNKNOWN<<" in columns 5-7.
	s, _ := checkFeed(t, feedCase{file: "dshield_block.txt", format: "dshield",
		lines: 48, entries: 20, v4: 20,
		has:          []string{"16.5.0.0/24", "45.205.1.0/24", "31.14.254.0/24", "86.54.31.0/24"},
		hasNotPrefix: []string{"16.5.0.0/32", "16.5.0.255/32"},
	})
	for _, v := range s.V4 {
		if p := entryset.UnpackV4(v); p.Bits() != 24 {
			t.Errorf("%s is not a /24", p)
		}
	}
}

func TestFeedDShieldRanges(t *testing.T) {
	// 20 CRLF lines "a.b.c.0-a.b.c.255": awk checks each is one /24; cut -d- -f1 | sort -u: 20.
	checkFeed(t, feedCase{file: "dshield_ranges.txt", format: "plain",
		lines: 20, entries: 20, v4: 20,
		has: []string{"89.248.165.0/24", "205.210.31.0/24", "35.203.211.0/24"},
	})
}

func TestFeedP2P(t *testing.T) {
	// 320 lines "all@BTN-Collected-Rules:start-end"; grep -c for IPv4 ranges: 274, the other 46 IPv6.
	// Python ipaddress.summarize_address_range: every range is exactly one prefix (320 in all, 274 IPv4
	// and 46 IPv6, all distinct); 108 are single addresses (a-a).
	checkFeed(t, feedCase{file: "btn-all.p2p", format: "p2p",
		lines: 320, entries: 320, v4: 274, v6: 46,
		has: []string{"2.59.169.232/32", "14.10.120.33/32", "2001:250:3c08:4500::/56", "240e:3b0:2cac::/54",
			"2408:865c:5c40::/56", "2400:4164:1e06:6a00::/56"},
		hasNotPrefix: []string{"4500::/56", "::/56"},
	})
}

func TestFeedSpamhausJSON(t *testing.T) {
	// 1407 lines: 1406 {"cidr":...} records, all distinct, and a last {"type":"metadata",...} record.
	s, _ := checkFeed(t, feedCase{file: "spamhaus_drop_v4.json", format: "spamhaus-json",
		lines: 1407, entries: 1406, skipped: 1, v4: 1406,
		has: []string{"1.10.16.0/20", "1.19.0.0/16", "223.254.0.0/16"},
	})
	if got := entryset.UnpackV4(s.V4[0]).String(); got != "1.10.16.0/20" {
		t.Errorf("first prefix %s", got)
	}
}

func TestFeedFeodoCSV(t *testing.T) {
	// 38 lines, no final newline: 8 banner lines, the quoted header, 28 rows, "# END 28 entries".
	// Python csv: 28 distinct dst_ip; c2_status: 24 offline, 4 online.
	online := []string{"192.9.135.73/32", "213.199.41.33/32", "194.233.91.144/32", "84.247.157.112/32"}
	checkFeed(t, feedCase{file: "feodo_ipblocklist.csv", format: "feodo-csv", prefixLines: 9,
		lines: 38, entries: 28, v4: 28,
		has: append([]string{"85.239.243.155/32", "172.233.221.61/32"}, online...),
	})
	checkFeed(t, feedCase{file: "feodo_ipblocklist.csv", format: "feodo-csv", prefixLines: 9,
		opts:  map[string][]string{"status": {"online"}},
		lines: 38, entries: 4, skipped: 24, v4: 4,
		has: online, hasNotPrefix: []string{"85.239.243.155/32", "172.233.221.61/32"},
	})
	// The generic csv format reads the same file by header name.
	checkFeed(t, feedCase{file: "feodo_ipblocklist.csv", format: "csv", prefixLines: 9,
		opts:  map[string][]string{"column": {"dst_ip"}},
		lines: 38, entries: 28, v4: 28, has: online,
	})
}

func TestFeedFeodoJSON(t *testing.T) {
	// json.load: 5 objects, statuses 4 offline and 1 online (50.16.16.211); hostname null in one.
	checkFeed(t, feedCase{file: "feodo_ipblocklist.json", format: "feodo-json",
		lines: 5, entries: 5, v4: 5,
		has: []string{"162.243.103.246/32", "50.16.16.211/32", "34.204.119.63/32", "178.62.3.223/32"},
	})
	checkFeed(t, feedCase{file: "feodo_ipblocklist.json", format: "feodo-json",
		opts:  map[string][]string{"status": {"online"}},
		lines: 5, entries: 1, skipped: 4, v4: 1,
		has: []string{"50.16.16.211/32"}, hasNotPrefix: []string{"162.243.103.246/32"},
	})
}

func TestFeedThreatFox(t *testing.T) {
	// json.load: 3854 ids, each with one record: 2494 ip:port (all IPv4, 1752 distinct addresses), 1180
	// domain (1180 distinct once lowercased; record 3211 is "MicrosoftSyst3m.com"), 165 url, 15
	// sha256_hash.
	checkFeed(t, feedCase{file: "threatfox_export_recent.json", format: "threatfox",
		lines: 3854, entries: 2494 + 1180, skipped: 165 + 15, v4: 1752, names: 1180,
		has:      []string{"43.143.128.126/32", "47.95.207.79/32"},
		hasNames: []string{"glowlogicgate.xenonraypoint.garden", "wheremymoney.beer", "microsoftsyst3m.com"},
		hasNot:   []string{"MicrosoftSyst3m.com"},
	})
}

func TestFeedAdblockURLhausAGH(t *testing.T) {
	// 74787 lines: 6 '!' comments, 72952 "||IPv4^" (one of them "||84.54.0.51.78^", line 72011) and 1829
	// "||name^" (one "||ttp^", line 74555); sort -u: all distinct.
	checkFeed(t, feedCase{file: "urlhaus-filter-agh.txt", format: "adblock",
		lines: 74787, entries: 72951 + 1828, invalid: 2, v4: 72951, wild: 1828,
		bad:     []format.Issue{{Line: 72011, Text: "||84.54.0.51.78^"}, {Line: 74555, Text: "||ttp^"}},
		has:     []string{"1.14.206.72/32"},
		hasWild: []string{"01melliserendipity.buzz", "zznc.parish.chuathuongxot.org"},
		hasNot:  []string{"ttp", "84.54.0.51.78"},
	})
}

func TestFeedAdblockURLhausOnline(t *testing.T) {
	// 5554 lines: 6 '!' comments, 2285 bare IPv4 (grep -c '^[0-9.]*$', all distinct), 2993 rules with
	// '$' ("||host/path$all"), 270 bare host names (all distinct).
	checkFeed(t, feedCase{file: "urlhaus-filter-online.txt", format: "adblock",
		lines: 5554, entries: 2285 + 270, skipped: 2993, v4: 2285, wild: 270,
		has:     []string{"1.14.206.72/32", "101.36.117.53/32"},
		hasWild: []string{"a2-1328201101.cos.ap-guangzhou.myqcloud.com", "admin.antharris.top"},
		hasNot:  []string{"038d159d-b3bc-44dd-a0c4-bec68c0c4123.random.tsrv1.ws"},
	})
}

// TestFeedAdblockModifiers: "||name^$all", "$important" and "$all,important" block the name; other options
// are skipped. The fixture gives each of the 74 malware hosts of urlhaus-filter-online.txt's $all rules one
// of 8 option sets in turn (SOURCES.md); sed 's/.*\$//' | sort | uniq -c: all 10, important 10,
// all,important 9, important,all 9, and 9 each of third-party, all,third-party, dnstype=A, badfilter.
func TestFeedAdblockModifiers(t *testing.T) {
	_, st := checkFeed(t, feedCase{file: "adguard_modifiers.txt", format: "adblock",
		lines: 76, entries: 38, skipped: 36, wild: 38,
		hasWild: []string{"038d159d-b3bc-44dd-a0c4-bec68c0c4123.random.tsrv1.ws", "1090ce78-a573-43df-908b-4bc549764a3a.random.tsrv1.ws",
			"1855e8b9-5b39-418e-b53e-3259c2f0c3fc.random.tsrv1.ws"},
		hasNot: []string{"2173c68b-2260-4810-9a81-774ef2ab2048.random.aefiabeuodbauobfafoebbf.net",
			"225c2cd6-cbd3-4ac2-8464-cc7686273c9c.random.tsrv1.ws", "32326df1-21cb-49ce-8424-4802f8af9fdd.random.aefiabeuodbauobfafoebbf.net"},
	})
	if top, n := st.TopSkip(); top != "option" || n != 36 {
		t.Errorf("TopSkip %q %d, want option 36", top, n)
	}
	// urlhaus-filter-online.txt's own $all rules all have a path: still skipped, entries unchanged.
	checkFeed(t, feedCase{file: "urlhaus-filter-online.txt", format: "adblock",
		lines: 5554, entries: 2285 + 270, skipped: 2993, v4: 2285, wild: 270})
}

func TestFeedAdblockHagezi(t *testing.T) {
	// 167491 lines: "[Adblock Plus]", 12 '!' comments, 167478 "||name^" rules (grep -c
	// '^||[a-z0-9._-]*\^$'), all distinct, 188 of them punycode.
	s, _ := checkFeed(t, feedCase{file: "hagezi_tif.mini.adblock.txt", format: "adblock",
		lines: 167491, entries: 167478, skipped: 1, wild: 167478,
		hasWild: []string{"allegrolokalnie.0-230-23.rest", "kleinanzeigen.0002010.com", "zzzzzzzkplpllllpppllpppl.com"},
	})
	if s.Names.Len() != 0 {
		t.Errorf("%d exact names", s.Names.Len())
	}
}

func TestFeedAdblockHageziRegex(t *testing.T) {
	// 46 lines: 13 '!' comments, 13 /regex/ rules (some with look-aheads), 20 "|*word*^" rules.
	checkFeed(t, feedCase{file: "hagezi_regex-wildcard-rules.adguard.txt", format: "adblock",
		lines: 46, skipped: 33,
	})
}

// The urlhaus-filter variants list the same 1830 names as urlhaus-filter-hosts.txt (cmp on the names
// extracted with sed), "84.54.0.51.78" (118th) and "ttp" (1598th) among them.

func TestFeedDnsmasq(t *testing.T) {
	// 6 comment lines, then 1830 "address=/NAME/0.0.0.0".
	checkFeed(t, feedCase{file: "urlhaus-filter-dnsmasq.conf", format: "dnsmasq",
		lines: 1836, entries: 1828, invalid: 2, wild: 1828,
		bad:     []format.Issue{{Line: 124, Text: "address=/84.54.0.51.78/0.0.0.0"}, {Line: 1604, Text: "address=/ttp/0.0.0.0"}},
		hasWild: []string{"01melliserendipity.buzz", "zznc.parish.chuathuongxot.org"},
	})
}

// TestFeedDnsmasqBogusNXDomain: dnsmasq-china-list's bogus-nxdomain.china.conf, the addresses of ISPs'
// and public resolvers' fake answers, alone and after the urlhaus-filter dnsmasq file.
func TestFeedDnsmasqBogusNXDomain(t *testing.T) {
	// wc -l: 290; grep -c: 65 '#' lines, 60 blank, 165 "bogus-nxdomain=ADDRESS" (163 IPv4, 2 IPv6 with
	// ':'), sort | uniq -d: none repeated.
	const file = "dnsmasq-china-list_bogus-nxdomain.china.conf"
	has := []string{"123.125.81.12/32", "202.106.199.34/32", "182.173.0.181/32", "2001:240:bb5f:1980:0:1:80b:ad00/128",
		"2001:240:bb46:8267:0:1:dae1:f840/128"}
	checkFeed(t, feedCase{file: file, format: "dnsmasq", lines: 290, entries: 165, v4: 163, v6: 2, has: has})
	// Both files as one: 1836 + 290 lines, urlhaus-filter's 1828 names and 2 invalid lines, and the 165
	// addresses.
	both := readFeed(t, "urlhaus-filter-dnsmasq.conf") + readFeed(t, file)
	s, st := checkMode(t, newParser(t, "dnsmasq", nil), both, formatMode("dnsmasq"))
	if st.Lines != 1836+290 || st.Entries != 1828+165 || st.Invalid != 2 || st.Skipped != 0 ||
		len(s.V4) != 163 || len(s.V6) != 2 || s.Wildcards.Len() != 1828 {
		t.Errorf("both files: %+v; %d V4, %d V6, %d wildcards", st, len(s.V4), len(s.V6), s.Wildcards.Len())
	}
	for _, p := range has {
		if !hasPrefix(s, p) {
			t.Errorf("both files: %s is not in the Set", p)
		}
	}
}

func TestFeedUnbound(t *testing.T) {
	// 6 comment lines, then 1830 `local-zone: "NAME" always_nxdomain`.
	checkFeed(t, feedCase{file: "urlhaus-filter-unbound.conf", format: "unbound",
		lines: 1836, entries: 1828, invalid: 2, wild: 1828,
		bad:     []format.Issue{{Line: 124, Text: `local-zone: "84.54.0.51.78" always_nxdomain`}, {Line: 1604, Text: `local-zone: "ttp" always_nxdomain`}},
		hasWild: []string{"01melliserendipity.buzz", "zznc.parish.chuathuongxot.org"},
	})
}

func TestFeedBind(t *testing.T) {
	// 6 comment lines, then 1830 one-line `zone "NAME" { type master; notify no; file "null.zone.file"; };`,
	// so this file also parses line by line.
	checkFeed(t, feedCase{file: "urlhaus-filter-bind.conf", format: "bind", mode: &mode{split: true, exclusive: true},
		lines: 1836, entries: 1828, invalid: 2, wild: 1828,
		bad: []format.Issue{
			{Line: 124, Text: `zone "84.54.0.51.78" { type master; notify no; file "null.zone.file"; };`},
			{Line: 1604, Text: `zone "ttp" { type master; notify no; file "null.zone.file"; };`}},
		hasWild: []string{"01melliserendipity.buzz", "zznc.parish.chuathuongxot.org"},
	})
}

// rpzAfterSOA: after the SOA and apex NS, the lines of these files are records of one line each, with an
// owner, that parse on their own.
var rpzAfterSOA = &mode{split: true, exclusive: true, comment: zoneComment}

func TestFeedRPZURLhaus(t *testing.T) {
	// 1841 lines: 6 ';' comments, a blank, "$TTL 30", "@ IN SOA ...", " NS localhost." (owner inherited:
	// the apex), a blank, then 1830 "NAME CNAME ." with relative names and no $ORIGIN.
	checkFeed(t, feedCase{file: "urlhaus-filter-rpz.conf", format: "rpz", prefixLines: 11, mode: rpzAfterSOA,
		lines: 1841, entries: 1828, invalid: 2, names: 1828,
		bad:      []format.Issue{{Line: 129, Text: "84.54.0.51.78 CNAME ."}, {Line: 1609, Text: "ttp CNAME ."}},
		hasNames: []string{"01melliserendipity.buzz", "zznc.parish.chuathuongxot.org"},
		hasNot:   []string{"localhost", "rpz.malware-filter.gitlab.io"},
	})
}

func TestFeedRPZHageziIPs(t *testing.T) {
	// 59514 lines: "$TTL 3600", "@ SOA ...", "  NS  localhost.", ";", then 59510
	// "32.D.C.B.A.rpz-ip CNAME ." (grep -c), whose addresses A.B.C.D are all distinct (awk | sort -u).
	checkFeed(t, feedCase{file: "hagezi_tif-ips.rpz.txt", format: "rpz", prefixLines: 4, mode: rpzAfterSOA,
		lines: 59514, entries: 59510, v4: 59510,
		has:          []string{"1.0.164.165/32", "1.0.218.230/32", "247.16.181.135/32"},
		hasNotPrefix: []string{"165.164.0.1/32"},
	})
}

func TestFeedMISP(t *testing.T) {
	// json.load: 111 event attributes and 17 in 5 objects, 128 records. With to_ids true: 87 ip-dst, 3
	// ip-dst|port, and 3 ip-dst in the ip-port objects: 93 entries, 87 distinct addresses (10.10.30.110
	// among them). The other 35 are md5, sha1, sha256, ssdeep, filename, link, comment, attachment, port,
	// float and size-in-bytes, or have to_ids false. Every listable type here has to_ids true, so
	// all_attributes gives the same.
	for _, opts := range []map[string][]string{nil, {"all_attributes": {}}} {
		checkFeed(t, feedCase{file: "misp_event_osint_fallchill.json", format: "misp", opts: opts,
			lines: 128, entries: 93, skipped: 35, v4: 87,
			has: []string{"10.10.30.110/32", "104.192.193.149/32", "111.207.78.204/32", "125.212.132.222/32", "175.100.189.174/32"},
		})
	}
}

func TestFeedSTIX(t *testing.T) {
	// json.load: a bundle of 61 objects: an identity, a marking-definition and 59 indicators whose
	// patterns are 28 "[domain-name:value = ...]" (distinct), 29 url, 1 file hash and one
	// "[ipv4-addr:value = '84.247.187.67']" (object 61).
	checkFeed(t, feedCase{file: "tweetfeed_stix21_today.json", format: "stix",
		lines: 61, entries: 29, skipped: 32, v4: 1, names: 28,
		has:      []string{"84.247.187.67/32"},
		hasNames: []string{"cvqgs36nhw-wtrkblpw-3i2d0e-cvq79c.pages.dev", "paypal-receipt.xyz", "canvas-35.com"},
	})
}

func TestFeedCSVBlackbook(t *testing.T) {
	// Python csv: header "Domain,Malware,Date added,Source" and 18151 rows; the domains, trimmed, without a
	// trailing dot and lowercased, are all valid names and 18147 distinct (" mozila123.duckdns.org" has a
	// leading space, "asu12.store." a trailing dot); 63 are punycode.
	for _, col := range []string{"Domain", "domain", "1"} {
		checkFeed(t, feedCase{file: "blackbook.csv", format: "csv", prefixLines: 1,
			opts:  map[string][]string{"column": {col}},
			lines: 18152, entries: 18151, names: 18147,
			hasNames: []string{"statsrvv.com", "asu12.store", "stratbuks.com", "mozila123.duckdns.org"},
			hasNot:   []string{"domain", "keitaro"},
		})
	}
}

func TestFeedCSVTweetFeed(t *testing.T) {
	// 1574 CRLF rows, no header; column 3 (type): 592 domain (575 distinct), 167 ip (162 distinct), 699
	// url, 88 sha256, 28 md5. Two url rows hold quoted fields with "" and commas.
	checkFeed(t, feedCase{file: "tweetfeed_week.csv", format: "csv",
		opts:  map[string][]string{"column": {"4"}},
		lines: 1574, entries: 592 + 167, skipped: 699 + 88 + 28, v4: 162, names: 575,
		has:      []string{"154.36.188.193/32"},
		hasNames: []string{"hndjsy.com", "canvas-35.com", "public-faq-start-helps_-trezr.typedream.app"},
	})
}

func TestFeedTPL(t *testing.T) {
	// 1839 lines: "msFilterList", 7 '#' lines, ": Expires=1", then 1830 "-d NAME".
	checkFeed(t, feedCase{file: "urlhaus-filter.tpl", format: "tpl",
		lines: 1839, entries: 1828, invalid: 2, wild: 1828,
		bad:     []format.Issue{{Line: 127, Text: "-d 84.54.0.51.78"}, {Line: 1607, Text: "-d ttp"}},
		hasWild: []string{"01melliserendipity.buzz", "zznc.parish.chuathuongxot.org"},
	})
}

func TestFeedMaltrail(t *testing.T) {
	// 4105 lines: 859 '#', 1261 blank, 1985 trails: 156 URLs (grep '://'), 338 other trails with a '/'
	// (paths, "//////...atom.xml" among them), 298 "IPv4:port" (206 distinct addresses) and 1193 domains
	// (1153 distinct once lowercased, "2yhLxjzcOr.com" among the 2 with capitals).
	checkFeed(t, feedCase{file: "maltrail_agenttesla.txt", format: "maltrail",
		lines: 4105, entries: 1193 + 298, skipped: 156 + 338, v4: 206, wild: 1153,
		hasWild: []string{"2yhlxjzcor.com", "oralbdentaltreatment.tk", "etvidanueva.com", "kironofer.com"},
		hasNot:  []string{"shahrproject.ir", "allpeople.cc", "webtoall.in", "hp-compoundlng.com"},
	})
}

func TestFeedFireholIpset(t *testing.T) {
	// 1021 lines: 34 '#' lines, 987 distinct IPv4.
	for _, f := range []string{"ipset", "netset", "plain"} {
		checkFeed(t, feedCase{file: "firehol_bruteforceblocker.ipset", format: f,
			lines: 1021, entries: 987, v4: 987, has: []string{"1.0.241.140/32", "5.58.49.173/32"},
		})
	}
}

func TestFeedPlainLists(t *testing.T) {
	// et_compromised-ips.txt: 539 distinct IPv4, no header.
	checkFeed(t, feedCase{file: "et_compromised-ips.txt", format: "plain", lines: 539, entries: 539, v4: 539,
		has: []string{"101.100.216.61/32"}})
	// c2-tracker_all.txt: 2347 distinct lines, 2 of them IPv6.
	checkFeed(t, feedCase{file: "c2-tracker_all.txt", format: "plain", lines: 2347, entries: 2347, v4: 2345, v6: 2,
		has: []string{"39.98.48.153/32", "2604:a880:1:20::264:4001/128", "2400:3200:1300::14cf/128"}})
	// alienvault-cobalt-strike.domains.txt: 173 distinct names, "Extension.exe" (line 8) among them: a
	// valid name by syntax, which no check short of a list of top-level domains can refuse.
	checkFeed(t, feedCase{file: "alienvault-cobalt-strike.domains.txt", format: "plain", lines: 173, entries: 173, names: 173,
		hasNames: []string{"1488.winstate.cc", "55yjbp57423mh.cfc-execute.bj.baidubce.com", "extension.exe"}})
	// urlhaus-filter-domains.txt: 6 '#' lines, 72952 IPv4-looking lines (84.54.0.51.78 is not one), 1829
	// names ("ttp" is not one).
	checkFeed(t, feedCase{file: "urlhaus-filter-domains.txt", format: "plain",
		lines: 74787, entries: 72951 + 1828, invalid: 2, v4: 72951, names: 1828,
		bad: []format.Issue{{Line: 72011, Text: "84.54.0.51.78"}, {Line: 74555, Text: "ttp"}}})
}

// TestFeedURL: a real URL list, TweetFeed's url rows of week.csv (column 4, in order, SOURCES.md). Python's
// urllib.parse.urlsplit: 699 URLs, 198 with a path, query or fragment beyond "/", 501 without; their
// hosts: 577 distinct names and 68 addresses in all, 418 and 61 among the URLs without a path. 65 have a
// port ("sucessful.duckdns.org:62699"), "https://www.tiktok.com/@gononstopukraine" an '@' in its path.
func TestFeedURL(t *testing.T) {
	checkFeed(t, feedCase{file: "tweetfeed_week.urls.txt", format: "url",
		lines: 699, entries: 501, skipped: 198, v4: 61, names: 418,
		has:      []string{"103.170.154.120/32"},
		hasNames: []string{"025sep.duckdns.org", "132.226.100.149.nip.io", "sucessful.duckdns.org", "test1.sougoucloud.workers.dev"},
		hasNot:   []string{"www.tiktok.com", "hndjsy.com", "gononstopukraine"},
	})
	checkFeed(t, feedCase{file: "tweetfeed_week.urls.txt", format: "url", opts: map[string][]string{"paths": {"keep"}},
		lines: 699, entries: 699, v4: 68, names: 577,
		has:      []string{"103.67.196.25/32"},
		hasNames: []string{"www.tiktok.com", "hndjsy.com", "sucessful.duckdns.org", "havan-com.site"},
	})
	// urlhaus-filter-online.txt's 2993 "||host/path$all" rules as bare "host/path" (SOURCES.md): every one
	// has a path; urlsplit: 122 distinct hosts, two with a port (":8888"), shared ones among them.
	checkFeed(t, feedCase{file: "urlhaus-filter-online.paths.txt", format: "url", lines: 2993, skipped: 2993})
	checkFeed(t, feedCase{file: "urlhaus-filter-online.paths.txt", format: "url", opts: map[string][]string{"paths": {"keep"}},
		lines: 2993, entries: 2993, names: 122,
		hasNames:     []string{"web.archive.org", "github.com", "insights.today-time.sitefind.top", "038d159d-b3bc-44dd-a0c4-bec68c0c4123.random.tsrv1.ws"},
		hasNot:       []string{"insights.today-time.sitefind.top:8888"},
		hasNotPrefix: []string{"154.216.19.139/32"}, // in a path: web.archive.org/web/.../http://154.216.19.139/...
	})
}

// The rbldnsd fixtures are synthetic, written in rbldnsd(8)'s syntax with addresses and names of the real
// feeds (SOURCES.md); each line's outcome is given by its comment in the file, the ranges' prefixes by
// Python's ipaddress.summarize_address_range.

func TestFeedRbldnsdIP4Set(t *testing.T) {
	// 45 lines: 8 comments, 6 blank; 4 '$' directives, 1 default value, 3 exclusions; 6 DShield /24s, 5
	// ranges giving 7 prefixes (102.220.160.38-45 is /31, /30, /31), 4 DROP netblocks, 4 addresses; 4
	// invalid lines.
	checkFeed(t, feedCase{file: "rbldnsd_ip4set.txt", format: "rbldnsd-ip4set",
		lines: 45, entries: 21, skipped: 8, invalid: 4, v4: 21,
		bad: []format.Issue{{Line: 42, Text: "103.142.0.5/23"}, {Line: 43, Text: "103"}, {Line: 44, Text: "1.2.3.256"},
			{Line: 45, Text: "10.0.0.9-10.0.0.1"}},
		has: []string{"16.5.0.0/24", "45.194.67.0/24", "193.163.125.0/24", "194.187.176.0/24", "89.248.165.0/24", "205.210.31.0/24",
			"185.220.100.0/22", "102.220.160.38/31", "102.220.160.40/30", "102.220.160.44/31", "2.56.0.0/15", "1.10.16.0/20",
			"2.26.75.0/24", "101.50.83.146/32", "101.96.192.88/32"},
		hasNotPrefix: []string{"16.5.0.7/32", "45.205.1.1/32", "89.248.165.0/28", "16.5.0.0/32", "102.220.160.38/32"},
	})
	// The same file as ip4trie: its ranges are invalid there.
	checkFeed(t, feedCase{file: "rbldnsd_ip4set.txt", format: "rbldnsd-ip4trie",
		lines: 45, entries: 14, skipped: 8, invalid: 9, v4: 14,
		bad: []format.Issue{{Line: 18, Text: "89.248.165.0-89.248.165.255"}, {Line: 19, Text: "205.210.31.0-255"},
			{Line: 20, Text: "185.220.100-185.220.103"}, {Line: 21, Text: "102.220.160.38-102.220.160.45"}, {Line: 22, Text: "2.56-2.57"}},
	})
}

func TestFeedRbldnsdIP4Trie(t *testing.T) {
	// 24 lines: 5 comments, 3 blank; 2 directives, 1 default value, 2 exclusions; 8 prefixes; 3 invalid.
	checkFeed(t, feedCase{file: "rbldnsd_ip4trie.txt", format: "rbldnsd-ip4trie",
		lines: 24, entries: 8, skipped: 5, invalid: 3, v4: 8,
		bad: []format.Issue{{Line: 22, Text: "89.248.165.0-89.248.165.255"}, {Line: 23, Text: "1.32.128.0/16"}, {Line: 24, Text: "103"}},
		has: []string{"1.10.16.0/20", "1.19.0.0/16", "1.32.128.0/18", "2.56.192.0/22", "2.56.193.0/24", "45.205.1.0/24",
			"101.100.216.61/32", "103.159.85.90/32"},
		hasNotPrefix: []string{"2.56.192.1/32", "1.19.0.0/24"},
	})
}

func TestFeedRbldnsdIP6Trie(t *testing.T) {
	// 29 lines: 6 comments, 5 blank; 2 directives, 1 default value, 2 exclusions; 3 DROPv6 /48s, 3 with
	// groups left out, 3 Tor relays; 4 invalid.
	checkFeed(t, feedCase{file: "rbldnsd_ip6trie.txt", format: "rbldnsd-ip6trie",
		lines: 29, entries: 9, skipped: 5, invalid: 4, v6: 9,
		bad: []format.Issue{{Line: 26, Text: "2001:678:6c4::1/48"}, {Line: 27, Text: "2001"}, {Line: 28, Text: "2001:zz::1"},
			{Line: 29, Text: "2001::1::2"}},
		has: []string{"2001:678:6c4::/48", "2001:678:724::/48", "2001:678:738::/48", "2001:678:73c::/48", "2001:678:754:42::/64",
			"2001:678:758::/48", "2001:470:1:908::9001/128", "2001:620:20d0::19/128", "2001:620:20d0::20/128"},
		hasNotPrefix: []string{"2001:678:6c4::53/128", "2001:678:724::/64"},
	})
}

func TestFeedRbldnsdDNSet(t *testing.T) {
	// 29 lines: 6 comments, 5 blank; 3 directives, 1 default value, 2 exclusions; 4 names, 2 ".name" and 2
	// "*.name"; 4 invalid.
	checkFeed(t, feedCase{file: "rbldnsd_dnset.txt", format: "rbldnsd-dnset",
		lines: 29, entries: 8, skipped: 6, invalid: 4, names: 4, wild: 4,
		bad:      []format.Issue{{Line: 26, Text: "ttp"}, {Line: 27, Text: "84.54.0.51.78"}, {Line: 28, Text: "*."}, {Line: 29, Text: "bad..example"}},
		hasNames: []string{"01melliserendipity.buzz", "01mystiquenebula.buzz", "01print.ma", "02melliephemeral.buzz"},
		hasWild:  []string{"2023shoponline.com", "2bagsvalley.cn", "55aiagents.com", "acces-btpanda.com"},
		hasNot:   []string{"eu.2bagsvalley.cn", "log.acces-btpanda.com", "ttp"},
	})
}
