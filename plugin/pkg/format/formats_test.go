package format_test

import (
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/format"
)

func TestDShield(t *testing.T) {
	runCases(t, []parseCase{
		{name: "block.txt", format: "dshield",
			in: "#   DShield.org Recommended Block List \n#\n16.5.0.0\t16.5.0.255\t24\t117\t-\t-\t-\n" +
				"86.54.31.0\t86.54.31.255\t24\t107\tEDGE ta GCI Com\tGB\tripe@gcicom.net\n" +
				"45.194.67.0\t45.194.67.255\t24\t113\tAfrica-on-Cloud-AS\tZA\t>>UNKNOWN<<\r\n",
			prefixes: []string{"16.5.0.0/24", "45.194.67.0/24", "86.54.31.0/24"}, lines: 5, entries: 3},
		{name: "column header, short rows, no length", format: "dshield",
			in:       "Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n10.0.0.0\t10.0.0.255\t24\n10.1.0.0\t10.1.0.5\t-\n10.2.0.0\t10.2.0.3\n",
			prefixes: []string{"10.0.0.0/24", "10.1.0.0/30", "10.1.0.4/31", "10.2.0.0/30"}, lines: 4, entries: 4, skipped: 1},
		{name: "IPv6", format: "dshield", in: "2001:db8::\t2001:db8::ffff\t112\t5\n",
			prefixes: []string{"2001:db8::/112"}, lines: 1, entries: 1},
		{name: "invalid", format: "dshield",
			in: "16.5.0.0 16.5.0.255 24\n16.5.0.0\t16.5.0.254\t24\n16.5.0.1\t16.5.0.255\t24\n16.5.0.0\t16.5.0.255\t33\n" +
				"16.5.0.0\t16.5.0.255\tx\nx\ty\t24\n16.5.0.0\t2001:db8::\t24\n16.5.0.255\t16.5.0.0\t-\n",
			lines: 8, invalid: 8, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestP2P(t *testing.T) {
	runCases(t, []parseCase{
		{name: "IPv4 and IPv6", format: "p2p",
			in: "all@BTN-Collected-Rules:2.59.169.232-2.59.169.232\n" +
				"all@BTN-Collected-Rules:2001:250:3c08:4500::-2001:250:3c08:45ff:ffff:ffff:ffff:ffff\n" +
				"Some Org, Inc.:10.0.0.0-10.0.0.255\r\n# comment\n\n:192.0.2.0-192.0.2.3\n",
			prefixes: []string{"2.59.169.232/32", "10.0.0.0/24", "192.0.2.0/30", "2001:250:3c08:4500::/56"},
			lines:    6, entries: 4},
		{name: "names with ':' and '-' and hex", format: "p2p",
			in: "a:b:c:1.2.3.4-1.2.3.5\ncafe:2001:db8::-2001:db8::1\nx-y:1.2.3.8-1.2.3.11\nbeef::2001:db8::10-2001:db8::10\n" +
				"name@host:::1-::1\na:b:2001:db8::-2001:db8::ff\n",
			prefixes: []string{"1.2.3.4/31", "1.2.3.8/30", "::1/128", "2001:db8::/120", "2001:db8::/127", "2001:db8::10/128"},
			lines:    6, entries: 6},
		{name: "a range that is not a prefix", format: "p2p", in: "x:10.0.0.1-10.0.0.6\n",
			prefixes: []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}, lines: 1, entries: 4},
		{name: "invalid", format: "p2p",
			in: "1.2.3.4-1.2.3.5\nx:1.2.3.5-1.2.3.4\nx:1.2.3.4\nx:1.2.3.4-2001:db8::1\nx:1.2.3-1.2.3.4\nx:1.2.3.4-\n" +
				"x:fe80::1%eth0-fe80::2\n" +
				"x:2001:db8::2-2001:db8::1\n", // reversed: never re-read as db8::2-2001:db8::1
			lines: 8, invalid: 8, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestSpamhausJSON(t *testing.T) {
	runCases(t, []parseCase{
		{name: "records", format: "spamhaus-json",
			in: `{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}` + "\n" + `{"cidr":"2001:db8::/32"}` + "\r\n\n" +
				`{"type":"metadata","timestamp":1744682874,"size":85741,"records":2}` + "\n",
			prefixes: []string{"1.10.16.0/20", "2001:db8::/32"}, lines: 4, entries: 2, skipped: 1},
		{name: "invalid", format: "spamhaus-json",
			in: `{"cidr":"1.10.16.0/33"}` + "\n" + `{"cidr":null}` + "\n" + `{"sblid":"x"}` + "\n" + `["1.2.3.0/24"]` + "\n" +
				`{"cidr":"1.2.3.0/24"` + "\n" + "1.2.3.0/24\n" + `{"cidr":5}` + "\n" + `{"cidr":"1.2.3.0/24"} {}` + "\n" + `{"cidr":"5.6.7.0/24"}`,
			prefixes: []string{"5.6.7.0/24"}, lines: 9, entries: 1, invalid: 8, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestFeodo(t *testing.T) {
	online := map[string][]string{"status": {"online"}}
	csv := "# abuse.ch\n\"first_seen_utc\",\"dst_ip\",\"dst_port\",\"c2_status\",\"last_online\",\"malware\"\n" +
		"\"2023-05-23 17:51:44\",\"192.9.135.73\",\"1194\",\"online\",\"2024-04-01\",\"Pikabot\"\n" +
		"\"2024-02-08 19:20:49\",\"85.239.243.155\",\"5000\",\"offline\",\"2024-03-11\",\"Pikabot\"\n# END 2 entries"
	json := `[{"ip_address": "162.243.103.246", "port": 8080, "status": "offline", "hostname": null},
	{"ip_address": "50.16.16.211", "port": 443, "status": "online"}, {"ip_address": "2001:db8::1"}]`
	runCases(t, []parseCase{
		{name: "csv", format: "feodo-csv", in: csv, mode: &mode{},
			prefixes: []string{"85.239.243.155/32", "192.9.135.73/32"}, lines: 5, entries: 2},
		{name: "csv online", format: "feodo-csv", opts: online, in: csv, mode: &mode{},
			prefixes: []string{"192.9.135.73/32"}, lines: 5, entries: 1, skipped: 1},
		{name: "csv without header, in abuse.ch's order", format: "feodo-csv", opts: online,
			in:       "2023-05-23,192.0.2.1,443,online,x,y\n2023-05-23,192.0.2.2,443,offline,x,y\n",
			prefixes: []string{"192.0.2.1/32"}, lines: 2, entries: 1, skipped: 1},
		{name: "csv with the header elsewhere", format: "feodo-csv", opts: online, mode: &mode{},
			in:       "status,when,dst_ip\nonline,x,192.0.2.1\noffline,x,192.0.2.2\nonline,x,bad\nonline\n\"online,x,192.0.2.3\n",
			prefixes: []string{"192.0.2.1/32"}, lines: 6, entries: 1, skipped: 1, invalid: 3, bad: []int{4, 5, 6}},
		{name: "json", format: "feodo-json", in: json,
			prefixes: []string{"50.16.16.211/32", "162.243.103.246/32", "2001:db8::1/128"}, lines: 3, entries: 3},
		{name: "json online", format: "feodo-json", opts: online, in: json,
			prefixes: []string{"50.16.16.211/32", "2001:db8::1/128"}, lines: 3, entries: 2, skipped: 1},
		{name: "json bad records", format: "feodo-json",
			in:       `[{"ip_address": "1.2.3.4"}, {"ip_address": 5}, {"port": 1}, null, "1.2.3.5", {"ip_address": "1.2.3.256"}, {"ip_address": "1.2.3.6", "status": 1}]`,
			prefixes: []string{"1.2.3.4/32"}, lines: 7, entries: 1, invalid: 6, bad: []int{2, 3, 4, 5, 6}},
		{name: "json not an array", format: "feodo-json", in: `{"ip_address": "1.2.3.4"}`, lines: 1, invalid: 1, bad: []int{1}},
		{name: "json truncated", format: "feodo-json", in: json[:60], lines: 1, invalid: 1, bad: []int{1}},
		{name: "json empty body", format: "feodo-json", in: "", lines: 1, invalid: 1, bad: []int{1}},
		{name: "json empty array", format: "feodo-json", in: "[ ]\n"},
	})
}

func TestThreatFox(t *testing.T) {
	rec := func(value, typ string) string {
		return `{"ioc_value": "` + value + `", "ioc_type": "` + typ + `", "malware": "x"}`
	}
	runCases(t, []parseCase{
		{name: "export", format: "threatfox",
			in: `{"1": [` + rec("43.143.128.126:65443", "ip:port") + `], "2": [` + rec("Evil.Example.", "domain") + `, ` +
				rec("http://evil.example/x", "url") + `], "3": [` + rec("d41d8cd98f00b204e9800998ecf8427e", "md5_hash") + `, ` +
				rec("[2001:db8::1]:443", "ip:port") + `, ` + rec("192.0.2.1", "ip:port") + `, ` + rec("x", "something_new") + `]}`,
			prefixes: []string{"43.143.128.126/32", "192.0.2.1/32", "2001:db8::1/128"}, names: []string{"evil.example"},
			lines: 7, entries: 4, skipped: 3},
		{name: "api and array forms", format: "threatfox", mode: &mode{records: true},
			in:       `{"query_status": "ok", "data": [{"ioc": "192.0.2.1:80", "ioc_type": "ip:port"}]}`,
			prefixes: []string{"192.0.2.1/32"}, lines: 1, entries: 1},
		{name: "array", format: "threatfox", mode: &mode{records: true},
			in: "[" + rec("192.0.2.1:80", "ip:port") + "]", prefixes: []string{"192.0.2.1/32"}, lines: 1, entries: 1},
		{name: "invalid records", format: "threatfox",
			in: `{"1": [` + rec("1.2.3.4:x", "ip:port") + `, ` + rec("2001:db8::1:443", "ip:port") + `, ` + rec("[1.2.3.4]:80", "ip:port") +
				`, ` + rec("evil", "domain") + `, ` + rec("http://evil.example", "domain") + `, ` + rec("fe80::1%eth0", "ip:port") +
				`, {"ioc_type": "domain"}, {"ioc_value": "x.example"}, 7, ` + rec("1.2.3.4:80", "IP:PORT") + `]}`,
			// "2001:db8::1:443" is refused: with no brackets, a port cannot be told apart.
			prefixes: []string{"1.2.3.4/32"}, lines: 10, entries: 1, invalid: 9, bad: []int{1, 2, 3, 4, 5}},
		{name: "a value that is not an array", format: "threatfox", mode: &mode{records: true},
			in:       `{"1": {"ioc_value": "1.2.3.4:80"}, "query_status": "ok", "2": [` + rec("1.2.3.4:80", "ip:port") + `]}`,
			prefixes: []string{"1.2.3.4/32"}, lines: 2, entries: 1, invalid: 1, bad: []int{1}},
		{name: "not JSON", format: "threatfox", in: "<html>502 Bad Gateway</html>\n", lines: 1, invalid: 1, bad: []int{1}},
		{name: "a JSON string", format: "threatfox", in: `"no results"`, lines: 1, invalid: 1, bad: []int{1}},
	})
}

func TestAdblock(t *testing.T) {
	runCases(t, []parseCase{
		{name: "host blocks", format: "adblock",
			in: "[Adblock Plus]\n! Title: x\n||Evil.Example^\n||1.2.3.4^\n||2001:db8::1^\nbare.example\n5.6.7.8\r\n# comment\n\n" +
				"||münchen.de^\n||evil.example.^\n",
			prefixes: []string{"1.2.3.4/32", "5.6.7.8/32", "2001:db8::1/128"},
			wild:     []string{"bare.example", "evil.example", "xn--mnchen-3ya.de"}, lines: 11, entries: 7, skipped: 1},
		{name: "rules that are not host blocks", format: "adblock",
			in: "||evil.example^$third-party\n||evil.example/path$all\n@@||good.example^\n/^ad[0-9]+\\./\n/(^|\\.)(?=[a-f])[0-9a-f]{10}\\.[a-z]+$/\n" +
				"example.com##.banner\n##.ad\n#@#.ad\nexample.com#?#div:has(a)\n|https://evil.example/\n||evil.example\n" +
				"|*app1e*^\n||*.evil.example^\n/ads/banner\n&ad_id=\nhttp://evil.example/x\n||evil.example^|\n" +
				"d41d8cd98f00b204e9800998ecf8427e\n0.0.0.0 evil.example\n1.2.3.0/24\n[Adblock Plus 2.0]\n",
			lines: 21, skipped: 21},
		// $all and $important leave a host block a host block; any other option, or one beside them, does not.
		{name: "block-only options", format: "adblock",
			in: "||a.example^$all\n||b.example^$important\n||c.example^$all,important\n||d.example^$important,all,important\n" +
				"||1.2.3.4^$important\n||e.example^$all,third-party\n||f.example^$badfilter\n||g.example^$\n||h.example^$all,\n" +
				"||i.example^$All\n@@||j.example^$important\nk.example$all\n||l.example$all\n||m.example/x$all\n||n.example^$ all\n",
			prefixes: []string{"1.2.3.4/32"}, wild: []string{"a.example", "b.example", "c.example", "d.example"},
			lines: 15, entries: 5, skipped: 10},
		{name: "invalid hosts", format: "adblock", in: "||84.54.0.51.78^\n||ttp^\n||-bad.example^\nttp\n||^\n84.54.0.51.78\n||ok.example^\n",
			wild: []string{"ok.example"}, lines: 7, entries: 1, invalid: 5, skipped: 1, bad: []int{1, 2, 3, 4, 6}},
	})
}

func TestURL(t *testing.T) {
	keep := map[string][]string{"paths": {"keep"}}
	hosts := "http://Evil.Example\nhttps://evil2.example/\nhxxp://x.example\nevil3.example\nftp://user:pw@1.2.3.4:21\n" +
		"http://[2001:db8::1]:8080/\n[2001:db8::2]\n2001:db8::3\nhttp://evil4.example.:80 # c\n"
	paths := "http://a.example/x\nb.example/wp-admin/\nhttps://c.example?q=1\nhttp://d.example#f\n1.2.3.5:8080/bins/mips\n" +
		"https://www.tiktok.com/@user\nweb.archive.org/web/1/http://6.6.6.6/x\n"
	runCases(t, []parseCase{
		{name: "hosts", format: "url", in: hosts,
			prefixes: []string{"1.2.3.4/32", "2001:db8::1/128", "2001:db8::2/128", "2001:db8::3/128"},
			// The scheme is dropped, whatever it is: a defanged "hxxp" too.
			names: []string{"evil.example", "evil2.example", "evil3.example", "evil4.example", "x.example"},
			lines: 9, entries: 9},
		{name: "paths skipped", format: "url", in: paths, lines: 7, skipped: 7},
		{name: "paths kept", format: "url", opts: keep, in: paths, prefixes: []string{"1.2.3.5/32"},
			names: []string{"a.example", "b.example", "c.example", "d.example", "web.archive.org", "www.tiktok.com"}, lines: 7, entries: 7},
		{name: "invalid", format: "url",
			in:    "http://\n/path/only\nhttp://evil.example:x/\nhttp://[1.2.3.4]/\nhttp://[2001:db8::1/\nhttp://ttp/\nhttp://a.example/ x\nhttp://84.54.0.51.78\n",
			lines: 8, invalid: 8, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestRbldnsd(t *testing.T) {
	runCases(t, []parseCase{
		{name: "ip4set forms", format: "rbldnsd-ip4set",
			in: "127.0.0.0/24\n127.1.0\n127/8\n127.2.0.1-255\n127.16-31\n127.32.0.0-127.32.0.3\n128-129\n010.1.2.3\n0.0.0.0/0\n" +
				"127.3.0.4:127.0.0.2:x\n127.3.0.5\tTXT only\n127.3.0.6#c\n",
			prefixes: []string{"0.0.0.0/0", "10.1.2.3/32", "127.0.0.0/8", "127.0.0.0/24", "127.1.0.0/24", "127.2.0.1/32", "127.2.0.2/31",
				"127.2.0.4/30", "127.2.0.8/29", "127.2.0.16/28", "127.2.0.32/27", "127.2.0.64/26", "127.2.0.128/25", "127.3.0.4/32",
				"127.3.0.5/32", "127.3.0.6/32", "127.16.0.0/12", "127.32.0.0/30", "128.0.0.0/7"},
			lines: 12, entries: 19},
		{name: "ip4set invalid", format: "rbldnsd-ip4set",
			in:    "1.2-1.2.3.4\n1.2.3.4/33\n1.2.3.4/24\n1.2.3.4.5\n1..2.3\n1.2.3.-1\n!\n1.2.3.4x\n1.2.3.0/\n-1.2.3.4\n1.2.3.4-\n1234.1.2.3\n",
			lines: 12, invalid: 12, bad: []int{1, 2, 3, 4, 5}},
		{name: "ip4trie takes no range", format: "rbldnsd-ip4trie", in: "127.2.0.1-255\n127.0.0\n", prefixes: []string{"127.0.0.0/24"},
			lines: 2, entries: 1, invalid: 1, bad: []int{1}},
		{name: "ip6trie forms", format: "rbldnsd-ip6trie",
			in:       "::1\n::/0\n2001:db8/32\n2001:DB8:1\n2001:db8:2:3:4:5:6:7\n::ffff:1.2.3.4\n!2001:db8::1\n:127.0.0.2:x\n",
			prefixes: []string{"1.2.3.4/32", "::/0", "::1/128", "2001:db8::/32", "2001:db8:1::/48", "2001:db8:2:3:4:5:6:7/128"},
			lines:    8, entries: 6, skipped: 2},
		{name: "ip6trie invalid", format: "rbldnsd-ip6trie",
			in:    "2001:db8:1:2:3:4:5:6:7\n12345::1\nfe80::1%eth0\n2001:db8::/129\n2001:db8:/32\n1.2.3.4\n::1:127.0.0.2:x\n",
			lines: 7, invalid: 7, bad: []int{1, 2, 3, 4, 5}},
		{name: "dnset forms", format: "rbldnsd-dnset",
			in:    "a.example\n.b.example\n*.c.example\nD.Example.\ne.example:127.0.0.3:x\n!f.example\n$TTL 1h\n:3:listed\n*\n.\n",
			names: []string{"a.example", "d.example", "e.example"}, wild: []string{"b.example", "c.example"},
			lines: 10, entries: 5, skipped: 3, invalid: 2, bad: []int{9, 10}},
	})
}

func TestDnsmasq(t *testing.T) {
	runCases(t, []parseCase{
		{name: "sinks", format: "dnsmasq",
			in: "# c\naddress=/a.example/0.0.0.0\naddress=/b.example/\naddress=/c.example/#\naddress=/d.example/::\n" +
				"address=/e.example/f.example/127.0.0.1\nserver=/g.example/192.0.2.53\nserver=/h.example/\nlocal=/i.example/\n" +
				"address=/*.j.example/0.0.0.0\naddress=/.k.example/0.0.0.0\naddress=/L.Example./0.0.0.0\r\n",
			wild: []string{"a.example", "b.example", "c.example", "d.example", "e.example", "f.example", "g.example", "h.example",
				"i.example", "j.example", "k.example", "l.example"}, lines: 12, entries: 12},
		{name: "skipped", format: "dnsmasq",
			in:    "server=/a.example/#\nserver=192.0.2.53\naddress=/#/0.0.0.0\ndomain-needed\nbogus-priv\ncache-size=1000\nipset=/a.example/set\n",
			lines: 7, skipped: 7},
		{name: "bogus-nxdomain", format: "dnsmasq",
			in: "bogus-nxdomain=64.94.110.11\nbogus-nxdomain = 2001:240:bb5f:1980:0:1:80b:ad00\nbogus-nxdomain=198.51.100.0/24\n" +
				"bogus-nxdomain=\nbogus-nxdomain=not-an-ip\nbogus-nxdomain=1.2.3.4,5.6.7.8\n",
			prefixes: []string{"64.94.110.11/32", "198.51.100.0/24", "2001:240:bb5f:1980:0:1:80b:ad00/128"},
			lines:    6, entries: 3, invalid: 3, bad: []int{4, 5, 6}},
		{name: "invalid", format: "dnsmasq",
			in: "address=/84.54.0.51.78/0.0.0.0\naddress=/ttp/0.0.0.0\naddress=a.example/0.0.0.0\naddress=/a.example\n" +
				"address=/a.example/not-an-ip\nlocal=/a.example/1.2.3.4\naddress=/good.example/bad..example/0.0.0.0\naddress=//0.0.0.0\n",
			lines: 8, invalid: 8, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestUnbound(t *testing.T) {
	runCases(t, []parseCase{
		{name: "zones", format: "unbound",
			in: "server:\n  local-zone: \"a.example\" always_nxdomain\nlocal-zone: b.example. deny # c\n" +
				"local-zone: \"c.example\" redirect\n\tlocal-zone: \"D.Example\" static\r\nlocal-zone: \"e.example\" REFUSE\n# c\n",
			wild: []string{"a.example", "b.example", "c.example", "d.example", "e.example"}, lines: 7, entries: 5},
		{name: "skipped", format: "unbound",
			in:    "local-zone: \"a.example\" transparent\nlocal-zone: \"b.example\" typetransparent\nlocal-data: \"a.example A 0.0.0.0\"\nlocal-data-ptr: \"1.2.3.4 a.example\"\nverbosity: 1\nremote-control:\n",
			lines: 6, skipped: 5},
		{name: "invalid", format: "unbound",
			in: "local-zone: \"84.54.0.51.78\" always_nxdomain\nlocal-zone: \"ttp\" always_nxdomain\nlocal-zone: \"a.example\" blackhole\n" +
				"local-zone: \"a.example\"\nlocal-zone: \"a.example\" deny extra\nlocal-zone \"a.example\" deny\nlocal-zone: \"a b.example\" deny\n",
			lines: 7, invalid: 7, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestBind(t *testing.T) {
	runCases(t, []parseCase{
		{name: "one line", format: "bind",
			in:   "# c\nzone \"a.example\" { type master; notify no; file \"null.zone.file\"; };\nzone \"B.Example.\" IN { type master; file \"x\"; };\n",
			wild: []string{"a.example", "b.example"}, lines: 3, entries: 2},
		{name: "several lines, comments, views, other statements", format: "bind",
			in: "options {\n  directory \"/var/named\"; // c\n};\n/* zone \"commented.example\" { };\n*/\nzone \"a.example\"\n{\n  type master;\n" +
				"  file \"null.zone.file\";\n};\nview \"internal\" {\n  match-clients { any; };\n  zone \"b.example\" { type master; };\n};\n" +
				"zone c.example { type master; }; zone \"d.example\" { type master; };\n",
			wild: []string{"a.example", "b.example", "c.example", "d.example"}, lines: 15, entries: 4, skipped: 2},
		{name: "invalid", format: "bind",
			in: "zone \"ttp\" { type master; };\nzone \"a.example\";\nzone { type master; };\nzone \"84.54.0.51.78\" { };\n" +
				"};\nzone \"ok.example\" { type master; };\nzone \"b.example\" { type master; }\n",
			wild: []string{"ok.example"}, lines: 7, entries: 1, invalid: 6, bad: []int{1, 2, 3, 4, 5}},
		{name: "unterminated", format: "bind", in: "zone \"a.example\" { type master; };\nzone \"b.example\" { file \"x;\n",
			wild: []string{"a.example"}, lines: 2, entries: 1, invalid: 2, bad: []int{2, 2}},
	})
}

func TestRPZ(t *testing.T) {
	soa := "$TTL 30\n@ IN SOA rpz.example. hostmaster.rpz.example. 1 86400 3600 604800 30\n NS localhost.\n"
	// After this header, each line of these bodies parses on its own.
	afterSOA := &mode{split: true, exclusive: true, prefix: soa, comment: zoneComment}
	runCases(t, []parseCase{
		{name: "no origin, relative names", format: "rpz", mode: afterSOA,
			in: "evil.example CNAME .\n*.wild.example CNAME .\ndrop.example 300 IN CNAME rpz-drop.\nnodata.example CNAME *.\n" +
				"redir.example A 192.0.2.1\nredir.example AAAA 2001:db8::1\ntcp.example CNAME rpz-tcp-only.\nok.example CNAME rpz-passthru.\n" +
				"old.example CNAME old.example.\nEvil.Example. IN 3600 CNAME .\nwalled.example CNAME garden.example.net.\n" +
				"txt.example TXT \"a ; b\" ; comment\n",
			names: []string{"drop.example", "evil.example", "nodata.example", "redir.example", "tcp.example", "txt.example", "walled.example"},
			wild:  []string{"wild.example"}, lines: 15, entries: 10, skipped: 2},
		{name: "rpz-ip", format: "rpz", mode: afterSOA,
			in: "32.165.164.0.1.rpz-ip CNAME .\n24.0.2.0.192.rpz-ip CNAME .\n128.1.zz.db8.2001.rpz-ip CNAME .\n" +
				"48.zz.db8.2001.rpz-ip CNAME .\n64.0.0.0.0.0.0.db8.2001.rpz-ip CNAME .\n128.zz.rpz-ip CNAME .\n" +
				"32.1.0.0.10.rpz-ip CNAME rpz-passthru.\n128.1.0.0.0.0.0.db8.2001.rpz-ip CNAME .\n",
			prefixes: []string{"1.0.164.165/32", "192.0.2.0/24", "::/128", "2001:db8::/48", "2001:db8::/64", "2001:db8::1/128"},
			lines:    11, entries: 7, skipped: 1},
		{name: "skipped triggers", format: "rpz", mode: afterSOA,
			in: "ns.evil.example.rpz-nsdname CNAME .\n32.1.2.0.192.rpz-nsip CNAME .\n32.1.2.0.192.rpz-client-ip CNAME .\n" +
				"sub NS ns.example.\n@ A 192.0.2.1\n",
			lines: 8, skipped: 5},
		{name: "invalid", format: "rpz", mode: afterSOA,
			in: "84.54.0.51.78 CNAME .\nttp CNAME .\n33.1.2.0.192.rpz-ip CNAME .\n24.1.2.0.192.rpz-ip CNAME .\n" +
				"32.1.2.0.256.rpz-ip CNAME .\n128.zz.1.zz.2001.rpz-ip CNAME .\n0.1.2.0.192.rpz-ip CNAME .\nx.example CNAME\n" +
				"x.example A 2001:db8::1\nx.example AAAA 192.0.2.1\nx.example CNAME a. b.\n$INCLUDE other.zone\n" +
				"x\\.example CNAME .\nx..example CNAME .\nx.example TXT \"open\n" +
				"x.example 1h2 CNAME .\nother. SOA ns. h. 1 2 3 4 5\n$ORIGIN\n*.com CNAME .\n",
			lines: 22, invalid: 19, bad: []int{4, 5, 6, 7, 8}},
		{name: "unbalanced parentheses", format: "rpz", mode: &mode{},
			in:    soa + "x.example CNAME . )\nok.example CNAME .\ny.example CNAME . (\n",
			names: []string{"ok.example"}, lines: 6, entries: 1, invalid: 2, bad: []int{4, 6}},
		{name: "origin and absolute names", format: "rpz", mode: &mode{},
			in: "$ORIGIN rpz.example.\n@ SOA ns.rpz.example. h.rpz.example. (\n  1 ; serial\n  3600 3600 604800 30 )\n@ NS ns\n" +
				"evil.example CNAME .\nabs.example.rpz.example. CNAME .\nout.example. CNAME .\n$ORIGIN sub.rpz.example.\nx CNAME .\n" +
				"$ORIGIN example.\nother CNAME .\n@ CNAME .\n",
			names: []string{"abs.example", "evil.example", "x.sub"}, lines: 13, entries: 3, invalid: 3, bad: []int{8, 12, 13}},
		{name: "SOA owner sets the origin", format: "rpz", mode: &mode{},
			in:    "rpz.example. SOA ns. h. 1 2 3 4 5\nrpz.example. NS ns.\nevil.example.rpz.example. CNAME .\n@ CNAME .\nevil2.example CNAME .\n",
			names: []string{"evil.example", "evil2.example"}, lines: 5, entries: 2, skipped: 1},
		{name: "inheritance", format: "rpz", mode: &mode{},
			in:    " CNAME .\nevil.example CNAME .\n  A 192.0.2.1\n\tAAAA 2001:db8::1\nbad..example CNAME .\n A 192.0.2.1\n",
			names: []string{"evil.example"}, lines: 6, entries: 3, invalid: 3, bad: []int{1, 5, 6}},
		{name: "multi-line record", format: "rpz", mode: &mode{},
			in:    soa + "evil.example (\n  300 ; ttl\n  CNAME . )\nafter.example CNAME .\n",
			names: []string{"after.example", "evil.example"}, lines: 7, entries: 2},
	})
}

func TestMISP(t *testing.T) {
	attr := func(typ, value string, toIDS string) string {
		return `{"type": "` + typ + `", "category": "Network activity", "value": "` + value + `", "to_ids": ` + toIDS + `}`
	}
	event := `{"Event": {"info": "x", "Attribute": [` +
		attr("ip-dst", "192.0.2.1", "true") + `, ` + attr("ip-src", "198.51.100.0/24", `"1"`) + `, ` +
		attr("ip-dst|port", "192.0.2.2|443", "true") + `, ` + attr("ip-src|port", "2001:db8::1|8080", "true") + `, ` +
		attr("domain", "Evil.Example", "true") + `, ` + attr("hostname", "www.evil.example", "true") + `, ` +
		attr("domain|ip", "c2.example|192.0.2.3", "true") + `, ` + attr("hostname|port", "h.example|80", "true") + `, ` +
		attr("ip-dst", "192.0.2.9", "false") + `, ` + attr("domain", "off.example", `"0"`) + `, ` +
		attr("md5", "d41d8cd98f00b204e9800998ecf8427e", "true") + `, ` + attr("url", "http://evil.example/x", "true") + `, ` +
		`{"type": "ip-dst", "value": "192.0.2.10", "to_ids": true, "deleted": true}, {"type": "ip-dst", "value": "192.0.2.11"}` +
		`], "Object": [{"name": "ip-port", "Attribute": [` + attr("ip-dst", "192.0.2.4", "true") + `, ` + attr("port", "443", "false") +
		`]}]}}`
	runCases(t, []parseCase{
		{name: "event", format: "misp", in: event,
			prefixes: []string{"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32", "192.0.2.4/32", "198.51.100.0/24", "2001:db8::1/128"},
			names:    []string{"c2.example", "evil.example", "h.example", "www.evil.example"},
			lines:    16, entries: 10, skipped: 7},
		{name: "all_attributes", format: "misp", opts: map[string][]string{"all_attributes": nil}, in: event,
			prefixes: []string{"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32", "192.0.2.4/32", "192.0.2.9/32", "192.0.2.11/32",
				"198.51.100.0/24", "2001:db8::1/128"},
			names: []string{"c2.example", "evil.example", "h.example", "off.example", "www.evil.example"},
			lines: 16, entries: 13, skipped: 4},
		{name: "event list and response", format: "misp", mode: &mode{records: true},
			in:       `{"response": [{"Event": {"Attribute": [` + attr("ip-dst", "192.0.2.1", "true") + `]}}, {"Event": {"Attribute": [` + attr("domain", "a.example", "true") + `]}}]}`,
			prefixes: []string{"192.0.2.1/32"}, names: []string{"a.example"}, lines: 2, entries: 2},
		{name: "bare list", format: "misp", mode: &mode{records: true},
			in: `[{"Event": {"Attribute": [` + attr("ip-dst", "192.0.2.1", "true") + `]}}]`, prefixes: []string{"192.0.2.1/32"}, lines: 1, entries: 1},
		{name: "attribute search", format: "misp", mode: &mode{records: true},
			in: `{"response": {"Attribute": [` + attr("ip-dst", "192.0.2.1", "true") + `]}}`, prefixes: []string{"192.0.2.1/32"}, lines: 1, entries: 1},
		{name: "invalid attributes", format: "misp",
			in: `{"Event": {"Attribute": [` + attr("ip-dst", "evil.example", "true") + `, ` + attr("domain", "1.2.3.4", "true") + `, ` +
				attr("ip-dst|port", "192.0.2.1", "true") + `, ` + attr("ip-dst|port", "192.0.2.1|x", "true") + `, ` +
				attr("domain|ip", "c2.example|x", "true") + `, ` + attr("domain|ip", "ttp|192.0.2.1", "true") + `, ` +
				attr("ip-dst", "192.0.2.1", `"maybe"`) + `, {"type": "ip-dst"}, 5, ` + attr("domain", "http://evil.example", "true") + `]}}`,
			lines: 10, invalid: 10, bad: []int{1, 2, 3, 4, 5}},
		{name: "not an event", format: "misp", in: `"x"`, lines: 1, invalid: 1, bad: []int{1}},
		{name: "an API error", format: "misp", in: `{"name": "Authentication failed", "message": "x"}`, lines: 1, invalid: 1, bad: []int{1}},
		{name: "an event without attributes", format: "misp", mode: &mode{records: true}, in: `{"Event": {"info": "x"}}`},
	})
}

func TestSTIX(t *testing.T) {
	ind := func(pattern string, extra string) string {
		return `{"type": "indicator", "spec_version": "2.1", "id": "indicator--1", "pattern": "` + pattern + `"` + extra + `}`
	}
	runCases(t, []parseCase{
		{name: "bundle", format: "stix",
			in: `{"type": "bundle", "id": "bundle--1", "objects": [{"type": "identity", "name": "x"}, ` +
				ind("[domain-name:value = 'Evil.Example']", `, "pattern_type": "stix"`) + `, ` +
				ind("[ipv4-addr:value = '192.0.2.1']", "") + `, ` + ind("[ipv6-addr:value = '2001:db8::/32']", "") + `, ` +
				ind("[url:value = 'http://evil.example/x']", "") + `, ` + ind("[file:hashes.'SHA-256' = 'e3b0']", "") + `, ` +
				ind("[ipv4-addr:value = '192.0.2.2' OR ipv4-addr:value = '192.0.2.3'] AND [domain-name:value = 'c2.example']", "") + `, ` +
				ind("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", "") + `, ` +
				ind("[domain-name:value IN ('a.example', 'b.example')] WITHIN 600 SECONDS", "") + `, ` +
				ind("([ipv4-addr:value = '192.0.2.4'] FOLLOWEDBY [url:value = 'x']) REPEATS 2 TIMES", "") + `, ` +
				ind("[ipv4-addr:value = '192.0.2.5']", `, "revoked": true`) + `, ` +
				ind("alert tcp any any -> any any", `, "pattern_type": "snort"`) + `, ` +
				ind("[domain-name:value NOT = 'not.example' AND ipv4-addr:value != '192.0.2.6']", "") + `]}`,
			prefixes: []string{"192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32", "192.0.2.4/32", "198.51.100.0/24", "2001:db8::/32"},
			names:    []string{"a.example", "b.example", "c2.example", "evil.example"},
			lines:    13, entries: 10, skipped: 6},
		{name: "escapes and typed literals", format: "stix", mode: &mode{records: true},
			in: `[` + ind(`[domain-name:value = 'it\\'s.example' OR domain-name:value = 'ok.example'] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'`, "") + `, ` +
				ind(`[email-message:to_refs[*].value = 'a@b.example' AND domain-name:value = 'm.example']`, "") + `]`,
			names: []string{"m.example"}, lines: 2, entries: 1, invalid: 1, bad: []int{1}},
		{name: "invalid", format: "stix",
			in: `{"type": "bundle", "objects": [` + ind("[ipv4-addr:value = 'evil.example']", "") + `, ` +
				ind("[ipv6-addr:value = '192.0.2.1']", "") + `, ` + ind("[domain-name:value = '1.2.3.4']", "") + `, ` +
				ind("[ipv4-addr:value = '192.0.2.1'", "") + `, ` + ind("[ipv4-addr:value = '192.0.2.1]", "") + `, ` +
				ind("ipv4-addr:value = '192.0.2.1'", "") + `, ` + ind("[ipv4-addr:value]", "") + `, ` + ind("[ipv4-addr:value = 5]", "") + `, ` +
				ind("[]", "") + `, ` + `{"type": "indicator"}` + `, ` + `{"type": "indicator", "pattern": "[ipv4-addr:value = '192.0.2.1']", "revoked": "x"}` + `, ` +
				`{"id": "x"}` + `, ` + ind("[ipv4-addr:value = '192.0.2.1'] AND [ipv4-addr:value = 'x']", "") + `, ` +
				ind("[ipv4-addr:value BOGUS '192.0.2.1']", "") + `, ` + ind("[ipv4-addr:value IN ('192.0.2.1', 7)]", "") + `, ` +
				ind("[ipv4-addr:value = '192.0.2.1'] AND", "") + `, ` + ind("NOT [ipv4-addr:value = '192.0.2.1']", "") + `]}`,
			lines: 17, invalid: 17, bad: []int{1, 2, 3, 4, 5}},
		{name: "one object", format: "stix", mode: &mode{records: true},
			in: ind("[ipv4-addr:value = '192.0.2.1']", ""), prefixes: []string{"192.0.2.1/32"}, lines: 1, entries: 1},
		{name: "not JSON", format: "stix", in: "[ipv4-addr:value = '192.0.2.1']", lines: 1, invalid: 1, bad: []int{1}},
	})
}

func TestCSV(t *testing.T) {
	col := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = []string{kv[i+1]}
		}
		return m
	}
	runCases(t, []parseCase{
		{name: "header by name", format: "csv", opts: col("column", "Domain"), mode: &mode{},
			in:    "# c\nDomain,Malware,Date added\nstatsrvv.com,keitaro,2024\n stratbuks.com ,x\t,2019\nasu12.store.,lu0bot,2021\n",
			names: []string{"asu12.store", "statsrvv.com", "stratbuks.com"}, lines: 5, entries: 3},
		{name: "header detected", format: "csv", opts: col("column", "2"), mode: &mode{},
			in:       "when,ioc,type\n2024,192.0.2.1,ip\n2024,http://evil.example/,url\n2024,d41d8cd98f00b204e9800998ecf8427e,md5\n2024,evil.example,domain\n2024,10.0.0.0-10.0.0.3,range\n",
			prefixes: []string{"10.0.0.0/30", "192.0.2.1/32"}, names: []string{"evil.example"}, lines: 6, entries: 3, skipped: 2},
		{name: "no header", format: "csv", opts: col("column", "4"), mode: &mode{split: true, exclusive: true, comment: hashComment},
			in: "2026-08-16,u,domain,hndjsy.com,#phishing,https://x.com/1\r\n2026-08-16,u,url,https://hndjsy.com/l/,#phishing,https://x.com/2\r\n" +
				"2026-08-19,u,url,\"https://havan.site/p.php?s=a\"\",\",#phishing #scam,https://x.com/3\r\n",
			names: []string{"hndjsy.com"}, lines: 3, entries: 1, skipped: 2},
		{name: "delimiter and quotes", format: "csv", opts: col("column", "2", "delimiter", ";"), mode: &mode{split: true, exclusive: true, prefix: "a;b\n", comment: hashComment},
			in:    "x;\"a.example\"\n\"x;y\";b.example;z\n\"x\";\"c\"\"d.example\"\nx;\"e.example\"junk\nx;\"unclosed\n;\n",
			names: []string{"a.example", "b.example"}, lines: 7, entries: 2, invalid: 4, bad: []int{4, 5, 6, 7}},
		{name: "tab", format: "csv", opts: col("column", "1", "delimiter", "tab"),
			in: "192.0.2.1\tx\n2001:db8::/32\ty\n", prefixes: []string{"192.0.2.1/32", "2001:db8::/32"}, lines: 2, entries: 2},
		{name: "invalid rows", format: "csv", opts: col("column", "2"), mode: &mode{split: true, exclusive: true, prefix: "a,ioc\n", comment: hashComment},
			in:    "x\nx,\nx,ttp\nx,84.54.0.51.78\nx,1.2.3.4/33\nx,evil.example\n",
			names: []string{"evil.example"}, lines: 7, entries: 1, invalid: 5, bad: []int{2, 3, 4, 5, 6}},
		{name: "missing named column", format: "csv", opts: col("column", "domain"), mode: &mode{},
			in: "ioc,type\nevil.example,domain\n", lines: 2, invalid: 1, bad: []int{1}},
	})
}

func TestTPL(t *testing.T) {
	runCases(t, []parseCase{
		{name: "list", format: "tpl",
			in:       "msFilterList\n# Title: x\n: Expires=1\n#\n-d 01print.ma\n-d Evil.Example\r\n-d 192.0.2.1\n+d good.example\n-d evil.example /ads/\n- ad.js\n+ ok.js\n-d *.x.example\n",
			prefixes: []string{"192.0.2.1/32"}, wild: []string{"01print.ma", "evil.example"}, lines: 12, entries: 3, skipped: 5},
		{name: "invalid", format: "tpl", in: "-d ttp\n-d 84.54.0.51.78\n-d\nevil.example\n*d evil.example\n",
			lines: 5, invalid: 5, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestMaltrail(t *testing.T) {
	runCases(t, []parseCase{
		{name: "trails", format: "maltrail",
			in: "# Copyright\n# Reference: https://x\n\nevil.example\n2yhLxjzcOr.com\n192.0.2.1:8080\n[2001:db8::1]:443\n2001:db8::2\n" +
				"10.0.0.0/8\nc2.example:443\n185.216.140.249\t# scanner\nmünchen.de # c\n",
			prefixes: []string{"10.0.0.0/8", "185.216.140.249/32", "192.0.2.1/32", "2001:db8::1/128", "2001:db8::2/128"},
			wild:     []string{"2yhlxjzcor.com", "c2.example", "evil.example", "xn--mnchen-3ya.de"},
			lines:    12, entries: 9},
		{name: "skipped", format: "maltrail",
			in:    "http://evil.example/x\nftp://1.2.3.4/a\nevil.example/wp-admin/\n/zuniga.php\n//////////atom.xml\nd41d8cd98f00b204e9800998ecf8427e\n",
			lines: 6, skipped: 6},
		{name: "invalid", format: "maltrail",
			in:    "C91.196.152.28 # probe\nttp\n1.2.3.4:x\n2001:db8::1::443\nevil.example extra\n1.2.3.4;x\n",
			lines: 6, invalid: 6, bad: []int{1, 2, 3, 4, 5}},
	})
}

func TestFormatOptions(t *testing.T) {
	for _, tt := range []struct {
		format string
		opts   map[string][]string
		ok     bool
	}{
		{"csv", nil, true},
		{"csv", map[string][]string{"column": {"3"}}, true},
		{"csv", map[string][]string{"column": {"Domain"}}, true},
		{"csv", map[string][]string{"column": {"0"}}, false},
		{"csv", map[string][]string{"column": {}}, false},
		{"csv", map[string][]string{"column": {"1", "2"}}, false},
		{"csv", map[string][]string{"column": {""}}, false},
		{"csv", map[string][]string{"delimiter": {";"}}, true},
		{"csv", map[string][]string{"delimiter": {"tab"}}, true},
		{"csv", map[string][]string{"delimiter": {`\t`}}, true},
		{"csv", map[string][]string{"delimiter": {`"`}}, false},
		{"csv", map[string][]string{"delimiter": {";;"}}, false},
		{"csv", map[string][]string{"delimiter": {" "}}, false},
		{"csv", map[string][]string{"delimiter": {}}, false},
		{"csv", map[string][]string{"status": {"online"}}, false},
		{"feodo-csv", map[string][]string{"status": {"online"}}, true},
		{"feodo-json", map[string][]string{"status": {"all"}}, true},
		{"feodo-json", map[string][]string{"status": {"offline"}}, false},
		{"feodo-json", map[string][]string{"status": {}}, false},
		{"feodo-json", map[string][]string{"status": {"online", "all"}}, false},
		{"misp", map[string][]string{"all_attributes": nil}, true},
		{"misp", map[string][]string{"all_attributes": {}}, true},
		{"misp", map[string][]string{"all_attributes": {"yes"}}, false},
		{"misp", map[string][]string{"to_ids": {}}, false},
		{"stix", map[string][]string{"all_attributes": {}}, false},
		{"rpz", map[string][]string{"column": {"1"}}, false},
		{"netset", map[string][]string{"min_score": {"1"}}, false},
		{"url", map[string][]string{"paths": {"keep"}}, true},
		{"url", map[string][]string{"paths": {"skip"}}, true},
		{"url", map[string][]string{"paths": {"Keep"}}, false},
		{"url", map[string][]string{"paths": {}}, false},
		{"url", map[string][]string{"paths": {"keep", "skip"}}, false},
		{"plain", map[string][]string{"paths": {"keep"}}, false},
	} {
		p, err := format.New(tt.format, tt.opts)
		if (err == nil) != tt.ok || err == nil && p == nil {
			t.Errorf("New(%q, %q): %v, want ok=%v", tt.format, tt.opts, err, tt.ok)
		}
	}
}

// TestByteOrderMark: a UTF-8 byte order mark before the first line or JSON value is dropped.
func TestByteOrderMark(t *testing.T) {
	const bom = "\ufeff"
	for _, tc := range []struct {
		format string
		opts   map[string][]string
		in     string
	}{
		{"plain", nil, bom + "192.0.2.1\n"},
		{"csv", map[string][]string{"column": {"ip"}}, bom + "ip,x\n192.0.2.1,y\n"},
		{"feodo-json", nil, bom + `[{"ip_address": "192.0.2.1"}]`},
		{"threatfox", nil, bom + `{"1": [{"ioc_value": "192.0.2.1:80", "ioc_type": "ip:port"}]}`},
		{"misp", nil, bom + `{"Event": {"Attribute": [{"type": "ip-dst", "value": "192.0.2.1", "to_ids": true}]}}`},
		{"stix", nil, bom + `{"type": "bundle", "objects": [{"type": "indicator", "pattern": "[ipv4-addr:value = '192.0.2.1']"}]}`},
		{"bind", nil, bom + "zone \"a.example\" { };\n"},
		{"rpz", nil, bom + "$ORIGIN rpz.example.\n32.1.2.0.192.rpz-ip CNAME .\n"},
	} {
		s, st, _ := run(newParser(t, tc.format, tc.opts), tc.in)
		if st.Entries != 1 || st.Invalid != 0 || s.Len() != 1 {
			t.Errorf("%s with a byte order mark: %+v", tc.format, st)
		}
	}
}

// TestJSONNotDecoding: a JSON feed whose body does not decode gives one invalid line and nothing else, so
// the feed keeps its last good version.
func TestJSONNotDecoding(t *testing.T) {
	bodies := []string{"", "   ", "<html><body>503</body></html>", `{"a": `, `[{"ip_address": "1.2.3.4"},`, "\xff", "[1] [2]",
		"\ufeff\ufeff[]"}
	for _, f := range []string{"feodo-json", "threatfox", "misp", "stix"} {
		for _, body := range bodies {
			s, st, _ := run(newParser(t, f, nil), body)
			if st.Lines != 1 || st.Invalid != 1 || st.Entries != 0 || st.Skipped != 0 || s.Len() != 0 || len(st.Samples) != 1 ||
				st.Samples[0].Line != 1 || st.Samples[0].Reason == "" {
				t.Errorf("%s: %q gives %+v", f, body, st)
			}
		}
	}
}
