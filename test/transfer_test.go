package test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The policies' RPZ zones by zone transfer, end to end. One process serves the zone threatstop.test. in two
// server blocks, on two ports, over the same feeds (plain files written by the test):
//
//   - KEYS (127.0.0.1 and 127.0.0.2): tsig with a.key. and b.key. and `require AXFR IXFR`; transfer to
//     every address (so that threatstop alone decides who may transfer) and NOTIFY to a listener of the
//     test; policy a (keys a.key.), policy b (keys b.key.) and policy bulk (keys a.key., a zone of several
//     messages). Prometheus.
//   - OPEN (127.0.0.1 and 127.0.0.2): the same keys and policies, b with transfer_clients 127.0.0.2/32,
//     tsig without require (with require, transfer_clients is a start-up error), transfer to every
//     address: keys and the unsigned transfers that transfer_clients allows, in one block.
//
// The subtests run in order; the last one changes a feed.

const (
	xfrKeyA          = "a.key."
	xfrKeyB          = "b.key."
	xfrKeyUnknown    = "c.key." // in no tsig block
	xfrSecretA       = "YS1rZXktb2YtY3VzdG9tZXItYS0zMi1ieXRlcy14eA=="
	xfrSecretB       = "Yi1rZXktb2YtY3VzdG9tZXItYi0zMi1ieXRlcy15eQ=="
	xfrSecretWrong   = "YS13cm9uZy1zZWNyZXQtb2YtMzItYnl0ZXMtenp6"
	xfrKeyCatalog    = "cat.key."
	xfrUnknownSerial = 1 // a serial the journal never held: an IXFR from it gets the whole zone
	xfrSecretCat     = "Y2F0YWxvZy1rZXktb2YtdGhlLW9wZXJhdG9yLXp6eg=="
	xfrApexA         = "a.rpz." + zone
	xfrApexB         = "b.rpz." + zone
	xfrNotifyQuiet   = 400 * time.Millisecond // how long after a's NOTIFY one for b would have come
)

// xfrSecrets are the keys the client signs with; the server knows a.key. and b.key.
var xfrSecrets = map[string]string{xfrKeyA: xfrSecretA, xfrKeyB: xfrSecretB, xfrKeyCatalog: xfrSecretCat}

// xfrFeeds are the feed files. Every address is a public one (threatfeed drops private and reserved ones).
var xfrFeeds = []struct{ name, format, category, data string }{
	{"v4", "plain", "spam", "# IPv4\n1.2.3.4\n44.55.0.0/16\n45.9.8.7\n"},
	{"v6", "plain", "spam", "2a06:e480::/32\n2a00:1450:4001::1\n"},
	{"names", "plain", "malware", "bad.example.com\nevil.example.net\n"},
	{"wild", "wildcard", "fraud", "*.fake.example.org\n"},
	{"botnet", "plain", "botnet", "5.6.7.0/24\nc2.example.com\n"},
	{"other", "plain", "spam", "81.2.69.0/24\n"},
	{"goodlist", "plain", "allowlist", "44.55.77.0/24\nok.fake.example.org\n"},
}

// xfrBulkN is the size of feed bulk, whose zone takes several messages to transfer.
const xfrBulkN = 4000

// xfrBulk is feed bulk, xfrBulkN addresses 60.A.B.1 (none adjacent, so that each stays an entry of its
// own), and the records of the zone of policy bulk.
func xfrBulk() (data string, want []string) {
	var b strings.Builder
	for i := range xfrBulkN {
		fmt.Fprintf(&b, "60.%d.%d.1\n", i/200, i%200)
		want = append(want, fmt.Sprintf("32.1.%d.%d.60.rpz-ip CNAME .", i%200, i/200))
	}
	return b.String(), want
}

// xfrPolicies are the policies of both server blocks. a: every feed but other and bulk, own entries, allow
// entries that carve exceptions (44.55.66.77 out of 44.55.0.0/16, good.fake.example.org out of
// *.fake.example.org), one that removes a listed entry (45.9.8.7) and one that covers nothing, an allow
// list that carves exceptions too; an action per category. b: other and names, default action. bulk: feed
// bulk, with a's key (a customer's second policy).
const xfrPolicies = `        policy a {
            lists v4 v6 names wild botnet
            allow_lists goodlist
            block 37.0.10.0/24 own.example.com *.ownwild.example.com
            allow 44.55.66.77 good.fake.example.org 45.9.8.7 nothere.example.com
            action malware redirect 192.0.2.80 2001:db8::80
            action fraud nodata
            action botnet drop
            keys a.key.
        }
        policy b {
            lists other names
            keys b.key.
` + xfrTransferClients + `        }
        policy bulk {
            lists bulk
            keys a.key.
        }
`

// xfrTransferClients is policy b's line in the OPEN block only.
const xfrTransferClients = "            transfer_clients 127.0.0.2/32\n"

// xfrWantA is the zone of policy a without its SOA and NS records, as "OWNER TYPE DATA" with the owner
// relative to the apex. Nothing else: not 45.9.8.7, listed and allowed exactly (the block entry is left out
// and the allow entry carves nothing out), not nothere.example.com (an allow entry that covers nothing), not
// the RFC 5782 test points (DNSBL answers only; the in-line firewall does not block them either).
var xfrWantA = []string{
	// v4 (spam: nxdomain) and the allow carve-out out of 44.55.0.0/16
	"32.4.3.2.1.rpz-ip CNAME .",
	"16.0.0.55.44.rpz-ip CNAME .",
	"32.77.66.55.44.rpz-ip CNAME rpz-passthru.",
	"24.0.77.55.44.rpz-ip CNAME rpz-passthru.", // allow list goodlist
	// v6 (spam)
	"32.zz.e480.2a06.rpz-ip CNAME .",
	"128.1.zz.4001.1450.2a00.rpz-ip CNAME .",
	// names (malware: redirect)
	"bad.example.com A 192.0.2.80",
	"bad.example.com AAAA 2001:db8::80",
	"evil.example.net A 192.0.2.80",
	"evil.example.net AAAA 2001:db8::80",
	// wild (fraud: nodata): the name and its subdomains, and the allow carve-out
	"fake.example.org CNAME *.",
	"*.fake.example.org CNAME *.",
	"good.fake.example.org CNAME rpz-passthru.",
	"ok.fake.example.org CNAME rpz-passthru.", // allow list goodlist
	// The allow entries are exact: the subdomains of good. and ok.fake.example.org stay listed. A resolver
	// that follows DNS wildcard rules (BIND, RFC 4592) stops at the closest name the zone holds, so the
	// wildcard's decision is repeated under each exact name.
	"*.good.fake.example.org CNAME *.",
	"*.ok.fake.example.org CNAME *.",
	// botnet: drop
	"24.0.7.6.5.rpz-ip CNAME rpz-drop.",
	"c2.example.com CNAME rpz-drop.",
	// own block entries (custom: nxdomain)
	"24.0.10.0.37.rpz-ip CNAME .",
	"own.example.com CNAME .",
	"ownwild.example.com CNAME .",
	"*.ownwild.example.com CNAME .",
}

// xfrWantB is the zone of policy b, as xfrWantA.
var xfrWantB = []string{
	"24.0.69.2.81.rpz-ip CNAME .",
	"bad.example.com CNAME .",
	"evil.example.net CNAME .",
}

// xfrAdded is the entry that the Notify subtest adds to feed v4, and its record in a's zone.
const (
	xfrAdded       = "46.10.0.0/16"
	xfrAddedRecord = "16.0.0.10.46.rpz-ip CNAME ."
)

// xfrEnv is the notify listener and the process.
type xfrEnv struct {
	dir    string
	s      *Server // s.Addr is the KEYS block
	open   string  // the OPEN block, 127.0.0.1:port
	openP  int     // its port
	notify *notifyRecorder
}

