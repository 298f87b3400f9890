package test

import (
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// reloadFeeds are the feed files reload.corefile reads.
var reloadFeeds = []string{"spamhaus_drop.txt", "tor_exit_nodes.lst", "urlhaus-filter-hosts.txt", "hagezi_fake.wildcard.txt"}

// nibbles is the reversed-nibble form of a listed IPv6 address (2001:470:1:908::9001, a tor exit), 32
// labels.
const nibbles = "1.0.0.9.0.0.0.0.0.0.0.0.0.0.0.0.8.0.9.0.1.0.0.0.0.7.4.0.1.0.0.2"

// TestMalformedNames asks names that are neither a reversed address nor a domain: each gets NXDOMAIN or
// FORMERR, never SERVFAIL or no answer, and the server keeps answering afterwards.
func TestMalformedNames(t *testing.T) {
	t.Parallel()
	s := startServer(t, "reload.corefile", reloadFeeds...)
	spam := apexOf("spam")

	ok := v4(t, "1.10.16.1", "spam")
	for _, name := range []string{ok, nibbles + "." + apexOf("tor"), dn("01print.ma", "web")} {
		if r := s.Query(t, name, dns.TypeA); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: %s, want NOERROR (listed) before the malformed names", name, rcode(r))
		}
	}

	// Most are near misses of listed entries (1.10.16.0/20 is in DROP, 01print.ma in urlhaus): a decoder
	// that is lenient in the wrong place answers NOERROR for them.
	web, tor := apexOf("web"), apexOf("tor")
	malformed := []string{
		"16.10.1." + spam,              // three octets of 1.10.16.1
		"10.1." + spam,                 // two
		"1." + spam,                    // one
		"1.16.10.1.1." + spam,          // five, the first four listed
		"1.1.16.10.1." + spam,          // five, the last four listed
		"257.16.10.1." + spam,          // 257 = 1 mod 256
		"1.16.10.257." + spam,          // first octet out of range
		"256.1.1.1." + spam,            // octet out of range
		"01.16.10.1." + spam,           // leading zero
		"1.16.10.01." + spam,           // leading zero in the first octet
		"1.016.10.1." + spam,           // leading zero, three digits
		"0001.16.10.1." + spam,         // four digits
		"-1.16.10.1." + spam,           // sign
		"1.16.10.1x." + spam,           // letter in an octet
		"1.16.10.0x1." + spam,          // hex octet
		nibbles[2:] + "." + tor,        // 31 nibbles of a listed address
		"0." + nibbles + "." + tor,     // 33 nibbles
		nibbles + ".0." + tor,          // 33 nibbles, the extra one in front of the policy
		"g" + nibbles[1:] + "." + tor,  // a nibble that is not hex
		"01" + nibbles[1:] + "." + tor, // a two-character label among 32
		strings.Repeat("0.", 31) + "00." + tor,
		`01print!.ma.` + web,         // odd character in a listed name
		`01print\000.ma.` + web,      // NUL
		`01print\ .ma.` + web,        // space
		`\255\254.01print.ma.` + web, // bytes above 127
		`01print\.ma.` + web,         // a dot inside one label, not a separator
		`*.evil.example.` + spam,     // a literal wildcard label
		`-01print.ma.` + web,         // leading hyphen
		`01print-.ma.` + web,         // trailing hyphen
		`example.123.` + spam,        // numeric top-level label
		`12345.` + spam,              // a bare number
		`1.2.3.4\.` + spam,           // a dot inside the policy label
		strings.Repeat("a", 63) + ".b" + strings.Repeat(".c", 80) + "." + spam, // long (and valid, clean)
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range malformed {
			if _, ok := dns.IsDomainName(name); !ok {
				t.Fatalf("test bug: %q is not a name miekg/dns can send", name)
			}
			for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
				r := s.QueryNet(t, network, name, qt)
				if r.Rcode != dns.RcodeNameError && r.Rcode != dns.RcodeFormatError {
					t.Errorf("%s %s %s: rcode %s, want NXDOMAIN or FORMERR\n%v", network, name, dns.TypeToString[qt], rcode(r), r)
				}
				if len(r.Answer) != 0 {
					t.Errorf("%s %s %s: answers %v", network, name, dns.TypeToString[qt], r.Answer)
				}
			}
		}
	}

	// dig, with its own idea of escaping.
	for _, name := range []string{"16.10.1." + spam, "257.16.10.1." + spam, "01.16.10.1." + spam, nibbles[2:] + "." + tor, `01print!.ma.` + web} {
		out := dig(t, s.Port, "+noall", "+comments", name, "A")
		if st := digStatus(t, out); st != "NXDOMAIN" && st != "FORMERR" {
			t.Errorf("dig %s: status %s, want NXDOMAIN or FORMERR\n%s", name, st, out)
		}
	}

	// Broken messages (truncated, random, no question, two questions): what stock CoreDNS answers to those
	// is its business (SERVFAIL for an empty question section), but the process must survive them.
	rnd := rand.New(rand.NewPCG(1, 2))
	conn, err := net.Dial("udp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	good := new(dns.Msg)
	good.SetQuestion(ok, dns.TypeA)
	wire, err := good.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var packets [][]byte
	for n := 0; n < len(wire); n += 3 {
		packets = append(packets, wire[:n]) // truncated
	}
	for range 30 {
		p := make([]byte, 12+rnd.IntN(100))
		for i := range p {
			p[i] = byte(rnd.Uint32())
		}
		p[2] &^= 0x80 // a query, not a response
		packets = append(packets, p)
	}
	noQuestion := new(dns.Msg)
	noQuestion.Id = dns.Id()
	twoQuestions := new(dns.Msg)
	twoQuestions.SetQuestion(ok, dns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, dns.Question{Name: "16.10.1." + spam, Qtype: dns.TypeA, Qclass: dns.ClassINET})
	for _, m := range []*dns.Msg{noQuestion, twoQuestions} {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, b)
	}
	for _, p := range packets {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	// Drain what comes back until it has been quiet for a while.
	buf := make([]byte, 65535)
	for range len(packets) {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := conn.Read(buf); err != nil {
			break // no answer is fine for a broken message
		}
	}
	// A class other than IN on a policy name is refused, not failed.
	chaos := new(dns.Msg)
	chaos.SetQuestion(ok, dns.TypeA)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	if r, err := s.Exchange("udp", chaos); err != nil || r.Rcode == dns.RcodeServerFailure {
		t.Errorf("class CH on %s: %v %v, want an answer other than SERVFAIL", ok, r, err)
	}

	s.CheckAlive(t, ok, dns.TypeA, dns.RcodeSuccess)
	if out := s.Output(); strings.Contains(out, "panic") {
		t.Errorf("the log shows a panic:\n%s", lastLines(out, 40))
	}
}
