package format_test

import (
	"strings"
	"testing"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/format"
)

// fuzzFormat checks a format's general properties on any input, in the format's mode, and returns the
// parse for further checks.
func fuzzFormat(t *testing.T, name string, opts map[string][]string, data string) (*entryset.Set, format.Stats) {
	t.Helper()
	p := newParser(t, name, opts)
	m := formatMode(name)
	s, st := checkMode(t, p, data, m)
	if m.records {
		checkRecords(t, p, name, data, s, st)
	}
	return s, st
}

// subset checks that every entry of a is in b.
func subset(t *testing.T, a, b *entryset.Set, what string) {
	t.Helper()
	for _, v := range a.V4 {
		if !hasPrefix(b, entryset.UnpackV4(v).String()) {
			t.Fatalf("%s: %s is not in the larger set", what, entryset.UnpackV4(v))
		}
	}
	for _, v := range a.V6 {
		if !hasPrefix(b, v.Prefix().String()) {
			t.Fatalf("%s: %s is not in the larger set", what, v.Prefix())
		}
	}
	for _, n := range a.Names.All() {
		if !hasString(b.Names.Strings(), n) {
			t.Fatalf("%s: %q is not in the larger set", what, n)
		}
	}
	for _, n := range a.Wildcards.All() {
		if !hasString(b.Wildcards.Strings(), n) {
			t.Fatalf("%s: *.%q is not in the larger set", what, n)
		}
	}
}

func onlyWildcards(t *testing.T, s *entryset.Set, prefixesOK bool) {
	t.Helper()
	if s.Names.Len() != 0 || !prefixesOK && (len(s.V4) != 0 || len(s.V6) != 0) {
		t.Fatalf("exact names %q or prefixes %q where only wildcards belong", s.Names, prefixes(s))
	}
}

func onlyPrefixes(t *testing.T, s *entryset.Set) {
	t.Helper()
	if s.Names.Len() != 0 || s.Wildcards.Len() != 0 {
		t.Fatalf("names %q %q where only prefixes belong", s.Names, s.Wildcards)
	}
}

func FuzzDShield(f *testing.F) {
	addSeeds(f, headLines(f, "dshield_block.txt", 35), tailLines(f, "dshield_block.txt", 4),
		"Start\tEnd\tNetblock\tAttacks\tName\tCountry\temail\n10.0.0.0\t10.0.0.255\t24\n10.1.0.0\t10.1.0.5\t-\n10.2.0.0\t10.2.0.3\n",
		"2001:db8::\t2001:db8::ffff\t112\t5\n16.5.0.0\t16.5.0.254\t24\n16.5.0.1\t16.5.0.255\t24\n0.0.0.0\t255.255.255.255\t0\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "dshield", nil, data)
		onlyPrefixes(t, s)
	})
}

func FuzzP2P(f *testing.F) {
	addSeeds(f, headLines(f, "btn-all.p2p", 10), tailLines(f, "btn-all.p2p", 10),
		"a:b:c:1.2.3.4-1.2.3.5\ncafe:2001:db8::-2001:db8::1\nx-y:1.2.3.8-1.2.3.11\nbeef::2001:db8::10-2001:db8::10\nname@host:::1-::1\n",
		"x:2001:db8::2-2001:db8::1\na:b:2001:db8::-2001:db8::ff\nx:0.0.0.0-255.255.255.255\nx:::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "p2p", nil, data)
		onlyPrefixes(t, s)
	})
}

func FuzzSpamhausJSON(f *testing.F) {
	addSeeds(f, headLines(f, "spamhaus_drop_v4.json", 5), tailLines(f, "spamhaus_drop_v4.json", 2),
		`{"cidr":"1.10.16.0/33"}`+"\n"+`{"cidr":null}`+"\n"+`["1.2.3.0/24"]`+"\n"+`{"cidr":"1.2.3.0/24"} {}`+"\n"+`{"cidr":"2001:db8::/32"}`)
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "spamhaus-json", nil, data)
		onlyPrefixes(t, s)
	})
}