// startTransfer writes the feeds, starts the NOTIFY listener and then the process.
func startTransfer(t *testing.T) *xfrEnv {
	t.Helper()
	e := &xfrEnv{dir: t.TempDir()}
	var feeds strings.Builder
	bulk, _ := xfrBulk()
	for _, f := range append(slices.Clone(xfrFeeds), struct{ name, format, category, data string }{"bulk", "plain", "scan", bulk}) {
		path := filepath.Join(e.dir, f.name+".txt")
		writeFile(t, path, f.data)
		fmt.Fprintf(&feeds, "        feed %s {\n            file %s\n            format %s\n            category %s\n        }\n",
			f.name, path, f.format, f.category)
	}
	e.notify = startNotifyRecorder(t)
	e.s = startCorefile(t, e.dir, "Corefile", func() (string, int, int, int) {
		keys, open := freePort(t, true), freePort(t, true)
		ready, metrics := freePort(t, false), freePort(t, false)
		e.open, e.openP = net.JoinHostPort("127.0.0.1", strconv.Itoa(open)), open
		text := fmt.Sprintf(`# KEYS: transfers need a key; tsig refuses unsigned ones before threatstop sees them.
threatstop.test:%[1]d {
    bind 127.0.0.1 127.0.0.2
    ready 127.0.0.1:%[3]d
    prometheus 127.0.0.1:%[4]d
    tsig {
        secret a.key. %[6]s
        secret b.key. %[7]s
        secret cat.key. %[10]s
        require AXFR IXFR
    }
    transfer {
        to * 127.0.0.1:%[5]d
    }
    threatfeed {
        refresh 1s
%[8]s    }
    threatstop {
        catalog_keys cat.key.
%[9]s    }
}

# OPEN: tsig without require, so transfer_clients can let unsigned transfers through.
threatstop.test:%[2]d {
    bind 127.0.0.1 127.0.0.2
    tsig {
        secret a.key. %[6]s
        secret b.key. %[7]s
    }
    transfer {
        to *
    }
    threatstop {
%[11]s    }
}
`, keys, open, ready, metrics, e.notify.port, xfrSecretA, xfrSecretB, feeds.String(),
			strings.Replace(xfrPolicies, xfrTransferClients, "", 1), xfrSecretCat, xfrPolicies)
		return text, keys, ready, metrics
	})
	e.notify.server.Store(&e.s.Addr)
	return e
}

// refused is the value of the refused-transfers counter of policy (0 before the first refusal).
func (e *xfrEnv) refused(t testing.TB, policy string) float64 {
	t.Helper()
	v, _ := e.s.Metric(fmt.Sprintf(`coredns_threatstop_transfers_refused_total{policy=%q}`, policy))
	return v
}

// wantRefusedDelta checks that the refused counter of policy moved by want since before.
func (e *xfrEnv) wantRefusedDelta(t testing.TB, what, policy string, before, want float64) {
	t.Helper()
	if got := e.refused(t, policy) - before; got != want {
		t.Errorf("%s: transfers_refused_total{policy=%q} moved by %v, want %v", what, policy, got, want)
	}
}

// ---- NOTIFY listener ----

// notifyRecorder is a secondary's NOTIFY listener on 127.0.0.1 (UDP): it acknowledges every NOTIFY and
// then, as a secondary does, asks the primary for the zone's SOA.
type notifyRecorder struct {
	port   int
	srv    *dns.Server
	server atomic.Pointer[string] // the primary to ask the SOA from; nil until it answers
	mu     sync.Mutex
	got    []notifyGot
}

// notifyGot is one NOTIFY received.
type notifyGot struct {
	msg    *dns.Msg
	from   string
	serial uint32 // the zone's SOA serial asked back right after the NOTIFY; 0 with err or before start
	err    error
}

func startNotifyRecorder(t *testing.T) *notifyRecorder {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("NOTIFY listener: %v", err)
	}
	n := &notifyRecorder{port: pc.LocalAddr().(*net.UDPAddr).Port}
	started := make(chan struct{})
	n.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(n.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = n.srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(startTimeout):
		t.Fatal("NOTIFY listener did not start")
	}
	t.Cleanup(func() { _ = n.srv.Shutdown() })
	return n
}

func (n *notifyRecorder) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	if r.Opcode != dns.OpcodeNotify {
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	_ = w.WriteMsg(m)
	g := notifyGot{msg: r, from: w.RemoteAddr().String()}
	if addr := n.server.Load(); addr != nil && len(r.Question) == 1 {
		q := new(dns.Msg)
		q.SetQuestion(r.Question[0].Name, dns.TypeSOA)
		a, _, err := (&dns.Client{Net: "udp", Timeout: queryTimeout}).Exchange(q, *addr)
		switch {
		case err != nil:
			g.err = err
		case a.Rcode != dns.RcodeSuccess || len(a.Answer) != 1:
			g.err = fmt.Errorf("SOA of %s: %s %v", r.Question[0].Name, rcode(a), a.Answer)
		default:
			if soa, ok := a.Answer[0].(*dns.SOA); ok {
				g.serial = soa.Serial
			} else {
				g.err = fmt.Errorf("SOA of %s: %v", r.Question[0].Name, a.Answer[0])
			}
		}
	}
	n.mu.Lock()
	n.got = append(n.got, g)
	n.mu.Unlock()
}

// reset forgets every NOTIFY received so far.
func (n *notifyRecorder) reset() {
	n.mu.Lock()
	n.got = nil
	n.mu.Unlock()
}

// forZone returns the NOTIFYs received for zone since the last reset.
func (n *notifyRecorder) forZone(zone string) []notifyGot {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notifyGot
	for _, g := range n.got {
		if len(g.msg.Question) > 0 && strings.EqualFold(g.msg.Question[0].Name, zone) {
			out = append(out, g)
		}
	}
	return out
}

// ---- transfers ----

// xfrMsg is an AXFR, or an IXFR from serial, for zone.
func xfrMsg(zone string, qtype uint16, serial uint32) *dns.Msg {
	m := new(dns.Msg)
	if qtype == dns.TypeIXFR {
		m.SetIxfr(zone, serial, soaNS, soaMbox)
	} else {
		m.SetAxfr(zone)
	}
	return m
}

// signed adds a TSIG record for key to m, signed at the time at (zero: now) when the message is sent.
func signed(m *dns.Msg, key string, at time.Time) *dns.Msg {
	var ts int64
	if !at.IsZero() {
		ts = at.Unix()
	}
	m.SetTsig(key, dns.HmacSHA256, 300, ts)
	return m
}

// xfrIn runs the transfer m over TCP from src ("" for any) to addr with dns.Transfer and returns the records
// of every answer message, and how many messages came. With secrets, every response message must carry a
// TSIG that verifies.
func xfrIn(addr, src string, m *dns.Msg, secrets map[string]string) ([]dns.RR, int, error) {
	d := net.Dialer{Timeout: queryTimeout}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	tr := &dns.Transfer{Conn: &dns.Conn{Conn: c}, TsigSecret: secrets, ReadTimeout: queryTimeout}
	ch, err := tr.In(m, addr)
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	var rrs []dns.RR
	var errs error
	n := 0
	for env := range ch {
		if env.Error != nil {
			errs = errors.Join(errs, env.Error)
			continue
		}
		rrs = append(rrs, env.RR...)
		n++
	}
	return rrs, n, errs
}

// mustXfr runs a transfer that must succeed and returns its records.
func (e *xfrEnv) mustXfr(t testing.TB, what, addr, src string, m *dns.Msg, secrets map[string]string) []dns.RR {
	t.Helper()
	rrs, _, err := xfrIn(addr, src, m, secrets)
	if err != nil {
		if e.s.exited() {
			t.Fatalf("%s: %v; threatstop has exited\n--- output ---\n%s", what, err, e.s.Output())
		}
		t.Fatalf("%s: %v (records so far: %v)", what, err, rrs)
	}
	return rrs
}

// xfrAnswer sends m (a transfer that must not happen, or an IXFR answered in one message) over network from
// src to addr and returns the single answer message; err is the TSIG verification error, if any.
func (e *xfrEnv) xfrAnswer(t testing.TB, what, network, src, addr string, m *dns.Msg, secrets map[string]string) (*dns.Msg, error) {
	t.Helper()
	r, err := exchangeFrom(network, src, addr, m, queryTimeout, secrets)
	if r == nil {
		e.s.failQuery(t, what, err)
	}
	return r, err
}

