package threatstop_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

func exchange(t *testing.T, s *coretest.Server, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	addr := s.UDP
	if network == "tcp" {
		addr = s.TCP
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// listSummary reads _list.POLICY.threatstop.local TXT.
func listSummary(t *testing.T, s *coretest.Server, pol string) map[string]int {
	t.Helper()
	r := exchange(t, s, "tcp", "_list."+pol+".threatstop.local.", dns.TypeTXT, 0)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("_list.%s TXT: %v", pol, r)
	}
	out := map[string]int{}
	for _, kv := range r.Answer[0].(*dns.TXT).Txt {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("_list TXT %q: %v", kv, err)
		}
		out[k] = n
	}
	return out
}

type page struct{ txt, apl, a, aaaa []string }

// readPages reads every page of a policy over TCP in each form.
func readPages(t *testing.T, s *coretest.Server, pol string) []page {
	t.Helper()
	sum := listSummary(t, s, pol)
	var out []page
	for i := range sum["pages"] {
		name := fmt.Sprintf("%d._list.%s.threatstop.local.", i, pol)
		var p page
		for _, rr := range exchange(t, s, "tcp", name, dns.TypeTXT, 0).Answer {
			p.txt = append(p.txt, rr.(*dns.TXT).Txt...)
		}
		for _, rr := range exchange(t, s, "tcp", name, dns.TypeAPL, 0).Answer {
			for _, q := range rr.(*dns.APL).Prefixes {
				ones, _ := q.Network.Mask.Size()
				a, _ := netip.AddrFromSlice(q.Network.IP)
				p.apl = append(p.apl, netip.PrefixFrom(a.Unmap(), ones).String())
			}
		}
		for _, rr := range exchange(t, s, "tcp", name, dns.TypeA, 0).Answer {
			p.a = append(p.a, rr.(*dns.A).A.String()+"/32")
		}
		for _, rr := range exchange(t, s, "tcp", name, dns.TypeAAAA, 0).Answer {
			p.aaaa = append(p.aaaa, rr.(*dns.AAAA).AAAA.String()+"/128")
		}
		if !slices.Equal(p.txt, p.apl) {
			t.Errorf("page %d: TXT %v, APL %v", i, p.txt, p.apl)
		}
		var singles []string
		for _, e := range p.txt {
			if strings.HasSuffix(e, "/32") && !strings.Contains(e, ":") || strings.HasSuffix(e, "/128") {
				singles = append(singles, e)
			}
		}
		if got := append(slices.Clone(p.a), p.aaaa...); !slices.Equal(got, singles) {
			t.Errorf("page %d: A and AAAA %v, single addresses of the page %v", i, got, singles)
		}
		out = append(out, p)
	}
	if n := fmt.Sprint(len(out)); exchange(t, s, "tcp", n+"._list."+pol+".threatstop.local.", dns.TypeA, 0).Rcode != dns.RcodeNameError {
		t.Errorf("page %s (one past the last) is not NXDOMAIN", n)
	}
	return out
}

func allEntries(pages []page) []string {
	var out []string
	for _, p := range pages {
		out = append(out, p.txt...)
	}
	return out
}

