package threatfirewall

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/proxyproto"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/peer"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
	"github.com/threatstop/threatstop/plugin/pkg/state"
)

// fwWriter records what reaches the client; ra overrides the client's address, tls is its TLS state.
type fwWriter struct {
	test.ResponseWriter
	ra   net.Addr
	tls  *tls.ConnectionState
	msgs []*dns.Msg
}

func (w *fwWriter) RemoteAddr() net.Addr {
	if w.ra != nil {
		return w.ra
	}
	return w.ResponseWriter.RemoteAddr()
}

func (w *fwWriter) WriteMsg(m *dns.Msg) error { w.msgs = append(w.msgs, m); return nil }

func (w *fwWriter) ConnectionState() *tls.ConnectionState { return w.tls }

// testStore is a store with one threatstop block of policies given by name and own block entries.
func testStore(t testing.TB, policies map[string][]string) (*state.Store, *state.Block) {
	t.Helper()
	store := state.NewStore()
	names := make([]string, 0, len(policies))
	for n := range policies {
		names = append(names, n)
	}
	slices.Sort(names)
	var ps []*state.Policy
	for _, n := range names {
		p, err := policy.New(policy.Config{Name: n, Blocked: policies[n]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, &state.Policy{Policy: p})
	}
	return store, store.AddBlock(0, "", ps)
}

// parseFirewall reads a threatfirewall block and binds it to the policies (name → own block entries) of
// one threatstop block; its decision log is discarded.
func parseFirewall(t testing.TB, input string, policies map[string][]string) (*Firewall, error) {
	t.Helper()
	store, own := testStore(t, policies)
	c := caddy.NewTestController("dns", input)
	c.Next()
	f, err := Parse(c)
	if err != nil {
		return nil, err
	}
	if err := f.Resolve("Testfile", store, own, nil); err != nil {
		return nil, err
	}
	f.log = newDecisionLog(io.Discard)
	f.log.start()
	t.Cleanup(f.log.stop)
	return f, nil
}

// fwHandler is a firewall over policy a (own entries only), every client, in front of an upstream that
// answers every A query with 192.0.2.9, an address that policy a lists too.
func fwHandler(t *testing.T) *Firewall {
	t.Helper()
	f, err := parseFirewall(t, "threatfirewall {\n client 0.0.0.0/0 ::/0 a\n}", map[string][]string{"a": {"evil.example", "192.0.2.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	f.Next = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 9)}}
		return dns.RcodeSuccess, w.WriteMsg(m)
	})
	return f
}

// With the PROXY protocol, RemoteAddr is a *proxyproto.Addr around the real client's address; the
// firewall must filter such a client like any other, not pass its queries as if no rule matched.
func TestFirewallProxyProtocolClient(t *testing.T) {
	ts := fwHandler(t)
	lb := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
	for real, want := range map[net.Addr]string{
		&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5353}:      "10.0.0.1",
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5353}: "2001:db8::1",
	} {
		w := &fwWriter{ra: proxyproto.NewAddr(lb, real, nil)}
		if got := peer.Addr(w); got.String() != want {
			t.Errorf("peer.Addr(%s behind the PROXY protocol) = %s, want %s", real, got, want)
		}
		r := new(dns.Msg).SetQuestion("www.example.", dns.TypeA)
		if _, err := ts.ServeDNS(context.Background(), w, r); err != nil {
			t.Fatal(err)
		}
		if len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeNameError {
			t.Errorf("client %s behind the PROXY protocol: answer %v, want NXDOMAIN (192.0.2.9 is listed)", real, w.msgs)
		}
	}
}

// Plugins after threatstop see the TLS state of the connection through the firewall's writer.
func TestFirewallConnectionState(t *testing.T) {
	ts := fwHandler(t)
	want := &tls.ConnectionState{ServerName: "dot.example"}
	var got *tls.ConnectionState
	ts.Next = test.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		if _, ok := w.(*fwQuery); !ok {
			t.Errorf("the next plugin writes through %T, not the firewall", w)
		}
		if cs, ok := w.(dns.ConnectionStater); ok {
			got = cs.ConnectionState()
		}
		return dns.RcodeSuccess, w.WriteMsg(new(dns.Msg).SetReply(r))
	})
	w := &fwWriter{tls: want}
	ts.ServeDNS(context.Background(), w, new(dns.Msg).SetQuestion("www.example.", dns.TypeA))
	if got != want {
		t.Errorf("ConnectionState through the firewall: %v, want %v", got, want)
	}
}