// tsigOf returns the TSIG record of a response, or nil.
func tsigOf(r *dns.Msg) *dns.TSIG {
	if len(r.Extra) == 0 {
		return nil
	}
	ts, _ := r.Extra[len(r.Extra)-1].(*dns.TSIG)
	return ts
}

// wantRefusal checks the answer r to a transfer that must not happen: rcode rc, no records, and, with
// tsigErr >= 0, a TSIG record with that error (-1: an unsigned answer). A signed REFUSED (tsigErr 0) must
// verify with the client's key (verifyErr nil).
func wantRefusal(t testing.TB, what string, r *dns.Msg, verifyErr error, rc, tsigErr int) {
	t.Helper()
	if r.Rcode != rc || len(r.Answer) != 0 {
		t.Errorf("%s: %s with %d records, want %s and none\n%v", what, rcode(r), len(r.Answer), dns.RcodeToString[rc], r)
	}
	ts := tsigOf(r)
	switch {
	case tsigErr < 0 && ts != nil:
		t.Errorf("%s: TSIG %v in the answer to an unsigned request", what, ts)
	case tsigErr >= 0 && ts == nil:
		t.Errorf("%s: no TSIG in the answer, want TSIG error %s", what, dns.RcodeToString[tsigErr])
	case tsigErr >= 0 && int(ts.Error) != tsigErr:
		t.Errorf("%s: TSIG error %s, want %s", what, dns.RcodeToString[int(ts.Error)], dns.RcodeToString[tsigErr])
	case tsigErr == dns.RcodeSuccess && verifyErr != nil:
		t.Errorf("%s: the signed answer does not verify: %v", what, verifyErr)
	}
}

// zoneOf checks the shape of a full transfer of apex: SOA first and last (the same record, and no other
// SOA), the NS records of the apex, every owner inside the zone and of class IN. It returns the SOA, the
// NS records and the other records as "OWNER TYPE DATA" (owner relative to apex), sorted.
func zoneOf(t testing.TB, what string, rrs []dns.RR, apex string) (*dns.SOA, []string, []string) {
	t.Helper()
	if len(rrs) < 3 {
		t.Fatalf("%s: %d records, want at least SOA, NS, SOA: %v", what, len(rrs), rrs)
	}
	first, ok1 := rrs[0].(*dns.SOA)
	last, ok2 := rrs[len(rrs)-1].(*dns.SOA)
	if !ok1 || !ok2 {
		t.Fatalf("%s: first %v and last %v, want SOA records", what, rrs[0], rrs[len(rrs)-1])
	}
	if !strings.EqualFold(first.Hdr.Name, apex) || !slices.Equal(rrSet([]dns.RR{first}), rrSet([]dns.RR{last})) {
		t.Errorf("%s: first SOA %v, last SOA %v, want the same SOA of %s", what, first, last, apex)
	}
	var ns, body []string
	for _, rr := range rrs[1 : len(rrs)-1] {
		h := rr.Header()
		owner := strings.ToLower(h.Name)
		if h.Class != dns.ClassINET {
			t.Errorf("%s: %v: class %s, want IN", what, rr, dns.ClassToString[h.Class])
		}
		if owner != apex && !strings.HasSuffix(owner, "."+apex) {
			t.Errorf("%s: %v: owner outside %s", what, rr, apex)
			continue
		}
		f := strings.Fields(rr.String()) // owner TTL class type rdata...
		switch {
		case h.Rrtype == dns.TypeSOA:
			t.Errorf("%s: SOA %v inside the transfer", what, rr)
		case owner == apex && h.Rrtype == dns.TypeNS:
			ns = append(ns, f[len(f)-1])
		case owner == apex:
			t.Errorf("%s: %v at the apex, want only SOA and NS there", what, rr)
		default:
			rel := strings.TrimSuffix(owner, "."+apex)
			body = append(body, strings.Join(append([]string{rel, f[3]}, f[4:]...), " "))
		}
	}
	slices.Sort(ns)
	slices.Sort(body)
	return first, ns, body
}

// wantRecords compares the records of a zone with want: every wanted record exactly once, nothing else.
func wantRecords(t testing.TB, what string, got, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("%s: records differ from the policy\nmissing: %q\nunexpected: %q\nall: %q", what, missing, extra, got)
	}
}

// apexSOA is the SOA that a query at apex answers (over UDP, unsigned).
func apexSOA(t testing.TB, s *Server, addr, apex string) *dns.SOA {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(apex, dns.TypeSOA)
	r, err := exchangeFrom("udp", "", addr, m, queryTimeout, nil)
	if err != nil {
		s.failQuery(t, apex+" SOA", err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		t.Fatalf("%s SOA: %s aa=%v %v, want one authoritative SOA", apex, rcode(r), r.Authoritative, r.Answer)
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok || !strings.EqualFold(soa.Hdr.Name, apex) {
		t.Fatalf("%s SOA: answer %v", apex, r.Answer[0])
	}
	return soa
}

// dnsblSerial is the SOA serial in the NXDOMAIN answer of policy's DNSBL zone for a name it does not list
// (the RFC 5782 test point 127.0.0.1).
func dnsblSerial(t testing.TB, s *Server, policy string) uint32 {
	t.Helper()
	name := v4(t, "127.0.0.1", policy)
	r := s.Query(t, name, dns.TypeA)
	soa := authSOA(r)
	if r.Rcode != dns.RcodeNameError || soa == nil || soa.Hdr.Name != apexOf(policy) {
		t.Fatalf("%s: %s %v, want NXDOMAIN with the SOA of %s", name, rcode(r), r.Ns, apexOf(policy))
	}
	return soa.Serial
}

// ---- dig and kdig ----

// kdigPath returns the kdig executable; a missing kdig is a failure, not a skip: CI must install it.
func kdigPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kdig")
	if err != nil {
		t.Fatalf("kdig not found in PATH (%v): install knot-dnsutils (apt-get install knot-dnsutils) to run the end-to-end tests", err)
	}
	return p
}

// xfrTool runs dig or kdig against 127.0.0.1:port with one try and returns its output and exit status
// (both tools print a refused transfer and exit 0 or 1; the caller judges).
func xfrTool(t testing.TB, tool string, port int, args ...string) (string, int) {
	t.Helper()
	var path string
	full := []string{"-p", strconv.Itoa(port), "@127.0.0.1", "+time=2"}
	if tool == "kdig" {
		path = kdigPath(t)
		full = append(full, "+retry=0")
	} else {
		path = digPath(t)
		full = append(full, "+tries=1")
	}
	full = append(full, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, full...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee) && ctx.Err() == nil:
		return string(out), ee.ExitCode()
	}
	t.Fatalf("%s %s: %v\n%s", tool, strings.Join(full, " "), err, out)
	return "", 0
}

// toolRecords parses what dig or kdig printed: the resource records, and the TSIG error field of every
// TSIG record (dns.NewRR does not read TSIG).
func toolRecords(t testing.TB, out string) ([]dns.RR, []string) {
	t.Helper()
	var rrs []dns.RR
	var tsigErrs []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		if f := strings.Fields(line); len(f) > 4 && f[3] == "TSIG" {
			tsigErrs = append(tsigErrs, f[len(f)-2]) // ... ORIGID ERROR OTHERLEN
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("a line of the output is not a record: %q: %v\n%s", line, err, out)
		}
		if rr != nil {
			rrs = append(rrs, rr)
		}
	}
	return rrs, tsigErrs
}

// toolZone checks a successful transfer printed by dig or kdig: exit 0, no error, and, when signed, every
// message signed (TSIG NOERROR); it returns the records.
func toolZone(t testing.TB, what, out string, code int, signed bool) []dns.RR {
	t.Helper()
	if code != 0 || strings.Contains(out, ";; ERROR") || strings.Contains(out, "failed") || strings.Contains(out, "Couldn't verify") {
		t.Fatalf("%s: exit %d\n%s", what, code, out)
	}
	rrs, tsigErrs := toolRecords(t, out)
	switch {
	case !signed && len(tsigErrs) != 0:
		t.Errorf("%s: TSIG %q in the answer to an unsigned request\n%s", what, tsigErrs, out)
	case signed && (len(tsigErrs) == 0 || slices.ContainsFunc(tsigErrs, func(s string) bool { return s != "NOERROR" })):
		t.Errorf("%s: TSIG errors %q, want every message signed with NOERROR\n%s", what, tsigErrs, out)
	}
	return rrs
}

