package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/cmd/threatstop-sync/internal/zone"
)

const (
	origin  = "p.rpz.test."
	keyName = "p.key."
	secret  = "cC1rZXktb2YtY3VzdG9tZXItcC0zMi1ieXRlcy14eA=="
	wrong   = "d3Jvbmctc2VjcmV0LW9mLTMyLWJ5dGVzLXp6enp6eno="
)

// primary is an in-process primary whose answers the test controls: the versions of the zone it holds,
// and a fault to inject into the next transfers.
type primary struct {
	addr string
	srv  *dns.Server

	mu       sync.Mutex
	versions map[uint32][]string // serial -> records below the apex, "OWNER TYPE DATA" relative
	serial   uint32              // current
	fault    string
	queries  []string
}

func startPrimary(t *testing.T) *primary {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &primary{addr: l.Addr().String(), versions: map[uint32][]string{}}
	started := make(chan struct{})
	p.srv = &dns.Server{Listener: l, Net: "tcp", Handler: dns.HandlerFunc(p.serve),
		TsigSecret: map[string]string{keyName: secret}, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = p.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = p.srv.Shutdown() })
	return p
}

func (p *primary) set(serial uint32, records ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.versions[serial] = records
	p.serial = serial
}

func (p *primary) setFault(f string) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

func soa(serial uint32) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
		Ns: "ns1.test.", Mbox: "hostmaster.test.", Serial: serial, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60}
}

func rrOf(s string) dns.RR {
	owner, rest, _ := strings.Cut(s, " ")
	name := origin
	if owner != "@" {
		name = owner + "." + origin
	}
	r, err := dns.NewRR(name + " 300 IN " + rest)
	if err != nil {
		panic(err)
	}
	return r
}

func rrs(records []string) []dns.RR {
	var out []dns.RR
	for _, s := range records {
		out = append(out, rrOf(s))
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func (p *primary) serve(w dns.ResponseWriter, r *dns.Msg) {
	p.mu.Lock()
	serial, fault := p.serial, p.fault
	cur := p.versions[serial]
	var from uint32
	var old []string
	haveOld := false
	if q := r.Question[0]; q.Qtype == dns.TypeIXFR && len(r.Ns) == 1 {
		from = r.Ns[0].(*dns.SOA).Serial
		old, haveOld = p.versions[from]
	}
	p.queries = append(p.queries, dns.TypeToString[r.Question[0].Qtype])
	p.mu.Unlock()

	if w.TsigStatus() != nil || r.IsTsig() == nil {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotAuth)
		_ = w.WriteMsg(m)
		return
	}
	if fault == "refuse" {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeRefused)
		m.SetTsig(keyName, dns.HmacSHA256, 300, time.Now().Unix())
		_ = w.WriteMsg(m)
		return
	}
	var seq []dns.RR
	switch {
	case r.Question[0].Qtype == dns.TypeIXFR && from == serial:
		seq = []dns.RR{soa(serial)}
	case r.Question[0].Qtype == dns.TypeIXFR && haveOld:
		gone, added := minus(old, cur), minus(cur, old)
		switch fault {
		case "delete-missing":
			gone = append(gone, "32.9.9.9.9.rpz-ip CNAME .")
		case "add-present":
			added = append(added, cur[0])
		case "wrong-from":
			from += 100
		}
		seq = append(seq, soa(serial), soa(from))
		seq = append(seq, rrs(gone)...)
		seq = append(seq, soa(serial))
		seq = append(seq, rrs(added)...)
		seq = append(seq, soa(serial))
	default:
		seq = append(seq, soa(serial))
		seq = append(seq, rrs(cur)...)
		seq = append(seq, soa(serial))
	}
	switch fault {
	case "truncate": // the connection ends before the closing SOA
		seq = seq[:len(seq)-1]
	case "closing-mismatch":
		seq[len(seq)-1] = soa(serial + 5)
	}
	ch := make(chan *dns.Envelope)
	tr := new(dns.Transfer)
	done := make(chan error, 1)
	go func() { done <- tr.Out(w, r, ch) }()
	for i := 0; i < len(seq); i += 3 { // three records a message: every transfer takes several
		ch <- &dns.Envelope{RR: seq[i:min(i+3, len(seq))]}
	}
	close(ch)
	<-done
	_ = w.Close()
}

func client(p ...*primary) *Client {
	c := &Client{Zone: origin, Key: Key{Name: keyName, Algorithm: dns.HmacSHA256, Secret: secret}, Timeout: 2 * time.Second}
	for _, x := range p {
		c.Servers = append(c.Servers, x.addr)
	}
	return c
}

var v1 = []string{
	"@ NS ns1.test.",
	"24.0.2.0.192.rpz-ip CNAME .",
	"32.1.2.0.192.rpz-ip CNAME rpz-passthru.",
	"24.0.7.6.5.rpz-ip CNAME rpz-drop.",
	"32.zz.e480.2a06.rpz-ip CNAME .",
	"evil.example CNAME .",
	"*.evil.example CNAME .",
}