// FuzzFeodoCSV parses the body after the real header, so that its rows are independent, and checks that
// "status online" only moves rows from entries to skipped.
func FuzzFeodoCSV(f *testing.F) {
	header := headLines(f, "feodo_ipblocklist.csv", 9)
	addSeeds(f, readFeed(f, "feodo_ipblocklist.csv")[len(header):],
		"\"x\",\"192.0.2.1\",\"1\",\"online\"\n\"x\",\"192.0.2.2\",\"1\",\"ONLINE\"\n\"x\",\"192.0.2.3\"\n\"x\",\"bad\",\"1\",\"online\"\n\"unclosed\n")
	all := newParser(f, "feodo-csv", nil)
	online := newParser(f, "feodo-csv", map[string][]string{"status": {"online"}})
	f.Fuzz(func(t *testing.T, data string) {
		m := formatMode("feodo-csv")
		m.prefix = header
		s, st := checkMode(t, all, data, m)
		so, sto := checkMode(t, online, data, m)
		onlyPrefixes(t, s)
		if sto.Invalid != st.Invalid || sto.Entries+sto.Skipped != st.Entries+st.Skipped {
			t.Fatalf("status online: %+v; all: %+v", sto, st)
		}
		subset(t, so, s, "status online")
	})
}

func FuzzFeodoJSON(f *testing.F) {
	addSeeds(f, readFeed(f, "feodo_ipblocklist.json"),
		`[{"ip_address": "1.2.3.4"}, {"ip_address": 5}, {"port": 1}, null, "1.2.3.5", {"ip_address": "1.2.3.256"}, {"ip_address": "1.2.3.6", "status": 1}]`,
		`[{"ip_address": "2001:db8::1", "status": "online"}, {"ip_address": "10.0.0.0/8", "status": "offline"}]`, `{"ip_address": "1.2.3.4"}`, "[ ]")
	f.Fuzz(func(t *testing.T, data string) {
		s, st := fuzzFormat(t, "feodo-json", nil, data)
		so, sto, _ := run(newParser(t, "feodo-json", map[string][]string{"status": {"online"}}), data)
		onlyPrefixes(t, s)
		if sto.Invalid != st.Invalid || sto.Lines != st.Lines || sto.Entries+sto.Skipped != st.Entries+st.Skipped {
			t.Fatalf("status online: %+v; all: %+v", sto, st)
		}
		subset(t, so, s, "status online")
	})
}

func FuzzThreatFox(f *testing.F) {
	tf := readFeed(f, "threatfox_export_recent.json")
	// The first three records, closed, and a slice from the middle.
	i := 0
	for range 3 {
		i += strings.Index(tf[i:], "\n    ],") + 1
	}
	rec := func(value, typ string) string { return `{"ioc_value": "` + value + `", "ioc_type": "` + typ + `"}` }
	addSeeds(f, tf[:i]+"    ]\n}", tf[:i],
		`{"1": [`+rec("43.143.128.126:65443", "ip:port")+`, `+rec("[2001:db8::1]:443", "ip:port")+`, `+rec("Evil.Example.", "domain")+
			`, `+rec("http://evil.example/x", "url")+`, `+rec("d41d8cd98f00b204e9800998ecf8427e", "md5_hash")+`]}`,
		`{"query_status": "ok", "data": [{"ioc": "192.0.2.1:80", "ioc_type": "ip:port"}]}`, "["+rec("1.2.3.4:x", "ip:port")+"]",
		`{"1": {"ioc_value": "1.2.3.4:80"}, "query_status": "ok", "2": [7, null]}`)
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "threatfox", nil, data)
		if s.Wildcards.Len() != 0 {
			t.Fatalf("wildcards %q", s.Wildcards)
		}
	})
}