// A message without a question (the server answers those itself) is passed on, not a panic.
func TestFirewallNoQuestion(t *testing.T) {
	ts := fwHandler(t)
	called := false
	ts.Next = test.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) {
		called = true
		return dns.RcodeServerFailure, nil
	})
	if rc, _ := ts.ServeDNS(context.Background(), &fwWriter{}, new(dns.Msg)); rc != dns.RcodeServerFailure || !called {
		t.Errorf("no question: rcode %d, next called %v", rc, called)
	}
}

func TestDecisionLineEscapes(t *testing.T) {
	h := policy.Hit{Action: policy.Action{Kind: policy.NXDomain}, List: "custom", Category: "custom", ListID: -1}
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ qname, value, want string }{
		{"a\\ b.example.", "a\\ b.example", `qname=a\032b.example. qtype=A policy=a trigger=qname value=a\032b.example `},
		{"a\\.b.example.", "a\\.b.example", `qname=a\.b.example. qtype=A policy=a trigger=qname value=a\.b.example `},
		{"a\\\\b.example.", "a\\\\b.example", `qname=a\\b.example. qtype=A policy=a trigger=qname value=a\\b.example `},
		{"a\\009b.example.", "a b\tc\n", `qname=a\009b.example. qtype=A policy=a trigger=qname value=a\032b\009c\010 `},
		{"x=y.example.", "lone\\", `qname=x=y.example. qtype=A policy=a trigger=qname value=lone\092 `},
		{".", "", `qname=. qtype=A policy=a trigger=qname value=- `},
	} {
		line := decisionLine(now, netip.MustParseAddr("10.0.0.1"), dns.Question{Name: tc.qname, Qtype: dns.TypeA, Qclass: dns.ClassINET}, "a", trigQName, tc.value, "e", h)
		if !strings.Contains(line, tc.want) {
			t.Errorf("qname %q value %q:\n  %s\n  want it to contain %s", tc.qname, tc.value, line, tc.want)
		}
		if fields := strings.Fields(line); len(fields) != 14 || strings.ContainsAny(line, "\t\n") {
			t.Errorf("qname %q value %q: %d fields in %q, want 14", tc.qname, tc.value, len(fields), line)
		}
	}
}

// writes records each Write call.
type writes struct {
	mu    sync.Mutex
	calls [][]byte
	n     int
}

func (w *writes) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, bytes.Clone(b))
	w.n += bytes.Count(b, []byte{'\n'})
	return len(b), nil
}

func (w *writes) lines() int { w.mu.Lock(); defer w.mu.Unlock(); return w.n }

// Every Write of the decision log holds whole lines, also when a burst fills the batch: another writer of
// standard output (CoreDNS's log) can then never land inside a decision line.
func TestDecisionLogWholeLines(t *testing.T) {
	out := &writes{}
	d := newDecisionLog(out)
	d.start()
	defer d.stop()
	line := "[INFO] plugin/threatstop: decision " + strings.Repeat("x", 190)
	const n = 2000 // 400 kB: several full batches
	for range n {
		d.print(line)
	}
	for deadline := time.Now().Add(10 * time.Second); out.lines() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.n != n {
		t.Fatalf("%d lines written, want %d", out.n, n)
	}
	for i, b := range out.calls {
		if len(b) == 0 || b[len(b)-1] != '\n' || bytes.Count(b, []byte{'\n'})*(len(line)+1) != len(b) {
			t.Fatalf("write %d of %d (%d bytes) does not hold whole lines", i, len(out.calls), len(b))
		}
	}
}