// toolRefused checks a transfer that dig or kdig reports as failed with rcode (kdig names it; dig only
// says "Transfer failed") and, for a signed request, the TSIG error field tsigErr of the answer ("" for an
// unsigned answer).
func toolRefused(t testing.TB, what, tool, out string, code int, rc, tsigErr string) {
	t.Helper()
	rrs, tsigErrs := toolRecords(t, out)
	if len(rrs) != 0 {
		t.Errorf("%s: records %v in a refused transfer\n%s", what, rrs, out)
	}
	if tool == "kdig" {
		if code == 0 || !strings.Contains(out, "server replied with error '"+rc+"'") {
			t.Errorf("%s: exit %d, want kdig to report %s\n%s", what, code, rc, out)
		}
	} else if !strings.Contains(out, "; Transfer failed.") {
		t.Errorf("%s: dig did not report a failed transfer\n%s", what, out)
	}
	if tool == "dig" && tsigErr != "" && !slices.Equal(tsigErrs, []string{tsigErr}) {
		t.Errorf("%s: TSIG errors %q, want %q\n%s", what, tsigErrs, tsigErr, out)
	}
	if tsigErr == "" && len(tsigErrs) != 0 {
		t.Errorf("%s: TSIG %q in the answer to an unsigned request\n%s", what, tsigErrs, out)
	}
}

// yArg is the -y option of dig and kdig (both read it joined to its value) for an HMAC-SHA256 key.
func yArg(key, secret string) string { return "-yhmac-sha256:" + key + ":" + secret }

// ---- the tests ----

// TestTransfer runs every transfer check against one process, in order: the metric checks count
// refusals, and the last subtest changes a feed.
func TestTransfer(t *testing.T) {
	t.Parallel()
	digPath(t)
	kdigPath(t)
	e := startTransfer(t)

	t.Run("AXFR", func(t *testing.T) { testTransferAXFR(t, e) })
	t.Run("Tools", func(t *testing.T) { testTransferTools(t, e) })
	t.Run("Refused", func(t *testing.T) { testTransferRefused(t, e) })
	t.Run("ToolsRefused", func(t *testing.T) { testTransferToolsRefused(t, e) })
	t.Run("TransferClients", func(t *testing.T) { testTransferClients(t, e) })
	t.Run("IXFR", func(t *testing.T) { testTransferIXFR(t, e) })
	t.Run("LargeZone", func(t *testing.T) { testTransferLargeZone(t, e) })
	t.Run("Apex", func(t *testing.T) { testTransferApex(t, e) })
	t.Run("Catalog", func(t *testing.T) { testTransferCatalog(t, e) })
	t.Run("Notify", func(t *testing.T) { testTransferNotify(t, e) })
}

// testTransferAXFR: AXFR of each policy's zone signed with its key (dns.Transfer, which verifies the TSIG
// of every message): SOA with the policy's serial first and last, the NS, one record per entry.
func testTransferAXFR(t *testing.T, e *xfrEnv) {
	for _, c := range []struct {
		policy, apex, key string
		want              []string
	}{
		{"a", xfrApexA, xfrKeyA, xfrWantA},
		{"b", xfrApexB, xfrKeyB, xfrWantB},
	} {
		what := "AXFR " + c.apex + " signed with " + c.key
		rrs := e.mustXfr(t, what, e.s.Addr, "", signed(xfrMsg(c.apex, dns.TypeAXFR, 0), c.key, time.Time{}), xfrSecrets)
		soa, ns, body := zoneOf(t, what, rrs, c.apex)

		apex := apexSOA(t, e.s, e.s.Addr, c.apex)
		if !slices.Equal(rrSet([]dns.RR{soa}), rrSet([]dns.RR{apex})) {
			t.Errorf("%s: SOA %v, the apex answers %v", what, soa, apex)
		}
		if want := dnsblSerial(t, e.s, c.policy); soa.Serial != want {
			t.Errorf("%s: serial %d, the policy's DNSBL answers have %d", what, soa.Serial, want)
		}
		if soa.Ns != soaNS || soa.Mbox != soaMbox {
			t.Errorf("%s: SOA %v, want MNAME %s and RNAME %s", what, soa, soaNS, soaMbox)
		}
		if !slices.Equal(ns, []string{soaNS}) {
			t.Errorf("%s: NS %q, want %s", what, ns, soaNS)
		}
		wantRecords(t, what, body, c.want)
	}

	// Letter case does not matter; the zone is the same.
	upper := strings.ToUpper(xfrApexA)
	rrs := e.mustXfr(t, "AXFR "+upper, e.s.Addr, "", signed(xfrMsg(upper, dns.TypeAXFR, 0), xfrKeyA, time.Time{}), xfrSecrets)
	_, _, body := zoneOf(t, "AXFR "+upper, rrs, xfrApexA)
	wantRecords(t, "AXFR "+upper, body, xfrWantA)
}

// testTransferTools: the same AXFR, and IXFR, with kdig and dig -y.
func testTransferTools(t *testing.T, e *xfrEnv) {
	serial := apexSOA(t, e.s, e.s.Addr, xfrApexA).Serial
	for _, tool := range []string{"kdig", "dig"} {
		what := tool + " AXFR " + xfrApexA
		out, code := xfrTool(t, tool, e.s.Port, yArg(xfrKeyA, xfrSecretA), xfrApexA, "AXFR")
		soa, ns, body := zoneOf(t, what, toolZone(t, what, out, code, true), xfrApexA)
		if soa.Serial != serial || !slices.Equal(ns, []string{soaNS}) {
			t.Errorf("%s: serial %d NS %q, want %d and %s", what, soa.Serial, ns, serial, soaNS)
		}
		wantRecords(t, what, body, xfrWantA)

		what = fmt.Sprintf("%s IXFR=%d %s", tool, xfrUnknownSerial, xfrApexA)
		out, code = xfrTool(t, tool, e.s.Port, "+tcp", yArg(xfrKeyA, xfrSecretA), xfrApexA, fmt.Sprintf("IXFR=%d", xfrUnknownSerial))
		soa, _, body = zoneOf(t, what, toolZone(t, what, out, code, true), xfrApexA)
		if soa.Serial != serial {
			t.Errorf("%s: serial %d, want %d", what, soa.Serial, serial)
		}
		wantRecords(t, what, body, xfrWantA)

		what = fmt.Sprintf("%s IXFR=%d %s", tool, serial, xfrApexA)
		out, code = xfrTool(t, tool, e.s.Port, "+tcp", yArg(xfrKeyA, xfrSecretA), xfrApexA, fmt.Sprintf("IXFR=%d", serial))
		rrs := toolZone(t, what, out, code, true)
		if len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[0].(*dns.SOA).Serial != serial {
			t.Errorf("%s: %v, want the single SOA with serial %d", what, rrs, serial)
		}
	}
}