func FuzzAdblock(f *testing.F) {
	addSeeds(f, headLines(f, "hagezi_tif.mini.adblock.txt", 20), headLines(f, "urlhaus-filter-agh.txt", 12),
		readFeed(f, "hagezi_regex-wildcard-rules.adguard.txt"), headLines(f, "urlhaus-filter-online.txt", 10),
		string(readFeed(f, "urlhaus-filter-online.txt")[217000:]),
		headLines(f, "adguard_modifiers.txt", 12),
		"||evil.example^$important\n||a.example^$all,\n||b.example^$\n||c.example/x$all\n@@||good.example^\nexample.com##.banner\n##.ad\n#@#.ad\n|https://evil.example/\n||evil.example\n||*.evil.example^\n",
		"||84.54.0.51.78^\n||ttp^\n||-bad.example^\nttp\n||^\n||2001:db8::1^\n2001:db8::2\n||münchen.de^\n[Adblock Plus 2.0]\n# c\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "adblock", nil, data)
		onlyWildcards(t, s, true)
	})
}

func FuzzDnsmasq(f *testing.F) {
	addSeeds(f, headLines(f, "urlhaus-filter-dnsmasq.conf", 12), tailLines(f, "dnsmasq-china-list_bogus-nxdomain.china.conf", 30),
		"bogus-nxdomain=1.2.3.4/24\nbogus-nxdomain=::ffff:1.2.3.4\nbogus-nxdomain=fe80::1%eth0\nbogus-nxdomain=\n",
		"address=/b.example/\naddress=/c.example/#\naddress=/e.example/f.example/127.0.0.1\nserver=/g.example/192.0.2.53\nlocal=/i.example/\n",
		"server=/a.example/#\nserver=192.0.2.53\naddress=/#/0.0.0.0\naddress=/*.j.example/::\naddress=//0.0.0.0\naddress=/a/b/\nlocal=/a.example/1.2.3.4\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "dnsmasq", nil, data)
		onlyWildcards(t, s, true) // bogus-nxdomain lists addresses
	})
}

func FuzzUnbound(f *testing.F) {
	addSeeds(f, headLines(f, "urlhaus-filter-unbound.conf", 12),
		"server:\n  local-zone: \"a.example\" always_nxdomain\nlocal-zone: b.example. deny # c\nlocal-zone: \"a.example\" transparent\n",
		"local-data: \"a.example A 0.0.0.0\"\nlocal-zone: \"a.example\" blackhole\nlocal-zone: \"a#b.example\" deny\nlocal-zone \"x\" deny\n\"q\":\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "unbound", nil, data)
		onlyWildcards(t, s, false)
	})
}

func FuzzTPL(f *testing.F) {
	addSeeds(f, headLines(f, "urlhaus-filter.tpl", 14),
		"-d 192.0.2.1\n+d good.example\n-d evil.example /ads/\n- ad.js\n+ ok.js\n-d *.x.example\n-d\n+d\n*d x\n: Expires=1\nMSFILTERLIST\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "tpl", nil, data)
		onlyWildcards(t, s, true)
	})
}

func FuzzMaltrail(f *testing.F) {
	addSeeds(f, headLines(f, "maltrail_agenttesla.txt", 40), tailLines(f, "maltrail_agenttesla.txt", 20),
		"evil.example\n2yhLxjzcOr.com\n192.0.2.1:8080\n[2001:db8::1]:443\n2001:db8::2\n10.0.0.0/8\nc2.example:443\n185.216.140.249\t# scanner\n",
		"http://evil.example/x\nevil.example/wp-admin/\n/zuniga.php\n//////////atom.xml\nC91.196.152.28 # probe\n[1.2.3.4]:80\n2001:db8::1:443\n")
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "maltrail", nil, data)
		if s.Names.Len() != 0 {
			t.Fatalf("exact names %q", s.Names)
		}
	})
}

