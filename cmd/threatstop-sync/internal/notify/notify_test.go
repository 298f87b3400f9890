package notify

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	zone   = "p.rpz.test."
	key    = "p.key."
	secret = "cC1rZXktb2YtY3VzdG9tZXItcC0zMi1ieXRlcy14eA=="
)

func send(t *testing.T, src, addr string, m *dns.Msg, secrets map[string]string) int {
	t.Helper()
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, TsigSecret: secrets,
		Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return r.Rcode
}

func notifyMsg(name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetNotify(name)
	return m
}

func TestListener(t *testing.T) {
	l, err := Listen("127.0.0.1:0", zone, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, key, secret, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr.String()
	// A refused NOTIFY is answered and never signals, so its check needs no wait; an accepted one
	// signals right after its answer, so the wait is only a deadline.
	signaled := func(expect bool) bool {
		if !expect {
			select {
			case <-l.C:
				return true
			default:
				return false
			}
		}
		select {
		case <-l.C:
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}
	query := new(dns.Msg)
	query.SetQuestion(zone, dns.TypeSOA)
	wrongKey := notifyMsg(zone)
	wrongKey.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
	for _, tc := range []struct {
		what    string
		src     string
		m       *dns.Msg
		secrets map[string]string
		rcode   int
		wakes   bool
	}{
		{"NOTIFY from the server", "127.0.0.1", notifyMsg(zone), nil, dns.RcodeSuccess, true},
		{"NOTIFY from the server, other case", "127.0.0.1", notifyMsg("P.RPZ.Test."), nil, dns.RcodeSuccess, true},
		{"NOTIFY from another address", "127.0.0.2", notifyMsg(zone), nil, dns.RcodeRefused, false},
		{"NOTIFY of another zone", "127.0.0.1", notifyMsg("q.rpz.test."), nil, dns.RcodeRefused, false},
		{"a query", "127.0.0.1", query, nil, dns.RcodeRefused, false},
		{"NOTIFY signed with the key", "127.0.0.1", func() *dns.Msg {
			m := notifyMsg(zone)
			m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
			return m
		}(), map[string]string{key: secret}, dns.RcodeSuccess, true},
	} {
		if rc := send(t, tc.src, addr, tc.m, tc.secrets); rc != tc.rcode {
			t.Errorf("%s: %s, want %s", tc.what, dns.RcodeToString[rc], dns.RcodeToString[tc.rcode])
		}
		if got := signaled(tc.wakes); got != tc.wakes {
			t.Errorf("%s: woke the loop %v, want %v", tc.what, got, tc.wakes)
		}
	}
	// Signed with a wrong secret: the client cannot verify the answer, and nothing wakes.
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, TsigSecret: map[string]string{key: "d3Jvbmctc2VjcmV0LW9mLTMyLWJ5dGVzLXp6enp6eno="}}
	if r, _, err := c.Exchange(wrongKey, addr); err == nil && r.Rcode == dns.RcodeSuccess {
		t.Error("a NOTIFY with a wrong signature was acknowledged")
	}
	if signaled(false) {
		t.Error("a NOTIFY with a wrong signature woke the loop")
	}
}