// testTransferRefused: every transfer that the KEYS block must not give, with dns.Client over TCP, and
// the refused counter of the policy.
func testTransferRefused(t *testing.T, e *xfrEnv) {
	addr := e.s.Addr
	ask := func(what, network string, m *dns.Msg, secrets map[string]string) (*dns.Msg, error) {
		t.Helper()
		return e.xfrAnswer(t, what, network, "", addr, m, secrets)
	}

	// No key: tsig's require refuses it, unsigned.
	for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		what := "unsigned " + dns.TypeToString[qt]
		r, err := ask(what, "tcp", xfrMsg(xfrApexA, qt, 1), nil)
		wantRefusal(t, what, r, err, dns.RcodeRefused, -1)
	}

	// A valid key of another customer: REFUSED by threatstop, signed (the key was good), and counted.
	for _, c := range []struct {
		apex, policy, key string
		qtype             uint16
	}{
		{xfrApexA, "a", xfrKeyB, dns.TypeAXFR},
		{xfrApexA, "a", xfrKeyB, dns.TypeIXFR},
		{xfrApexB, "b", xfrKeyA, dns.TypeAXFR},
	} {
		what := fmt.Sprintf("%s %s signed with %s", dns.TypeToString[c.qtype], c.apex, c.key)
		before := e.refused(t, c.policy)
		r, err := ask(what, "tcp", signed(xfrMsg(c.apex, c.qtype, 1), c.key, time.Time{}), xfrSecrets)
		wantRefusal(t, what, r, err, dns.RcodeRefused, dns.RcodeSuccess)
		e.wantRefusedDelta(t, what, c.policy, before, 1)
	}

	// A bad secret for a known key: NOTAUTH with BADSIG; an unknown key: NOTAUTH with BADKEY (both
	// unsigned, RFC 8945 §5.3.2, so the client cannot verify them).
	what := "AXFR signed with a.key. and a wrong secret"
	r, _ := ask(what, "tcp", signed(xfrMsg(xfrApexA, dns.TypeAXFR, 0), xfrKeyA, time.Time{}), map[string]string{xfrKeyA: xfrSecretWrong})
	wantRefusal(t, what, r, nil, dns.RcodeNotAuth, dns.RcodeBadSig)
	what = "AXFR signed with the unknown key c.key."
	r, _ = ask(what, "tcp", signed(xfrMsg(xfrApexA, dns.TypeAXFR, 0), xfrKeyUnknown, time.Time{}), map[string]string{xfrKeyUnknown: xfrSecretWrong})
	wantRefusal(t, what, r, nil, dns.RcodeNotAuth, dns.RcodeBadKey)

	// A skewed clock: signed an hour off (fudge 300 s), with the right key: NOTAUTH with BADTIME, signed,
	// with the server's time in Other Data (RFC 8945 §5.2.3). dns.Client does not verify a NOTAUTH answer.
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		what := fmt.Sprintf("AXFR signed with a.key. at now%+v", skew)
		r, _ := ask(what, "tcp", signed(xfrMsg(xfrApexA, dns.TypeAXFR, 0), xfrKeyA, time.Now().Add(skew)), xfrSecrets)
		wantRefusal(t, what, r, nil, dns.RcodeNotAuth, dns.RcodeBadTime)
		if ts := tsigOf(r); ts != nil && (ts.OtherLen != 6 || ts.MACSize == 0) {
			t.Errorf("%s: TSIG %v, want a MAC and the server's time in Other Data", what, ts)
		}
	}

	// Over UDP: the transfer plugin refuses (signed, as the key was good); unsigned, tsig refuses.
	what = "AXFR over UDP signed with a.key."
	r, err := ask(what, "udp", signed(xfrMsg(xfrApexA, dns.TypeAXFR, 0), xfrKeyA, time.Time{}), xfrSecrets)
	wantRefusal(t, what, r, err, dns.RcodeRefused, dns.RcodeSuccess)
	what = "unsigned AXFR over UDP"
	r, err = ask(what, "udp", xfrMsg(xfrApexA, dns.TypeAXFR, 0), nil)
	wantRefusal(t, what, r, err, dns.RcodeRefused, -1)

	// 127.0.0.2, b's transfer_clients in the OPEN block, is refused unsigned in this one.
	what = "unsigned AXFR of b from 127.0.0.2 in the KEYS block"
	r, err = e.xfrAnswer(t, what, "tcp", "127.0.0.2", addr, xfrMsg(xfrApexB, dns.TypeAXFR, 0), nil)
	wantRefusal(t, what, r, err, dns.RcodeRefused, -1)

	// Every refusal left the process up, and the right key still works.
	rrs := e.mustXfr(t, "AXFR after the refusals", addr, "", signed(xfrMsg(xfrApexA, dns.TypeAXFR, 0), xfrKeyA, time.Time{}), xfrSecrets)
	_, _, body := zoneOf(t, "AXFR after the refusals", rrs, xfrApexA)
	wantRecords(t, "AXFR after the refusals", body, xfrWantA)
}

// testTransferToolsRefused: missing key, another customer's key, a wrong secret and an unknown key, with
// kdig and dig, AXFR and IXFR.
func testTransferToolsRefused(t *testing.T, e *xfrEnv) {
	serial := apexSOA(t, e.s, e.s.Addr, xfrApexA).Serial
	for _, tool := range []string{"kdig", "dig"} {
		for _, qtype := range []string{"AXFR", fmt.Sprintf("IXFR=%d", serial-1)} {
			for _, c := range []struct {
				name, y, rcode, tsigErr string
				counted                 bool
			}{
				{"no key", "", "REFUSED", "", false},
				{"b.key.", yArg(xfrKeyB, xfrSecretB), "REFUSED", "NOERROR", true},
				{"a.key. with a wrong secret", yArg(xfrKeyA, xfrSecretWrong), "BADSIG", "BADSIG", false},
				{"unknown c.key.", yArg(xfrKeyUnknown, xfrSecretWrong), "BADKEY", "BADKEY", false},
			} {
				what := fmt.Sprintf("%s %s %s, %s", tool, qtype, xfrApexA, c.name)
				args := []string{"+tcp", xfrApexA, qtype}
				if c.y != "" {
					args = append([]string{c.y}, args...)
				}
				before := e.refused(t, "a")
				out, code := xfrTool(t, tool, e.s.Port, args...)
				toolRefused(t, what, tool, out, code, c.rcode, c.tsigErr)
				if c.counted {
					e.wantRefusedDelta(t, what, "a", before, 1)
				}
			}
		}
	}
}

// testTransferClients: in the OPEN block (tsig without require), b's transfer_clients may transfer b's zone
// unsigned, other addresses may not; keys still work there.
func testTransferClients(t *testing.T, e *xfrEnv) {
	serial := apexSOA(t, e.s, e.open, xfrApexB).Serial

	for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		what := "unsigned " + dns.TypeToString[qt] + " of b from 127.0.0.2"
		rrs := e.mustXfr(t, what, e.open, "127.0.0.2", xfrMsg(xfrApexB, qt, xfrUnknownSerial), nil)
		soa, ns, body := zoneOf(t, what, rrs, xfrApexB)
		if soa.Serial != serial || !slices.Equal(ns, []string{soaNS}) {
			t.Errorf("%s: serial %d NS %q, want %d and %s", what, soa.Serial, ns, serial, soaNS)
		}
		wantRecords(t, what, body, xfrWantB)
	}
	what := "unsigned IXFR of b from 127.0.0.2 with the current serial"
	r, err := e.xfrAnswer(t, what, "tcp", "127.0.0.2", e.open, xfrMsg(xfrApexB, dns.TypeIXFR, serial), nil)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != serial {
		t.Errorf("%s: %v %v, want NOERROR with the single SOA %d", what, err, r, serial)
	}

	what = "dig -b 127.0.0.2 AXFR of b, unsigned"
	out, code := xfrTool(t, "dig", e.openP, "-b", "127.0.0.2", xfrApexB, "AXFR")
	_, _, body := zoneOf(t, what, toolZone(t, what, out, code, false), xfrApexB)
	wantRecords(t, what, body, xfrWantB)

	// Not from b's transfer_clients, or not b's: REFUSED by threatstop, and counted.
	for _, c := range []struct {
		what, src, apex, policy, key string
	}{
		{"unsigned AXFR of b from 127.0.0.1", "127.0.0.1", xfrApexB, "b", ""},
		{"unsigned AXFR of a from 127.0.0.2 (b's transfer_clients)", "127.0.0.2", xfrApexA, "a", ""},
		{"AXFR of b from 127.0.0.1 signed with a.key.", "127.0.0.1", xfrApexB, "b", xfrKeyA},
	} {
		m, tsigErr := xfrMsg(c.apex, dns.TypeAXFR, 0), -1
		if c.key != "" {
			m, tsigErr = signed(m, c.key, time.Time{}), dns.RcodeSuccess
		}
		before := e.refused(t, c.policy)
		r, err := e.xfrAnswer(t, c.what, "tcp", c.src, e.open, m, xfrSecrets)
		wantRefusal(t, c.what, r, err, dns.RcodeRefused, tsigErr)
		e.wantRefusedDelta(t, c.what, c.policy, before, 1)
	}
	what = "kdig -b 127.0.0.1 AXFR of b, unsigned"
	out, code = xfrTool(t, "kdig", e.openP, "-b", "127.0.0.1", xfrApexB, "AXFR")
	toolRefused(t, what, "kdig", out, code, "REFUSED", "")

	// Keys work in this block too, from any address.
	for _, c := range []struct{ src, apex, key string }{{"127.0.0.1", xfrApexB, xfrKeyB}, {"127.0.0.2", xfrApexA, xfrKeyA}} {
		what := fmt.Sprintf("AXFR of %s from %s signed with %s in the OPEN block", c.apex, c.src, c.key)
		rrs := e.mustXfr(t, what, e.open, c.src, signed(xfrMsg(c.apex, dns.TypeAXFR, 0), c.key, time.Time{}), xfrSecrets)
		_, _, body := zoneOf(t, what, rrs, c.apex)
		want := xfrWantA
		if c.apex == xfrApexB {
			want = xfrWantB
		}
		wantRecords(t, what, body, want)
	}
}