// FuzzCSV parses rows after a header, by column name, with the delimiter from the input, and checks the
// rows are independent.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		headLines(f, "tweetfeed_week.csv", 10), tailLines(f, "tweetfeed_week.csv", 3), tailLines(f, "blackbook.csv", 10),
		string(readFeed(f, "blackbook.csv")[230000:231000]),
		"x;\"a.example\"\n\"x;y\";b.example;z\n\"x\";\"c\"\"d.example\"\nx;\"e.example\"junk\nx;\"unclosed\n;\n",
	} {
		f.Add(s, byte(','), uint8(3))
		f.Add(s, byte(';'), uint8(1))
	}
	for _, s := range edgeSeeds {
		f.Add(s, byte('\t'), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data string, delim byte, col uint8) {
		if delim >= '0' && delim <= '9' || delim|0x20 >= 'a' && delim|0x20 <= 'z' {
			return // a delimiter inside the header "h,h,IOC" or the column number
		}
		d := string(delim)
		if delim == '\t' {
			d = "tab"
		}
		n := 1 + int(col%6)
		header := strings.Repeat("h"+d, n-1) + "IOC\n"
		if delim == '\t' {
			header = strings.Repeat("h\t", n-1) + "IOC\n"
		}
		p, err := format.New("csv", map[string][]string{"column": {"ioc"}, "delimiter": {d}})
		if err != nil {
			return // not a delimiter
		}
		m := formatMode("csv")
		m.prefix = header
		s, st := checkMode(t, p, data, m)
		// The same rows by column number parse the same way.
		pn := newParser(t, "csv", map[string][]string{"column": {string(rune('0' + n))}, "delimiter": {d}})
		sn, stn := checkMode(t, pn, data, m)
		if !sn.Equal(s) || stn.Entries != st.Entries || stn.Skipped != st.Skipped || stn.Invalid != st.Invalid {
			t.Fatalf("by name %+v, by number %+v", st, stn)
		}
	})
}

// FuzzRPZ checks the general properties on any zone text and, for bodies with no directives,
// parentheses or inherited owners, that after an SOA each line parses on its own.
func FuzzRPZ(f *testing.F) {
	soa := headLines(f, "urlhaus-filter-rpz.conf", 11)
	addSeeds(f, headLines(f, "urlhaus-filter-rpz.conf", 20), headLines(f, "hagezi_tif-ips.rpz.txt", 12),
		tailLines(f, "urlhaus-filter-rpz.conf", 5),
		"evil.example CNAME .\n*.wild.example CNAME .\ndrop.example 300 IN CNAME rpz-drop.\nredir.example A 192.0.2.1\n  AAAA 2001:db8::1\nok.example CNAME rpz-passthru.\n",
		"$ORIGIN rpz.example.\n@ SOA ns.rpz.example. h.rpz.example. (\n  1 ; serial\n  3600 3600 604800 30 )\n@ NS ns\nevil.example CNAME .\nout.example. CNAME .\n",
		"128.1.zz.db8.2001.rpz-ip CNAME .\n48.zz.db8.2001.rpz-ip CNAME .\n24.1.2.0.192.rpz-ip CNAME .\nns.x.rpz-nsdname CNAME .\nx.example TXT \"a ; b\"\n",
		"x.example 1h2 CNAME .\nother. SOA ns. h. 1 2 3 4 5\n$ORIGIN\n$INCLUDE x\n*.com CNAME .\nx\\.example CNAME .\n")
	p := newParser(f, "rpz", nil)
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "rpz", nil, data)
		if strings.ContainsAny(data, "()$") {
			return
		}
		for _, line := range splitLines(data) {
			if line != "" && (line[0] == ' ' || line[0] == '\t') {
				return
			}
		}
		s2, _ := checkMode(t, p, data, mode{split: true, prefix: soa, comment: zoneComment})
		_ = s
		_ = s2
	})
}