// An EDNS Client Subnet option of source prefix length 0 (dig +subnet=0, a stub opting out of ECS) names
// no client: the policy is chosen by the transport address, not by 0.0.0.0.
func TestFirewallECSZeroPrefix(t *testing.T) {
	ts, err := parseFirewall(t, `threatfirewall {
		client 10.240.0.0/16 office
		client 0.0.0.0/0 guest
		ecs
	}`, map[string][]string{"office": {"evil.example"}, "guest": {"192.0.2.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ecs  *dns.EDNS0_SUBNET
		want string
	}{
		{nil, "office"},
		{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 0, SourceNetmask: 0, Address: net.IPv4zero}, "office"},
		{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 0, Address: net.IPv6zero}, "office"},
		{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 7).To4()}, "guest"},
	} {
		r := new(dns.Msg).SetQuestion("www.example.", dns.TypeA)
		r.SetEdns0(1232, false)
		if tc.ecs != nil {
			o := r.IsEdns0()
			o.Option = append(o.Option, tc.ecs)
		}
		// Through the wire format, as the server reads it.
		b, err := r.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Unpack(b); err != nil {
			t.Fatal(err)
		}
		got := "none"
		if p, _ := ts.pick(context.Background(), &fwWriter{}, r); p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("ECS %v from 10.240.0.1: policy %s, want %s", tc.ecs, got, tc.want)
		}
	}
}

// Queries in parallel, blocked at the query name, blocked in the answer and clean, share nothing but
// read-only state (go test -race).
func TestFirewallParallel(t *testing.T) {
	ts := fwHandler(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				name := []string{"evil.example.", "www.example.", "EVIL.Example."}[(g+i)%3]
				w := &fwWriter{}
				r := new(dns.Msg).SetQuestion(name, dns.TypeA)
				r.SetEdns0(1232, i%2 == 0)
				if _, err := ts.ServeDNS(context.Background(), w, r); err != nil {
					t.Error(err)
					return
				}
				if len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeNameError {
					t.Errorf("%s: %v, want NXDOMAIN", name, w.msgs)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A log-only match (monitor mode for one category) must not let a block of another category through:
// the query name is monitored, the answer's address is blocked.
func TestFirewallLogOnlyDoesNotHideBlock(t *testing.T) {
	ts := fwHandler(t)
	set := func(entries ...string) *entryset.Set {
		var b entryset.Builder
		for _, e := range entries {
			if err := policy.AddEntry(&b, e); err != nil {
				t.Fatal(err)
			}
		}
		return b.Set()
	}
	snap := snapshot.Build([]snapshot.List{
		{Name: "trackers", Category: "tracking", Version: 1, Set: set("tracker.example")},
		{Name: "malware", Category: "malware", Version: 1, Set: set("198.51.100.0/24")},
	}, nil)
	pol, err := policy.New(policy.Config{Name: "m", Block: []int{0, 1},
		Actions: map[string]policy.Action{"tracking": {Kind: policy.LogOnly}}}, policy.Catalog(snap.Lists))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(addr string) *fwWriter {
		w := &fwWriter{}
		q := &fwQuery{ResponseWriter: w, f: ts, p: &state.Policy{Policy: pol}, s: snap,
			r: new(dns.Msg).SetQuestion("tracker.example.", dns.TypeA), client: netip.MustParseAddr("10.0.0.1")}
		if got := q.before("tracker.example."); got != undecided {
			t.Fatalf("a log-only query name decided the query (%d) before its answer was seen", got)
		}
		m := new(dns.Msg).SetReply(q.r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "tracker.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.ParseIP(addr)}}
		q.WriteMsg(m)
		if err := q.flush(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := answer("198.51.100.7"); len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeNameError {
		t.Errorf("monitored name resolving to a malware address: %v, want NXDOMAIN", w.msgs)
	}
	if w := answer("192.0.2.77"); len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeSuccess || len(w.msgs[0].Answer) != 1 {
		t.Errorf("monitored name resolving to a clean address: %v, want the answer as it came", w.msgs)
	}
}

// Lines queued before the log starts, or just before it stops, are written before stop returns.
func TestDecisionLogStopWritesQueued(t *testing.T) {
	out := &writes{}
	d := newDecisionLog(out)
	for range 100 {
		d.print("[INFO] plugin/threatstop: decision x")
	}
	d.start()
	d.stop()
	if n := out.lines(); n != 100 {
		t.Errorf("%d lines written by stop, want 100", n)
	}
}