// testTransferIXFR: IXFR from the current serial (or a later one) is the single SOA; from an older one, the
// whole zone.
func testTransferIXFR(t *testing.T, e *xfrEnv) {
	serial := apexSOA(t, e.s, e.s.Addr, xfrApexA).Serial
	for _, from := range []uint32{serial, serial + 100} {
		what := fmt.Sprintf("IXFR from %d (current %d)", from, serial)
		r, err := e.xfrAnswer(t, what, "tcp", "", e.s.Addr, signed(xfrMsg(xfrApexA, dns.TypeIXFR, from), xfrKeyA, time.Time{}), xfrSecrets)
		if err != nil || tsigOf(r) == nil {
			t.Errorf("%s: the answer is not signed, or does not verify: %v", what, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s: %s %v, want the single SOA", what, rcode(r), r.Answer)
		}
		soa, ok := r.Answer[0].(*dns.SOA)
		if !ok || soa.Serial != serial || !strings.EqualFold(soa.Hdr.Name, xfrApexA) {
			t.Errorf("%s: %v, want the SOA of %s with serial %d", what, r.Answer[0], xfrApexA, serial)
		}
	}
	// Over UDP (RFC 1995 §2): the SOA alone, from any serial; the client comes back over TCP for changes.
	for _, from := range []uint32{serial, serial - 1, 1} {
		what := fmt.Sprintf("IXFR over UDP from %d (current %d)", from, serial)
		r, err := e.xfrAnswer(t, what, "udp", "", e.s.Addr, signed(xfrMsg(xfrApexA, dns.TypeIXFR, from), xfrKeyA, time.Time{}), xfrSecrets)
		if err != nil || tsigOf(r) == nil {
			t.Errorf("%s: the answer is not signed, or does not verify: %v", what, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s: %s %v, want the single SOA", what, rcode(r), r.Answer)
		}
		if soa, ok := r.Answer[0].(*dns.SOA); !ok || soa.Serial != serial {
			t.Errorf("%s: %v, want the SOA with serial %d", what, r.Answer[0], serial)
		}
	}
	for _, from := range []uint32{xfrUnknownSerial, serial - 1000000} { // serials the journal does not hold
		what := fmt.Sprintf("IXFR from %d (current %d)", from, serial)
		rrs := e.mustXfr(t, what, e.s.Addr, "", signed(xfrMsg(xfrApexA, dns.TypeIXFR, from), xfrKeyA, time.Time{}), xfrSecrets)
		soa, _, body := zoneOf(t, what, rrs, xfrApexA)
		if soa.Serial != serial {
			t.Errorf("%s: serial %d, want %d", what, soa.Serial, serial)
		}
		wantRecords(t, what, body, xfrWantA)
	}
}

// testTransferLargeZone: a zone too large for one message comes in several, each signed (dns.Transfer
// verifies every one, the later ones with the timers only, RFC 8945 §5.3.1), with kdig too; a key may serve
// two policies.
func testTransferLargeZone(t *testing.T, e *xfrEnv) {
	apex := "bulk.rpz." + zone
	_, want := xfrBulk()
	serial := apexSOA(t, e.s, e.s.Addr, apex).Serial
	for _, c := range []struct {
		qtype uint16
		from  uint32
	}{{dns.TypeAXFR, 0}, {dns.TypeIXFR, xfrUnknownSerial}} {
		what := fmt.Sprintf("%s of %s signed with a.key.", dns.TypeToString[c.qtype], apex)
		rrs, msgs, err := xfrIn(e.s.Addr, "", signed(xfrMsg(apex, c.qtype, c.from), xfrKeyA, time.Time{}), xfrSecrets)
		if err != nil {
			t.Fatalf("%s: %v (%d records in %d messages)", what, err, len(rrs), msgs)
		}
		if msgs < 2 {
			t.Errorf("%s: %d records in %d message, want several messages", what, len(rrs), msgs)
		}
		soa, _, body := zoneOf(t, what, rrs, apex)
		if soa.Serial != serial {
			t.Errorf("%s: serial %d, want %d", what, soa.Serial, serial)
		}
		wantRecords(t, what, body, want)
	}
	what := "kdig AXFR " + apex
	out, code := xfrTool(t, "kdig", e.s.Port, yArg(xfrKeyA, xfrSecretA), apex, "AXFR")
	_, _, body := zoneOf(t, what, toolZone(t, what, out, code, true), apex)
	wantRecords(t, what, body, want)
	if _, tsigs := toolRecords(t, out); len(tsigs) < 2 {
		t.Errorf("%s: %d signed messages, want several", what, len(tsigs))
	}
}

// testTransferApex: queries (not transfers) inside the RPZ zones, transfers of names that are not a policy's
// zone, and the DNSBL lookups of the same block.
func testTransferApex(t *testing.T, e *xfrEnv) {
	s := e.s
	soa := apexSOA(t, s, s.Addr, xfrApexA)
	if want := dnsblSerial(t, s, "a"); soa.Serial != want {
		t.Errorf("%s SOA: serial %d, the DNSBL answers have %d", xfrApexA, soa.Serial, want)
	}
	r := s.Query(t, xfrApexA, dns.TypeNS)
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.Equal(rrSet(r.Answer), []string{xfrApexA + " 0 IN NS " + soaNS}) {
		t.Errorf("%s NS: %s aa=%v %v, want NS %s", xfrApexA, rcode(r), r.Authoritative, r.Answer, soaNS)
	}
	r = s.Query(t, xfrApexA, dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("%s A: %s %v, want NODATA", xfrApexA, rcode(r), r.Answer)
	}
	// A secondary that holds a key signs its SOA queries too (BIND's server { keys }): answered and signed.
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion(xfrApexA, dns.TypeSOA)
		what := network + " " + xfrApexA + " SOA signed with a.key."
		r, err := e.xfrAnswer(t, what, network, "", s.Addr, signed(m, xfrKeyA, time.Time{}), xfrSecrets)
		if err != nil || tsigOf(r) == nil || r.Rcode != dns.RcodeSuccess ||
			!slices.Equal(rrSet(r.Answer), rrSet([]dns.RR{soa})) {
			t.Errorf("%s: %v (verify: %v), want the signed SOA %v", what, r, err, soa)
		}
	}

	// Names inside the zone are not looked up one by one.
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"32.4.3.2.1.rpz-ip." + xfrApexA, dns.TypeCNAME},
		{"bad.example.com." + xfrApexA, dns.TypeA},
		{"fake.example.org." + xfrApexA, dns.TypeSOA},
		{"nothing.here." + xfrApexB, dns.TypeTXT},
	} {
		for _, network := range []string{"udp", "tcp"} {
			r := s.QueryNet(t, network, q.name, q.qtype)
			if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
				t.Errorf("%s %s %s: %s %v, want REFUSED", network, q.name, dns.TypeToString[q.qtype], rcode(r), r.Answer)
			}
		}
	}

	// An unknown policy has no zone.
	unknown := "zz.rpz." + zone
	r = s.Query(t, unknown, dns.TypeSOA)
	if r.Rcode != dns.RcodeNameError {
		t.Errorf("%s SOA: %s %v, want NXDOMAIN", unknown, rcode(r), r.Answer)
	}

	// Transfers of names that are not a policy's zone, signed with a good key: REFUSED.
	for _, name := range []string{unknown, "x." + xfrApexA, "32.4.3.2.1.rpz-ip." + xfrApexA} {
		what := "AXFR " + name + " signed with a.key."
		r, err := e.xfrAnswer(t, what, "tcp", "", s.Addr, signed(xfrMsg(name, dns.TypeAXFR, 0), xfrKeyA, time.Time{}), xfrSecrets)
		wantRefusal(t, what, r, err, dns.RcodeRefused, dns.RcodeSuccess)
	}
	// The DNSBL zone, a policy's DNSBL apex and rpz.ZONE are no zone to transfer either: REFUSED (RFC 5936
	// §2.2.1: policy) or NOTAUTH, not SERVFAIL, which tells a secondary the server is broken and to retry.
	for _, name := range []string{zone, apexOf("a"), "rpz." + zone} {
		for _, qt := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
			what := dns.TypeToString[qt] + " " + name + " signed with a.key."
			r, _ := e.xfrAnswer(t, what, "tcp", "", s.Addr, signed(xfrMsg(name, qt, 1), xfrKeyA, time.Time{}), xfrSecrets)
			if (r.Rcode != dns.RcodeRefused && r.Rcode != dns.RcodeNotAuth) || len(r.Answer) != 0 {
				t.Errorf("%s: %s %v, want REFUSED (or NOTAUTH) and no records", what, rcode(r), r.Answer)
			}
		}
	}

	// The DNSBL in the same block, with the same entries.
	for _, c := range []struct {
		policy, name string
		listed       bool
	}{
		{"a", v4(t, "1.2.3.4", "a"), true},
		{"a", v4(t, "44.55.1.1", "a"), true},
		{"a", v4(t, "44.55.66.77", "a"), false}, // allowed
		{"a", v4(t, "45.9.8.7", "a"), false},    // allowed
		{"a", v6(t, "2a06:e480::1", "a"), true},
		{"a", v4(t, "37.0.10.9", "a"), true},
		{"a", dn("bad.example.com", "a"), true},
		{"a", dn("x.fake.example.org", "a"), true},
		{"a", dn("good.fake.example.org", "a"), false}, // allowed
		{"a", dn("ok.fake.example.org", "a"), false},   // allow list
		{"a", v4(t, "44.55.77.1", "a"), false},         // allow list
		{"a", dn("x.ownwild.example.com", "a"), true},
		{"a", v4(t, "81.2.69.1", "a"), false},
		{"b", v4(t, "81.2.69.1", "b"), true},
		{"b", v4(t, "1.2.3.4", "b"), false},
		{"b", dn("evil.example.net", "b"), true},
	} {
		r := s.Query(t, c.name, dns.TypeA)
		if c.listed {
			wantListed(t, r, c.name, "127.0.0.2")
		} else {
			wantNegative(t, r, c.name, dns.RcodeNameError, apexOf(c.policy))
		}
	}
}

