package threatstop_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// Isolation between customers: who may read what of a policy, over real DNS messages from several
// loopback addresses, unsigned and signed. Policy open has no clients (anyone may look up); policy closed
// is for 127.0.0.3 only. Both have the key p.key.; open's transfer_clients is 127.0.0.2.

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
