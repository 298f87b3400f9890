package threatstop_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// Isolation between customers: who may read what of a policy, over real DNS messages from several
// loopback addresses, unsigned and signed, all in one server block (tsig without require). Policy open has
// no clients (anyone may look up); policy closed is for 127.0.0.3 only. Both have the key p.key.; open's
// transfer_clients is 127.0.0.2.

const (
	isoKey       = "p.key."
	isoSecret    = "cG9saWN5LWtleS1vZi1vcGVuLWFuZC1jbG9zZWQtMzI="
	isoOther     = "other.key." // a valid key of another customer
	isoOtherSec  = "YW5vdGhlci1jdXN0b21lcnMta2V5LW9mLTMyYnl0ZXM="
	isoCatalog   = "cat.key."
	isoCatalogSe = "dGhlLW9wZXJhdG9ycy1jYXRhbG9nLWtleS0zMmJ5dGU="
)

var isoSecrets = map[string]string{isoKey: isoSecret, isoOther: isoOtherSec, isoCatalog: isoCatalogSe}

func startIsolation(t *testing.T) *coretest.Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "drop.txt"), []byte("5.188.10.0/24 ; SBL1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return coretest.Start(t, `threatstop.local:0 {
    bind 127.0.0.1
    tsig {
        secret `+isoKey+` `+isoSecret+`
        secret `+isoOther+` `+isoOtherSec+`
        secret `+isoCatalog+` `+isoCatalogSe+`
    }
    transfer {
        to *
    }
    threatfeed {
        feed drop {
            file `+dir+`/drop.txt
            format spamhaus
            category spam
        }
    }
    threatstop {
        catalog_keys `+isoCatalog+`
        policy open {
            lists drop
            block 192.0.2.0/28 5.188.10.8 evil.example
            allow 5.188.10.1 192.0.2.1
            answer custom 127.0.0.10
            keys `+isoKey+`
            transfer_clients 127.0.0.2
        }
        policy closed {
            lists drop
            block 192.0.2.0/28
            allow 5.188.10.1
            answer custom 127.0.0.10
            clients 127.0.0.3
            keys `+isoKey+`
        }
    }
}
`)
}

// askFrom sends name/qtype over network from the loopback address src, signed with key unless key is
// "", and returns the answer; a signed answer must verify.
func askFrom(t *testing.T, s *coretest.Server, network, src, key, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, Dialer: &net.Dialer{Timeout: 2 * time.Second}}
	addr := s.UDP
	if network == "tcp" {
		addr = s.TCP
		c.Dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	} else {
		c.Dialer.LocalAddr = &net.UDPAddr{IP: net.ParseIP(src)}
	}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		c.TsigSecret = isoSecrets
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s from %s (key %q) over %s: %v", name, dns.TypeToString[qtype], src, key, network, err)
	}
	return r
}

// who is a client: its address and the key it signs with ("" for none).
type who struct{ src, key string }

func (w who) String() string {
	if w.key == "" {
		return w.src + " unsigned"
	}
	return w.src + " signed with " + w.key
}

// TestIsolationListPages: the list pages (_list.POLICY.ZONE and N._list.POLICY.ZONE) are the policy's whole
// content, allow carve-outs included, so only whoever may read it gets them: a request signed with one of
// the policy's keys or a catalog key, one from its transfer_clients, one from its clients (when it has
// them). Everyone else is REFUSED, with nothing in the answer, whether or not the policy has clients.
func TestIsolationListPages(t *testing.T) {
	s := startIsolation(t)
	for _, c := range []struct {
		policy string
		who    who
		rcode  int
	}{
		{"open", who{"127.0.0.1", ""}, dns.RcodeRefused},
		{"open", who{"127.0.0.3", ""}, dns.RcodeRefused},
		{"open", who{"127.0.0.1", isoOther}, dns.RcodeRefused},
		{"open", who{"127.0.0.1", isoKey}, dns.RcodeSuccess},
		{"open", who{"127.0.0.3", isoCatalog}, dns.RcodeSuccess},
		{"open", who{"127.0.0.2", ""}, dns.RcodeSuccess}, // transfer_clients
		{"closed", who{"127.0.0.1", ""}, dns.RcodeRefused},
		{"closed", who{"127.0.0.2", ""}, dns.RcodeRefused}, // open's transfer_clients, not closed's
		{"closed", who{"127.0.0.1", isoOther}, dns.RcodeRefused},
		{"closed", who{"127.0.0.3", ""}, dns.RcodeSuccess}, // clients
		{"closed", who{"127.0.0.1", isoKey}, dns.RcodeSuccess},
		{"closed", who{"127.0.0.1", isoCatalog}, dns.RcodeSuccess},
	} {
		refused := coretest.Counter(t, "coredns_threatstop_lookups_total", map[string]string{"policy": c.policy, "result": "refused"})
		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{"_list." + c.policy + ".threatstop.local.", dns.TypeTXT},
			{"0._list." + c.policy + ".threatstop.local.", dns.TypeTXT},
			{"0._list." + c.policy + ".threatstop.local.", dns.TypeAPL},
			{"0._list." + c.policy + ".threatstop.local.", dns.TypeA},
		} {
			for _, network := range []string{"udp", "tcp"} {
				r := askFrom(t, s, network, c.who.src, c.who.key, q.name, q.qtype)
				what := network + " " + q.name + " " + dns.TypeToString[q.qtype] + " from " + c.who.String()
				if r.Rcode != c.rcode {
					t.Errorf("%s: %s, want %s", what, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode])
					continue
				}
				if c.rcode == dns.RcodeRefused && (len(r.Answer) != 0 || len(r.Ns) != 0) {
					t.Errorf("%s: REFUSED with records %v %v", what, r.Answer, r.Ns)
				}
				if c.rcode == dns.RcodeSuccess && len(r.Answer) == 0 && network == "tcp" {
					t.Errorf("%s: no records", what)
				}
			}
		}
		if c.rcode == dns.RcodeRefused {
			if got := coretest.Counter(t, "coredns_threatstop_lookups_total", map[string]string{"policy": c.policy, "result": "refused"}); got != refused+8 {
				t.Errorf("%s from %s: lookups_total{result=refused} moved by %v, want 8", c.policy, c.who, got-refused)
			}
		}
	}
}

// TestIsolationReasons: a policy without clients answers every client's DNSBL lookups, but only a
// client that may read the policy learns which entries are its own: to the others an own entry answers
// like a listing of the default category (A answer default, TXT "listed"), and one that a feed lists too
// names the feed alone.
func TestIsolationReasons(t *testing.T) {
	s := startIsolation(t)
	custom := "list=custom category=custom policy=open"
	drop := "list=drop category=spam"
	for _, c := range []struct {
		who        who
		authorised bool
	}{
		{who{"127.0.0.1", ""}, false},
		{who{"127.0.0.3", ""}, false},
		{who{"127.0.0.1", isoOther}, false},
		{who{"127.0.0.1", isoKey}, true},
		{who{"127.0.0.1", isoCatalog}, true},
		{who{"127.0.0.2", ""}, true}, // transfer_clients
	} {
		for _, l := range []struct {
			name     string
			a, txt   []string // to an authorised client
			hiddenA  []string // to the others
			hiddenTX []string
		}{
			{"5.2.0.192.open.threatstop.local.", []string{"127.0.0.10"}, []string{custom}, []string{"127.0.0.2"}, []string{"listed"}},
			{"evil.example.open.threatstop.local.", []string{"127.0.0.10"}, []string{custom}, []string{"127.0.0.2"}, []string{"listed"}},
			{"8.10.188.5.open.threatstop.local.", []string{"127.0.0.2", "127.0.0.10"}, []string{custom, drop}, []string{"127.0.0.2"}, []string{drop}},
			{"9.10.188.5.open.threatstop.local.", []string{"127.0.0.2"}, []string{drop}, []string{"127.0.0.2"}, []string{drop}},
			{"2.0.0.127.open.threatstop.local.", []string{"127.0.0.2"}, []string{"RFC 5782 test point"}, []string{"127.0.0.2"}, []string{"RFC 5782 test point"}},
		} {
			wantA, wantTXT := l.a, l.txt
			if !c.authorised {
				wantA, wantTXT = l.hiddenA, l.hiddenTX
			}
			for _, network := range []string{"udp", "tcp"} {
				what := network + " " + l.name + " from " + c.who.String()
				r := askFrom(t, s, network, c.who.src, c.who.key, l.name, dns.TypeA)
				if got := answers(r); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, wantA) {
					t.Errorf("%s A: %s %v, want NOERROR %v", what, dns.RcodeToString[r.Rcode], got, wantA)
				}
				r = askFrom(t, s, network, c.who.src, c.who.key, l.name, dns.TypeTXT)
				got := answers(r)
				slices.Sort(got)
				if r.Rcode != dns.RcodeSuccess || !slices.Equal(got, wantTXT) {
					t.Errorf("%s TXT: %s %q, want NOERROR %q", what, dns.RcodeToString[r.Rcode], got, wantTXT)
				}
				r = askFrom(t, s, network, c.who.src, c.who.key, l.name, dns.TypeANY)
				got = answers(r)
				slices.Sort(got)
				want := slices.Concat(wantA, wantTXT)
				slices.Sort(want)
				if r.Rcode != dns.RcodeSuccess || !slices.Equal(got, want) {
					t.Errorf("%s ANY: %s %q, want NOERROR %q", what, dns.RcodeToString[r.Rcode], got, want)
				}
			}
		}
	}
	// A policy with clients answers only them, and in full; a key does not make a DNSBL client.
	for _, c := range []struct {
		who   who
		rcode int
	}{
		{who{"127.0.0.3", ""}, dns.RcodeSuccess},
		{who{"127.0.0.1", ""}, dns.RcodeRefused},
		{who{"127.0.0.1", isoKey}, dns.RcodeRefused},
	} {
		r := askFrom(t, s, "udp", c.who.src, c.who.key, "5.2.0.192.closed.threatstop.local.", dns.TypeTXT)
		want := []string{"list=custom category=custom policy=closed"}
		if c.rcode != dns.RcodeSuccess {
			want = nil
		}
		if got := answers(r); r.Rcode != c.rcode || !slices.Equal(got, want) {
			t.Errorf("5.2.0.192.closed TXT from %s: %s %q, want %s %q", c.who, dns.RcodeToString[r.Rcode], got, dns.RcodeToString[c.rcode], want)
		}
	}
}

// TestIsolationAllowed: an address that an allow entry carves out of a listed prefix (5.188.10.1 out of
// DROP's 5.188.10.0/24, 192.0.2.1 out of the own 192.0.2.0/28) answers exactly as an address nothing
// lists does, to every client and for every type: the allow entries cannot be told from the answers.
func TestIsolationAllowed(t *testing.T) {
	s := startIsolation(t)
	for _, w := range []who{{"127.0.0.1", ""}, {"127.0.0.1", isoOther}, {"127.0.0.1", isoKey}} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeTXT, dns.TypeANY, dns.TypeAAAA} {
			for _, network := range []string{"udp", "tcp"} {
				clean := askFrom(t, s, network, w.src, w.key, "9.9.9.9.open.threatstop.local.", qtype)
				for _, allowed := range []string{"1.10.188.5.open.threatstop.local.", "1.2.0.192.open.threatstop.local."} {
					r := askFrom(t, s, network, w.src, w.key, allowed, qtype)
					if r.Rcode != dns.RcodeNameError || sameButName(r) != sameButName(clean) {
						t.Errorf("%s %s %s from %s:\n%s\nan unlisted address:\n%s", network, allowed, dns.TypeToString[qtype], w,
							sameButName(r), sameButName(clean))
					}
				}
			}
		}
	}
}

// sameButName is the answer without what differs between two questions: the ID, the query name and the
// MAC of a signed answer.
func sameButName(r *dns.Msg) string {
	c := r.Copy()
	c.Id = 0
	c.Question = nil
	for _, rr := range c.Extra {
		if ts, ok := rr.(*dns.TSIG); ok {
			ts.MAC, ts.OrigId, ts.TimeSigned = "", 0, 0
		}
	}
	return c.String()
}

// TestIsolationTransfers: one server block (tsig without require) serves the RPZ zones both signed and
// unsigned: a request signed with one of the policy's keys or a catalog key, or an unsigned one from its
// transfer_clients, gets the zone; an unsigned one from anywhere else, or one signed with another
// customer's valid key, is REFUSED.
func TestIsolationTransfers(t *testing.T) {
	s := startIsolation(t)
	for _, c := range []struct {
		policy string
		who    who
		ok     bool
	}{
		{"open", who{"127.0.0.1", isoKey}, true},
		{"open", who{"127.0.0.3", isoCatalog}, true},
		{"open", who{"127.0.0.2", ""}, true}, // transfer_clients
		{"open", who{"127.0.0.1", ""}, false},
		{"open", who{"127.0.0.3", ""}, false}, // closed's clients, not open's
		{"open", who{"127.0.0.1", isoOther}, false},
		{"open", who{"127.0.0.2", isoOther}, true}, // the address is enough, as in BIND's allow-transfer
		{"closed", who{"127.0.0.2", ""}, false},    // open's transfer_clients, not closed's
		{"closed", who{"127.0.0.3", ""}, false},    // clients may look up, not transfer
		{"closed", who{"127.0.0.1", isoKey}, true},
	} {
		for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
			what := dns.TypeToString[qtype] + " of " + c.policy + " from " + c.who.String()
			m := new(dns.Msg)
			if qtype == dns.TypeIXFR {
				m.SetIxfr(c.policy+".rpz.threatstop.local.", 1, "ns1.threatstop.local.", "hostmaster.threatstop.local.")
			} else {
				m.SetAxfr(c.policy + ".rpz.threatstop.local.")
			}
			rrs, err := transferFrom(s, c.who, m)
			switch {
			case c.ok && (err != nil || len(rrs) < 3):
				t.Errorf("%s: %v with %d records, want the zone", what, err, len(rrs))
			case !c.ok && (err == nil || len(rrs) != 0):
				t.Errorf("%s: %v with %d records, want REFUSED", what, err, len(rrs))
			}
		}
	}
}

// transferFrom runs the transfer m over TCP from w's address, signed with its key unless it has none, and
// returns the records; a refusal is an error.
func transferFrom(s *coretest.Server, w who, m *dns.Msg) ([]dns.RR, error) {
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(w.src)}}
	conn, err := d.Dial("tcp", s.TCP)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: conn}, ReadTimeout: 2 * time.Second}
	if w.key != "" {
		m.SetTsig(w.key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = isoSecrets
	}
	ch, err := tr.In(m, s.TCP)
	if err != nil {
		return nil, err
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			return rrs, env.Error
		}
		rrs = append(rrs, env.RR...)
	}
	return rrs, nil
}

// TestIsolationRequire: a policy's transfer_clients in a server block whose tsig refuses unsigned transfers
// of its zone (require) could never transfer: start-up fails, naming the line. A tsig that requires
// signatures only for other zones, or for other types, is fine.
func TestIsolationRequire(t *testing.T) {
	for _, c := range []struct {
		tsig, want string
	}{
		{"tsig {\n secret " + isoKey + " " + isoSecret + "\n require AXFR IXFR\n }",
			`Corefile:11 - Error during parsing: policy open: transfer_clients: the tsig plugin of this server block refuses an unsigned AXFR of open.rpz.threatstop.local.`},
		{"tsig {\n secret " + isoKey + " " + isoSecret + "\n require IXFR\n }", "refuses an unsigned IXFR of open.rpz.threatstop.local."},
		{"tsig {\n secret " + isoKey + " " + isoSecret + "\n require all\n }", "refuses an unsigned AXFR"},
		{"tsig other.example {\n secret " + isoKey + " " + isoSecret + "\n require AXFR IXFR\n }", ""},
		{"tsig {\n secret " + isoKey + " " + isoSecret + "\n require A TXT\n }", ""},
		{"tsig {\n secret " + isoKey + " " + isoSecret + "\n }", ""},
	} {
		s, err := coretest.StartErr("threatstop.local:0 {\n bind 127.0.0.1\n " + c.tsig + `
    threatstop {
        policy open {
            block evil.example
            keys ` + isoKey + `
            transfer_clients 127.0.0.2
        }
    }
}
`)
		if s != nil {
			s.Stop()
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v, want a start", c.tsig, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want an error with %q", c.tsig, err, c.want)
		}
	}
}

// TestIsolationConfigZone: the configuration zone holds every customer's definition, so only a catalog
// key transfers it: not a policy's key, not another customer's, not a policy's transfer_clients, not an
// unsigned request; its SOA answers anyone (as a zone's apex does), with no definition in it.
func TestIsolationConfigZone(t *testing.T) {
	s := startIsolation(t)
	for _, c := range []struct {
		who who
		ok  bool
	}{
		{who{"127.0.0.3", isoCatalog}, true},
		{who{"127.0.0.1", isoKey}, false},
		{who{"127.0.0.1", isoOther}, false},
		{who{"127.0.0.2", ""}, false}, // open's transfer_clients
		{who{"127.0.0.3", ""}, false}, // closed's clients
		{who{"127.0.0.1", ""}, false},
	} {
		for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
			what := dns.TypeToString[qtype] + " of the configuration zone from " + c.who.String()
			m := new(dns.Msg)
			if qtype == dns.TypeIXFR {
				m.SetIxfr("config.threatstop.local.", 1, "ns1.threatstop.local.", "hostmaster.threatstop.local.")
			} else {
				m.SetAxfr("config.threatstop.local.")
			}
			rrs, err := transferFrom(s, c.who, m)
			switch {
			case c.ok && (err != nil || len(rrs) < 5):
				t.Errorf("%s: %v with %d records, want the zone", what, err, len(rrs))
			case !c.ok && (err == nil || len(rrs) != 0):
				t.Errorf("%s: %v with %d records, want REFUSED", what, err, len(rrs))
			}
		}
	}
	for _, qtype := range []uint16{dns.TypeSOA, dns.TypeTXT, dns.TypeANY} {
		r := askFrom(t, s, "udp", "127.0.0.1", "", "config.threatstop.local.", qtype)
		for _, rr := range append(r.Answer, r.Ns...) {
			if _, ok := rr.(*dns.TXT); ok {
				t.Errorf("%s at the apex: %v", dns.TypeToString[qtype], rr)
			}
		}
	}
	r := askFrom(t, s, "udp", "127.0.0.1", "", "block.open.policies.config.threatstop.local.", dns.TypeTXT)
	if len(r.Answer) != 0 {
		t.Errorf("a name inside the zone: %v", r.Answer)
	}
}