// testTransferNotify: a change of a feed that policy a uses sends a NOTIFY for a's zone, and only a's, to
// the secondary named in transfer { to }; by the time it comes, the zone has the new serial and content.
func testTransferNotify(t *testing.T, e *xfrEnv) {
	s := e.s
	path := filepath.Join(e.dir, "v4.txt")
	data := xfrFeeds[0].data
	serialB := apexSOA(t, s, s.Addr, xfrApexB).Serial
	prev := apexSOA(t, s, s.Addr, xfrApexA).Serial
	before := xfrWantA
	for i, change := range []struct {
		data string
		want []string
	}{
		{data + xfrAdded + "\n", append(slices.Clone(xfrWantA), xfrAddedRecord)},
		{data, xfrWantA},
	} {
		what := fmt.Sprintf("change %d of feed v4", i+1)
		e.notify.reset()
		replaceFile(t, path, []byte(change.data))

		var got notifyGot
		eventually(t, reloadTimeout, func() string {
			for _, g := range e.notify.forZone(xfrApexA) {
				if g.err != nil || serialAfter(g.serial, prev) {
					got = g
					return ""
				}
			}
			return fmt.Sprintf("%s: no NOTIFY for %s with a serial after %d (received: %d)", what, xfrApexA, prev, len(e.notify.forZone(xfrApexA)))
		})
		if got.err != nil {
			t.Fatalf("%s: asking the SOA back after the NOTIFY: %v", what, got.err)
		}
		m := got.msg
		if m.Opcode != dns.OpcodeNotify || !m.Authoritative || len(m.Question) != 1 ||
			m.Question[0].Qtype != dns.TypeSOA || m.Question[0].Qclass != dns.ClassINET {
			t.Errorf("%s: NOTIFY %v, want opcode NOTIFY, AA and the question %s IN SOA (RFC 1996)", what, m, xfrApexA)
		}
		if host, _, _ := net.SplitHostPort(got.from); host != "127.0.0.1" {
			t.Errorf("%s: NOTIFY from %s", what, got.from)
		}
		now := apexSOA(t, s, s.Addr, xfrApexA).Serial
		if now != got.serial || dnsblSerial(t, s, "a") != now {
			t.Errorf("%s: serial %d asked back after the NOTIFY, %d now, DNSBL %d", what, got.serial, now, dnsblSerial(t, s, "a"))
		}

		// IXFR from the serial before the change: only the difference (RFC 1995), which applied to the
		// zone before the change gives the zone after it.
		rrs := e.mustXfr(t, what+": IXFR", s.Addr, "", signed(xfrMsg(xfrApexA, dns.TypeIXFR, prev), xfrKeyA, time.Time{}), xfrSecrets)
		soa, del, add := ixfrOf(t, what+": IXFR", rrs, xfrApexA, prev)
		if soa.Serial != now {
			t.Errorf("%s: IXFR from %d: serial %d, want %d", what, prev, soa.Serial, now)
		}
		if len(del)+len(add) != 1 {
			t.Errorf("%s: IXFR from %d: deleted %q, added %q, want the one changed record", what, prev, del, add)
		}
		wantRecords(t, what+": IXFR", applyDiff(before, del, add), change.want)
		before = change.want

		// b and bulk do not use v4: no NOTIFY for their zones (it would have come with a's), and the same
		// serial.
		time.Sleep(xfrNotifyQuiet)
		for _, other := range []string{xfrApexB, "bulk.rpz." + zone} {
			if n := e.notify.forZone(other); len(n) != 0 {
				t.Errorf("%s: %d NOTIFY for %s, whose policy does not use the feed", what, len(n), other)
			}
		}
		if sb := apexSOA(t, s, s.Addr, xfrApexB).Serial; sb != serialB {
			t.Errorf("%s: serial of %s moved from %d to %d", what, xfrApexB, serialB, sb)
		}
		prev = now
	}
}