func TestListPages(t *testing.T) {
	s, _ := start(t, "        list_page 3")
	pages := readPages(t, s, "demo")
	// drop's 5.188.10.0/24 without the allowed 5.188.10.1 (c2's 5.188.10.7 is inside), the policy's own
	// 192.0.2.0/28, drop's 2a00:4c80::/29; names are not firewall material.
	want := []string{"5.188.10.0/32", "5.188.10.2/31", "5.188.10.4/30", "5.188.10.8/29", "5.188.10.16/28",
		"5.188.10.32/27", "5.188.10.64/26", "5.188.10.128/25", "192.0.2.0/28", "2a00:4c80::/29"}
	if got := allEntries(pages); !slices.Equal(got, want) {
		t.Fatalf("list pages hold\n%v\nwant\n%v", got, want)
	}
	for i, p := range pages {
		if len(p.txt) == 0 || len(p.txt) > 3 {
			t.Errorf("page %d has %d entries, want 1 to 3 (list_page 3)", i, len(p.txt))
		}
	}
	sum := listSummary(t, s, "demo")
	if sum["entries"] != 10 || sum["ipv4"] != 9 || sum["ipv6"] != 1 || sum["page_size"] != 3 || sum["pages"] != len(pages) {
		t.Errorf("_list TXT %v", sum)
	}
	serial := soaSerial(t, exchange(t, s, "udp", "demo.threatstop.local.", dns.TypeSOA, 0))
	if sum["serial"] != int(serial) {
		t.Errorf("_list serial %d, policy SOA serial %d", sum["serial"], serial)
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"00._list.demo.threatstop.local.", dns.TypeTXT, dns.RcodeNameError},
		{"-1._list.demo.threatstop.local.", dns.TypeTXT, dns.RcodeNameError},
		{"x.0._list.demo.threatstop.local.", dns.TypeTXT, dns.RcodeNameError},
		{"0._list.nosuch.threatstop.local.", dns.TypeTXT, dns.RcodeNameError},
		{"0._list.demo.threatstop.local.", dns.TypeMX, dns.RcodeSuccess},
	} {
		if r := exchange(t, s, "udp", tc.name, tc.qtype, 0); r.Rcode != tc.rcode || tc.rcode == dns.RcodeSuccess && (len(r.Answer) != 0 || len(r.Ns) != 1) {
			t.Errorf("%s %s: %v", tc.name, dns.TypeToString[tc.qtype], r)
		}
	}
	// One address, one page.
	if sum := listSummary(t, s, "tor"); sum["pages"] != 1 || sum["entries"] != 1 {
		t.Errorf("tor: %v", sum)
	}
}

// TestListPagesLarge: full pages over TCP, TC over UDP, every entry exactly once, and a change of one
// entry changes only the page that holds it.
func TestListPagesLarge(t *testing.T) {
	s, dir := start(t, "")
	var b strings.Builder
	var want []string
	for i := range 9000 {
		a := netip.AddrFrom4([4]byte{45, byte(i >> 7), byte(i << 1), 0}) // every other /24: none merge
		fmt.Fprintf(&b, "%s/24 ; SBL%d\n", a, i)
		want = append(want, a.String()+"/24")
	}
	writeFeed(t, filepath.Join(dir, "drop.txt"), b.String())
	var pages []page
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sum := listSummary(t, s, "demo"); sum["entries"] >= 9000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new feed did not reach the list pages")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pages = readPages(t, s, "demo")
	got := allEntries(pages)
	// c2's 5.188.10.7 and the own 192.0.2.0/28 come along.
	want = append([]string{"5.188.10.7/32"}, want...)
	want = append(want, "192.0.2.0/28")
	if !slices.Equal(got, want) {
		t.Fatalf("pages hold %d entries, want %d (first %v)", len(got), len(want), got[:min(5, len(got))])
	}
	if len(pages) < 3 {
		t.Fatalf("9002 entries in %d pages", len(pages))
	}
	for i, p := range pages {
		if len(p.txt) > 4000 {
			t.Errorf("page %d has %d entries", i, len(p.txt))
		}
	}
	// Over UDP a page does not fit: TC and no partial answer, whatever the buffer.
	for _, size := range []uint16{0, 1232, 4096} {
		r := exchange(t, s, "udp", "0._list.demo.threatstop.local.", dns.TypeTXT, size)
		if !r.Truncated || len(r.Answer) != 0 {
			t.Errorf("page 0 TXT over UDP (EDNS %d): TC %v, %d answers", size, r.Truncated, len(r.Answer))
		}
	}

	// Drop one entry from the middle of a page that is not where the page ends.
	k := len(pages) / 2
	victim := pages[k].txt[len(pages[k].txt)/2]
	writeFeed(t, filepath.Join(dir, "drop.txt"), strings.Replace(b.String(), strings.TrimSuffix(victim, "/24")+"/24 ;", "# gone ;", 1))
	deadline = time.Now().Add(10 * time.Second)
	for listSummary(t, s, "demo")["entries"] != len(want)-1 {
		if time.Now().After(deadline) {
			t.Fatal("the change did not reach the list pages")
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := readPages(t, s, "demo")
	if len(after) != len(pages) {
		t.Fatalf("%d pages after removing one entry, %d before", len(after), len(pages))
	}
	for i := range pages {
		same := slices.Equal(pages[i].txt, after[i].txt)
		if i == k && (same || slices.Contains(after[i].txt, victim)) || i != k && !same {
			t.Errorf("page %d changed %v (removed %s from page %d)", i, !same, victim, k)
		}
	}
}

func writeFeed(t testing.TB, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