// FuzzBind checks the general properties on any named.conf text, and on one zone statement whose name is
// fuzzed, that it lists exactly the name as domain.Normalize and Listable judge it.
func FuzzBind(f *testing.F) {
	for _, s := range []string{
		headLines(f, "urlhaus-filter-bind.conf", 12), tailLines(f, "urlhaus-filter-bind.conf", 3),
		"options {\n  directory \"/var/named\"; // c\n};\n/* zone \"commented.example\" { };\n*/\nzone \"a.example\"\n{\n  type master;\n};\n",
		"view \"internal\" {\n  match-clients { any; };\n  zone \"b.example\" { type master; };\n};\nzone c.example IN { type master; };\n",
		"zone \"a.example\";\nzone { type master; };\n};\nzone \"b.example\" { type master; }\nzone \"x\" { file \"x;\n",
	} {
		f.Add(s, "evil.example")
	}
	for _, s := range edgeSeeds {
		f.Add(s, s)
	}
	p := newParser(f, "bind", nil)
	f.Fuzz(func(t *testing.T, data, name string) {
		fuzzFormat(t, "bind", nil, data)
		if strings.ContainsAny(name, "\"\\\n") {
			return
		}
		s, st := checkMode(t, p, "zone \""+name+"\" { type master; };\n", mode{})
		want, ok := domain.Normalize(name)
		ok = ok && domain.Listable(want)
		switch {
		case ok && (st.Entries != 1 || s.Wildcards.Len() != 1 || s.Wildcards.At(0) != want || s.Len() != 1):
			t.Fatalf("zone %q: %+v %q, want the wildcard %q", name, st, s.Wildcards, want)
		case !ok && (st.Invalid != 1 || s.Len() != 0):
			t.Fatalf("zone %q: %+v, want one invalid statement", name, st)
		}
	})
}

func FuzzMISP(f *testing.F) {
	attr := func(typ, value, toIDS string) string {
		return `{"type": "` + typ + `", "value": "` + value + `", "to_ids": ` + toIDS + `}`
	}
	misp := readFeed(f, "misp_event_osint_fallchill.json")
	addSeeds(f, misp[:strings.Index(misp, `"Attribute": [`)+len(`"Attribute": [`)]+
		attr("ip-dst", "192.0.2.1", "true")+`]}}`,
		`{"Event": {"Attribute": [`+attr("ip-dst|port", "192.0.2.2|443", "true")+`, `+attr("domain|ip", "c2.example|192.0.2.3", "true")+
			`, `+attr("ip-dst", "192.0.2.9", "false")+`, `+attr("domain", "off.example", `"0"`)+`, `+attr("md5", "d41d8cd98f00b204e9800998ecf8427e", "true")+
			`], "Object": [{"Attribute": [`+attr("hostname", "h.example", "true")+`, `+attr("port", "443", "false")+`]}]}}`,
		`{"response": [{"Event": {"Attribute": [`+attr("ip-dst", "192.0.2.1", "true")+`]}}]}`,
		`[{"Event": {"Attribute": [`+attr("ip-src", "2001:db8::/32", `"1"`)+`, {"type": "ip-dst"}, 5]}}]`)
	f.Fuzz(func(t *testing.T, data string) {
		s, st := fuzzFormat(t, "misp", nil, data)
		sa, sta, _ := run(newParser(t, "misp", map[string][]string{"all_attributes": nil}), data)
		// all_attributes only moves attributes from skipped to listed (or invalid: values of attributes
		// that are not listed are not checked).
		if sta.Lines != st.Lines || sta.Invalid < st.Invalid || sta.Entries < st.Entries || sta.Skipped > st.Skipped {
			t.Fatalf("all_attributes %+v; default %+v", sta, st)
		}
		subset(t, s, sa, "default")
		if s.Wildcards.Len() != 0 {
			t.Fatalf("wildcards %q", s.Wildcards)
		}
	})
}