// testTransferCatalog: the catalog zone (RFC 9432 version 2) lists every policy's RPZ zone, one PTR per
// member under zones.catalog.ZONE with a label derived from the member's name; only the catalog key may
// transfer it, never a policy's key.
func testTransferCatalog(t *testing.T, e *xfrEnv) {
	apex := "catalog." + zone
	rrs := e.mustXfr(t, "AXFR of the catalog", e.s.Addr, "", signed(xfrMsg(apex, dns.TypeAXFR, 0), xfrKeyCatalog, time.Time{}), xfrSecrets)
	soa, nsNames, _ := zoneOf(t, "AXFR of the catalog", rrs, apex)
	if got := apexSOA(t, e.s, e.s.Addr, apex).Serial; got != soa.Serial {
		t.Errorf("catalog SOA at the apex: serial %d, in the transfer %d", got, soa.Serial)
	}
	var members []string
	ids := map[string]bool{}
	version, ns := false, slices.Equal(nsNames, []string{"invalid."})
	for _, rr := range rrs[1 : len(rrs)-1] {
		switch rr := rr.(type) {
		case *dns.PTR:
			owner := strings.ToLower(rr.Hdr.Name)
			id, ok := strings.CutSuffix(owner, ".zones."+apex)
			if !ok || strings.Contains(id, ".") || ids[id] {
				t.Errorf("catalog member %s: want a unique single label under zones.%s", rr.Hdr.Name, apex)
			}
			ids[id] = true
			members = append(members, strings.ToLower(rr.Ptr))
		case *dns.TXT:
			version = strings.EqualFold(rr.Hdr.Name, "version."+apex) && len(rr.Txt) == 1 && rr.Txt[0] == "2"
		case *dns.NS:
		default:
			t.Errorf("catalog: unexpected record %v", rr)
		}
	}
	slices.Sort(members)
	if want := []string{"a.rpz." + zone, "b.rpz." + zone, "bulk.rpz." + zone}; !slices.Equal(members, want) {
		t.Errorf("catalog members %v, want %v", members, want)
	}
	if !version || !ns {
		t.Errorf("catalog: version TXT \"2\" %v, NS invalid. %v, want both", version, ns)
	}
	// The same member IDs on a second transfer: they are derived, not drawn.
	again := e.mustXfr(t, "second AXFR of the catalog", e.s.Addr, "", signed(xfrMsg(apex, dns.TypeAXFR, 0), xfrKeyCatalog, time.Time{}), xfrSecrets)
	for _, rr := range again {
		if p, ok := rr.(*dns.PTR); ok {
			id, _ := strings.CutSuffix(strings.ToLower(p.Hdr.Name), ".zones."+apex)
			if !ids[id] {
				t.Errorf("second AXFR of the catalog: member ID %s changed", id)
			}
		}
	}
	// A policy's key, or no key, may not have it.
	for _, key := range []string{xfrKeyA, ""} {
		m := xfrMsg(apex, dns.TypeAXFR, 0)
		if key != "" {
			m = signed(m, key, time.Time{})
		}
		r, _ := e.xfrAnswer(t, "AXFR of the catalog with key "+key, "tcp", "", e.s.Addr, m, xfrSecrets)
		if r.Rcode != dns.RcodeRefused {
			t.Errorf("AXFR of the catalog signed with %q: %s, want REFUSED", key, rcode(r))
		}
	}
}

// ixfrOf reads an incremental IXFR answer (RFC 1995 §4): the new SOA, then one difference sequence (the
// old SOA with serial from, the records deleted, the new SOA, the records added), and the new SOA.
// Records come back in zoneOf's form, sorted.
func ixfrOf(t testing.TB, what string, rrs []dns.RR, apex string, from uint32) (*dns.SOA, []string, []string) {
	t.Helper()
	soaAt := func(i int) *dns.SOA {
		if i < len(rrs) {
			if soa, ok := rrs[i].(*dns.SOA); ok {
				return soa
			}
		}
		return nil
	}
	first, old := soaAt(0), soaAt(1)
	if first == nil || old == nil || old.Serial != from || soaAt(len(rrs)-1) == nil || soaAt(len(rrs)-1).Serial != first.Serial {
		t.Fatalf("%s: %d records, want an incremental answer: SOA %s, SOA from serial %d, ..., SOA", what, len(rrs), apex, from)
	}
	var del, add []string
	cur := &del
	for i := 2; i < len(rrs)-1; i++ {
		if soa := soaAt(i); soa != nil {
			if soa.Serial != first.Serial || cur == &add {
				t.Fatalf("%s: SOA %v at %d, want one difference sequence", what, soa, i)
			}
			cur = &add
			continue
		}
		*cur = append(*cur, bodyLine(rrs[i], apex))
	}
	if cur != &add {
		t.Fatalf("%s: no SOA between the deleted and the added records", what)
	}
	slices.Sort(del)
	slices.Sort(add)
	return first, del, add
}

// bodyLine is a record as zoneOf lists it: its owner relative to apex, its type and its data.
func bodyLine(rr dns.RR, apex string) string {
	f := strings.Fields(rr.String())
	rel := strings.TrimSuffix(strings.ToLower(rr.Header().Name), "."+apex)
	return strings.Join(append([]string{rel, f[3]}, f[4:]...), " ")
}

// applyDiff is zone with the records del removed and add added, sorted.
func applyDiff(zone, del, add []string) []string {
	out := slices.Clone(zone)
	for _, d := range del {
		if i := slices.Index(out, d); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	out = append(out, add...)
	slices.Sort(out)
	return out
}

// TestTransferOneBlock: testdata/oneblock.corefile, the README's single server block for RPZ transfers
// (tsig without require), serves customer-a's zone signed with a.key. (kdig and dig, AXFR and IXFR) and
// unsigned to its transfer_clients 127.0.0.2, the same zone both ways; it refuses an unsigned transfer
// from any other address, one signed with another customer's key, and customer-b's zone unsigned from
// 127.0.0.2; a wrong secret gets BADSIG from tsig. DNSBL lookups need no key.
func TestTransferOneBlock(t *testing.T) {
	t.Parallel()
	digPath(t)
	kdigPath(t)
	s := startServer(t, "oneblock.corefile", "spamhaus_drop.txt")
	apexA, apexB := "customer-a.rpz."+zone, "customer-b.rpz."+zone

	var want []string
	for _, c := range []struct {
		tool   string
		args   []string
		signed bool
	}{
		{"kdig", []string{yArg(xfrKeyA, xfrSecretA), apexA, "AXFR"}, true},
		{"kdig", []string{"+tcp", yArg(xfrKeyA, xfrSecretA), apexA, fmt.Sprintf("IXFR=%d", xfrUnknownSerial)}, true},
		{"dig", []string{yArg(xfrKeyA, xfrSecretA), apexA, "AXFR"}, true},
		{"dig", []string{"+tcp", yArg(xfrKeyA, xfrSecretA), apexA, fmt.Sprintf("IXFR=%d", xfrUnknownSerial)}, true},
		{"dig", []string{"-b", "127.0.0.2", apexA, "AXFR"}, false},
		{"kdig", []string{"-b", "127.0.0.2", apexA, "AXFR"}, false},
	} {
		what := c.tool + " " + strings.Join(c.args, " ")
		out, code := xfrTool(t, c.tool, s.Port, c.args...)
		_, _, body := zoneOf(t, what, toolZone(t, what, out, code, c.signed), apexA)
		if want == nil {
			want = body
			for _, r := range []string{"20.0.16.10.1.rpz-ip CNAME .", "evil.example CNAME ."} {
				if !slices.Contains(body, r) {
					t.Errorf("%s: no %q among %d records", what, r, len(body))
				}
			}
			continue
		}
		wantRecords(t, what, body, want)
	}

	for _, c := range []struct {
		tool, rcode, tsigErr string
		args                 []string
	}{
		{"dig", "REFUSED", "", []string{"-b", "127.0.0.1", apexA, "AXFR"}},
		{"kdig", "REFUSED", "", []string{"-b", "127.0.0.3", apexA, "AXFR"}},
		{"kdig", "REFUSED", "", []string{"-b", "127.0.0.1", "+tcp", apexA, fmt.Sprintf("IXFR=%d", xfrUnknownSerial)}},
		{"dig", "REFUSED", "NOERROR", []string{yArg(xfrKeyB, xfrSecretB), apexA, "AXFR"}},
		{"kdig", "REFUSED", "NOERROR", []string{yArg(xfrKeyB, xfrSecretB), apexA, "AXFR"}},
		{"dig", "REFUSED", "", []string{"-b", "127.0.0.2", apexB, "AXFR"}},
		{"dig", "BADSIG", "BADSIG", []string{yArg(xfrKeyA, xfrSecretWrong), apexA, "AXFR"}},
	} {
		what := c.tool + " " + strings.Join(c.args, " ")
		out, code := xfrTool(t, c.tool, s.Port, c.args...)
		toolRefused(t, what, c.tool, out, code, c.rcode, c.tsigErr)
	}
	if v, _ := s.Metric(`coredns_threatstop_transfers_refused_total{policy="customer-a"}`); v != 5 {
		t.Errorf("transfers_refused_total{policy=\"customer-a\"} = %v, want 5 (3 unsigned, 2 with b.key.)", v)
	}

	wantListed(t, s.Query(t, v4(t, "1.10.16.1", "customer-a"), dns.TypeA), v4(t, "1.10.16.1", "customer-a"), "127.0.0.2")
}