// v2: one rpz-ip trigger gone, two added, a name added.
var v2 = append(minus(v1, []string{"24.0.7.6.5.rpz-ip CNAME rpz-drop."}),
	"16.0.0.10.46.rpz-ip CNAME .", "24.0.100.51.198.rpz-ip CNAME rpz-drop.", "new.example CNAME .")

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestAXFRThenIXFR(t *testing.T) {
	p := startPrimary(t)
	p.set(10, v1...)
	ctx := context.Background()
	c := client(p)
	r, err := c.Fetch(ctx, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != Full || r.Zone.Serial != 10 || !slices.Equal(r.Zone.Sorted(), sorted(v1)) {
		t.Fatalf("AXFR: %s serial %d\n%v", r.Kind, r.Zone.Serial, r.Zone.Sorted())
	}
	held := r.Zone

	// Unchanged: the single SOA.
	r, err = c.Fetch(ctx, held, false)
	if err != nil || r.Kind != Unchanged || r.Zone != held {
		t.Fatalf("same serial: %v %v", r.Kind, err)
	}

	p.set(11, v2...)
	r, err = c.Fetch(ctx, held, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != Delta || r.Zone.Serial != 11 || r.Deleted != 1 || r.Added != 3 || !slices.Equal(r.Zone.Sorted(), sorted(v2)) {
		t.Fatalf("IXFR: %s serial %d -%d +%d\n%v", r.Kind, r.Zone.Serial, r.Deleted, r.Added, r.Zone.Sorted())
	}
	if !slices.Equal(held.Sorted(), sorted(v1)) || held.Serial != 10 {
		t.Fatal("the IXFR changed the zone it started from")
	}

	// From a serial the primary no longer holds: the whole zone, in IXFR form.
	r, err = c.Fetch(ctx, zone.New(origin, 3), false)
	if err != nil || r.Kind != Full || !slices.Equal(r.Zone.Sorted(), sorted(v2)) {
		t.Fatalf("IXFR from an unknown serial: %v %v", r.Kind, err)
	}
	if got := strings.Join(p.queries, " "); got != "AXFR IXFR IXFR IXFR" {
		t.Errorf("queries %s", got)
	}
}

// TestBrokenTransfers: every kind of bad answer is an error, and the zone held is untouched.
func TestBrokenTransfers(t *testing.T) {
	for _, tc := range []struct {
		fault        string
		axfr         bool
		inconsistent bool
		want         string
	}{
		{"delete-missing", false, true, "deletes 32.9.9.9.9.rpz-ip CNAME ., which the zone does not hold"},
		{"add-present", false, true, "which the zone already holds"},
		{"wrong-from", false, true, "difference starts at serial 110, we hold 10"},
		{"truncate", false, true, ""},
		{"truncate", true, true, ""},
		{"closing-mismatch", true, true, "closing SOA"},
		{"closing-mismatch", false, true, ""},
		{"refuse", false, false, "server answered REFUSED"},
	} {
		t.Run(fmt.Sprintf("%s axfr=%v", tc.fault, tc.axfr), func(t *testing.T) {
			p := startPrimary(t)
			p.set(10, v1...)
			held, err := client(p).Fetch(context.Background(), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			before := held.Zone.Sorted()
			p.set(11, v2...)
			p.setFault(tc.fault)
			r, err := client(p).Fetch(context.Background(), held.Zone, tc.axfr)
			if err == nil {
				t.Fatalf("accepted: %s serial %d", r.Kind, r.Zone.Serial)
			}
			var te *Error
			if !errors.As(err, &te) || te.Inconsistent != tc.inconsistent {
				t.Errorf("error %v: inconsistent %v, want %v", err, te != nil && te.Inconsistent, tc.inconsistent)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if r.Zone != nil || !slices.Equal(held.Zone.Sorted(), before) || held.Zone.Serial != 10 {
				t.Error("the held zone changed")
			}
		})
	}
}

func TestBadKeyAndFailover(t *testing.T) {
	p := startPrimary(t)
	p.set(10, v1...)
	c := client(p)
	c.Key.Secret = wrong
	_, err := c.Fetch(context.Background(), nil, false)
	if err == nil || !strings.Contains(err.Error(), "TSIG") {
		t.Fatalf("wrong secret: %v", err)
	}
	c = client(p)
	c.Key.Name = "other.key."
	if _, err := c.Fetch(context.Background(), nil, false); err == nil {
		t.Fatal("unknown key accepted")
	}

	// Failover: a closed port, then a refusing primary, then a good one.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	bad := startPrimary(t)
	bad.set(10, v1...)
	bad.setFault("refuse")
	c = client(bad, p)
	c.Servers = append([]string{deadAddr}, c.Servers...)
	r, err := c.Fetch(context.Background(), nil, false)
	if r.Zone == nil || r.Server != p.addr {
		t.Fatalf("failover: %v from %s", err, r.Server)
	}
	if err == nil || !strings.Contains(err.Error(), deadAddr) || !strings.Contains(err.Error(), "REFUSED") {
		t.Errorf("the failed servers are not reported: %v", err)
	}
	// All down.
	c.Servers = []string{deadAddr}
	if _, err := c.Fetch(context.Background(), nil, false); err == nil {
		t.Fatal("no server, no error")
	}
}

func TestServerBehind(t *testing.T) {
	p := startPrimary(t)
	p.set(10, v1...)
	_, err := client(p).Fetch(context.Background(), zone.New(origin, 20), false)
	if err == nil || !strings.Contains(err.Error(), "older") {
		t.Fatalf("a server behind us: %v", err)
	}
}