func FuzzSTIX(f *testing.F) {
	stix := readFeed(f, "tweetfeed_stix21_today.json")
	ind := func(pattern string) string { return `{"type": "indicator", "pattern": "` + pattern + `"}` }
	addSeeds(f, stix, stix[:len(stix)/3],
		`{"type": "bundle", "objects": [`+ind("[ipv4-addr:value = '192.0.2.2' OR ipv4-addr:value = '192.0.2.3'] AND [domain-name:value = 'c2.example']")+`, `+
			ind("[domain-name:value IN ('a.example', 'b.example')] WITHIN 600 SECONDS")+`, `+ind("[ipv4-addr:value ISSUBSET '198.51.100.0/24']")+`]}`,
		`[`+ind(`[domain-name:value = 'it\\'s.example' OR domain-name:value = 'ok.example'] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'`)+`, `+
			ind(`[email-message:to_refs[*].value = 'a@b.example' AND domain-name:value = 'm.example']`)+`, `+ind("[file:hashes.'SHA-256' = 'e3b0']")+`]`,
		ind("([ipv4-addr:value = '192.0.2.4'] FOLLOWEDBY [url:value = 'x']) REPEATS 2 TIMES"),
		`{"type": "bundle", "objects": [`+ind("[ipv4-addr:value = 5]")+`, `+ind("[]")+`, {"type": "indicator", "revoked": "x"}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		s, _ := fuzzFormat(t, "stix", nil, data)
		if s.Wildcards.Len() != 0 {
			t.Fatalf("wildcards %q", s.Wildcards)
		}
	})
}

// FuzzURL checks that "paths keep" only turns skipped URLs into entries, and that every entry is a host of
// the input: an exact name or an address, never a wildcard.
func FuzzURL(f *testing.F) {
	addSeeds(f, headLines(f, "tweetfeed_week.urls.txt", 40), headLines(f, "urlhaus-filter-online.paths.txt", 10),
		"http://[2001:db8::1]:8080/\n[2001:db8::2]\n2001:db8::3\nftp://u:p@1.2.3.4:21\nhxxp://x.example\nhttp://e.example.:80 # c\n",
		"http://\n/path\nhttp://e.example:x/\nhttp://[1.2.3.4]/\nhttp://[fe80::1%eth0]/\nhttp://a.example/ x\n://x\n@\n[]:1\n")
	skip := newParser(f, "url", nil)
	keep := newParser(f, "url", map[string][]string{"paths": {"keep"}})
	f.Fuzz(func(t *testing.T, data string) {
		m := formatMode("url")
		s, st := checkMode(t, skip, data, m)
		sk, stk := checkMode(t, keep, data, m)
		if stk.Invalid != st.Invalid || stk.Entries != st.Entries+st.Skipped || stk.Skipped != 0 {
			t.Fatalf("paths keep: %+v; paths skip: %+v", stk, st)
		}
		subset(t, s, sk, "paths skip")
		if sk.Wildcards.Len() != 0 {
			t.Fatalf("wildcards %q from URLs", sk.Wildcards)
		}
	})
}

// FuzzRbldnsd parses the input as each rbldnsd dataset type; the address types list only prefixes, dnset
// only names.
func FuzzRbldnsd(f *testing.F) {
	addSeeds(f, readFeed(f, "rbldnsd_ip4set.txt"), readFeed(f, "rbldnsd_ip4trie.txt"), readFeed(f, "rbldnsd_ip6trie.txt"),
		readFeed(f, "rbldnsd_dnset.txt"),
		"127.16-31\n128-129\n1.2-1.2.3.4\n127.2.0.1-0\n0.0.0.0/0\n::/0\n2001:db8/32\n::ffff:1.2.3.4\n!\n! x\n:\n::\n$\n*.\n.\n")
	f.Fuzz(func(t *testing.T, data string) {
		for _, name := range []string{"rbldnsd-ip4set", "rbldnsd-ip4trie", "rbldnsd-ip6trie", "rbldnsd-dnset"} {
			s, _ := fuzzFormat(t, name, nil, data)
			switch {
			case name == "rbldnsd-dnset" && (len(s.V4) != 0 || len(s.V6) != 0):
				t.Fatalf("%s listed prefixes %q", name, prefixes(s))
			case name != "rbldnsd-dnset":
				onlyPrefixes(t, s)
			}
		}
	})
}
