package source

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	testZone   = "p.rpz.example."
	testKey    = "k.key."
	testSecret = "c2VjcmV0LW9mLXRoZS1heGZyLXNvdXJjZS10ZXN0cw=="
)

// primary is a zone transfer server whose answers the test sets: per serial the zone's records, and how
// to answer an IXFR.
type primary struct {
	mu     sync.Mutex
	serial uint32
	zones  map[uint32][]string // serial → records (without SOA)
	ixfr   func(from uint32) []dns.RR
	axfr   func() []dns.RR // nil: the zone at serial
	down   bool
	kinds  []string // the transfers asked for
	addr   string
	srv    *dns.Server
}

func soaRR(serial uint32) *dns.SOA {
	return &dns.SOA{Hdr: dns.RR_Header{Name: testZone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns: "ns.example.", Mbox: "h.example.", Serial: serial, Refresh: 3600, Retry: 600, Expire: 2, Minttl: 60}
}

func rrs(t testing.TB, lines ...string) []dns.RR {
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR("$ORIGIN " + testZone + "\n" + l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

func startPrimary(t *testing.T) *primary {
	p := &primary{serial: 1, zones: map[uint32][]string{}}
	pc, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.ListenPacket("udp", pc.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p.addr = pc.Addr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { p.serve(t, w, r) })
	secret := map[string]string{testKey: testSecret}
	tcp := &dns.Server{Listener: pc, Handler: h, TsigSecret: secret}
	udp := &dns.Server{PacketConn: uc, Handler: h, TsigSecret: secret}
	go tcp.ActivateAndServe()
	go udp.ActivateAndServe()
	t.Cleanup(func() { tcp.Shutdown(); udp.Shutdown() })
	return p
}

func (p *primary) serve(t *testing.T, w dns.ResponseWriter, r *dns.Msg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	sign := func() {
		if r.IsTsig() != nil {
			m.SetTsig(testKey, dns.HmacSHA256, 300, time.Now().Unix())
		}
	}
	if p.down || r.IsTsig() == nil || w.TsigStatus() != nil {
		m.Rcode = dns.RcodeRefused
		if r.IsTsig() != nil && w.TsigStatus() != nil {
			m.Rcode = dns.RcodeNotAuth
		}
		w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	switch q.Qtype {
	case dns.TypeSOA:
		m.Answer = []dns.RR{soaRR(p.serial)}
		sign()
		w.WriteMsg(m)
		return
	case dns.TypeAXFR, dns.TypeIXFR:
	default:
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return
	}
	var answer []dns.RR
	kind := dns.TypeToString[q.Qtype]
	if q.Qtype == dns.TypeIXFR && p.ixfr != nil {
		answer = p.ixfr(r.Ns[0].(*dns.SOA).Serial)
	} else if p.axfr != nil {
		answer = p.axfr()
	} else {
		answer = append(append([]dns.RR{soaRR(p.serial)}, rrs(t, p.zones[p.serial]...)...), soaRR(p.serial))
	}
	p.kinds = append(p.kinds, kind)
	ch := make(chan *dns.Envelope)
	tr := new(dns.Transfer)
	tr.TsigSecret = map[string]string{testKey: testSecret}
	go func() {
		for len(answer) > 0 { // two records a message: a transfer of several messages
			n := min(2, len(answer))
			ch <- &dns.Envelope{RR: answer[:n]}
			answer = answer[n:]
		}
		close(ch)
	}()
	tr.Out(w, r, ch)
}

func (p *primary) set(f func()) { p.mu.Lock(); defer p.mu.Unlock(); f() }

func newSource(p *primary) *AXFR {
	return &AXFR{Zone: testZone, Server: p.addr, Key: testKey, Secret: testSecret, Timeout: 2 * time.Second, MaxRefresh: time.Hour}
}

// lines is the body's record lines without $ORIGIN and SOA.
func lines(body []byte) []string {
	ls := strings.Split(strings.TrimSpace(string(body)), "\n")
	return ls[2:]
}

func TestAXFRThenIXFR(t *testing.T) {
	p := startPrimary(t)
	p.zones[1] = []string{"32.4.3.2.1.rpz-ip CNAME .", "bad.example CNAME ."}
	a := newSource(p)
	ctx := context.Background()
	body, err := a.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), "$ORIGIN "+testZone+"\n") || len(lines(body)) != 2 {
		t.Fatalf("body:\n%s", body)
	}
	// Not due and not notified: nothing is asked.
	if _, err := a.Fetch(ctx); !errors.Is(err, ErrNotModified) {
		t.Fatalf("second Fetch: %v", err)
	}
	// Notified, same serial: the SOA query says up to date.
	a.Notify()
	if _, err := a.Fetch(ctx); !errors.Is(err, ErrNotModified) {
		t.Fatalf("notified, unchanged: %v", err)
	}
	// Two steps of differences in one IXFR: 1 → 2 → 3.
	p.set(func() {
		p.serial = 3
		p.ixfr = func(from uint32) []dns.RR {
			if from != 1 {
				t.Errorf("IXFR from %d, want 1", from)
			}
			out := []dns.RR{soaRR(3), soaRR(1)}
			out = append(out, rrs(t, "bad.example CNAME .")...)
			out = append(out, soaRR(2))
			out = append(out, rrs(t, "new.example CNAME .", "24.0.2.0.198.rpz-ip CNAME .")...)
			out = append(out, soaRR(2))
			out = append(out, rrs(t, "new.example CNAME .")...)
			out = append(out, soaRR(3))
			out = append(out, rrs(t, "*.new.example CNAME .")...)
			return append(out, soaRR(3))
		}
	})
	a.Notify()
	body, err = a.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines(body), "\n")
	want := strings.Join([]string{
		"*.new.example.p.rpz.example.\t0\tIN\tCNAME\t.",
		"24.0.2.0.198.rpz-ip.p.rpz.example.\t0\tIN\tCNAME\t.",
		"32.4.3.2.1.rpz-ip.p.rpz.example.\t0\tIN\tCNAME\t.",
	}, "\n")
	if got != want {
		t.Fatalf("after the IXFR:\n%s\nwant\n%s", got, want)
	}
	if serial, how, _ := a.Held(); serial != 3 || !strings.HasPrefix(how, "IXFR (") {
		t.Errorf("held serial %d by %q", serial, how)
	}
	if strings.Join(p.kinds, " ") != "AXFR IXFR" {
		t.Errorf("transfers asked: %v", p.kinds)
	}
}

// An IXFR that does not apply (it deletes what the zone does not hold) is not applied: the source falls
// back to the whole zone.
func TestIXFRInconsistentFallsBackToAXFR(t *testing.T) {
	p := startPrimary(t)
	p.zones[1] = []string{"a.example CNAME ."}
	p.zones[2] = []string{"b.example CNAME ."}
	a := newSource(p)
	if _, err := a.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.set(func() {
		p.serial = 2
		p.ixfr = func(uint32) []dns.RR {
			out := []dns.RR{soaRR(2), soaRR(1)}
			out = append(out, rrs(t, "zzz.example CNAME .")...) // not held
			out = append(out, soaRR(2))
			out = append(out, rrs(t, "b.example CNAME .")...)
			return append(out, soaRR(2))
		}
	})
	a.Notify()
	body, err := a.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(body); len(got) != 1 || !strings.HasPrefix(got[0], "b.example.") {
		t.Fatalf("after the fallback: %v", got)
	}
	if strings.Join(p.kinds, " ") != "AXFR IXFR AXFR" {
		t.Errorf("transfers asked: %v", p.kinds)
	}
}

// Broken answers and failures leave the zone held as it was.
func TestAXFRFailuresKeepTheZone(t *testing.T) {
	p := startPrimary(t)
	p.zones[1] = []string{"a.example CNAME ."}
	a := newSource(p)
	a.Timeout = 300 * time.Millisecond // a truncated transfer ends by the read timeout
	ctx := context.Background()
	if _, err := a.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func()
	}{
		{"truncated AXFR", func() {
			p.serial, p.ixfr = 2, func(uint32) []dns.RR { return append([]dns.RR{soaRR(2)}, rrs(t, "b.example CNAME .")...) }
			p.axfr = func() []dns.RR { return append([]dns.RR{soaRR(2)}, rrs(t, "b.example CNAME .")...) }
		}},
		{"IXFR without the closing SOA", func() {
			p.ixfr = func(uint32) []dns.RR {
				return append([]dns.RR{soaRR(2), soaRR(1)}, append(rrs(t, "a.example CNAME ."), soaRR(2))...)
			}
		}},
		{"primary refuses", func() { p.down = true }},
	} {
		p.set(tc.set)
		a.Notify()
		if body, err := a.Fetch(ctx); err == nil || body != nil {
			t.Errorf("%s: body %q, err %v; want an error", tc.name, body, err)
		}
		if serial, _, n := a.Held(); serial != 1 || n != 1 {
			t.Errorf("%s: the zone held changed to serial %d, %d records", tc.name, serial, n)
		}
	}
	// The SOA expire is 2 s: past it, the error says the zone expired.
	time.Sleep(2100 * time.Millisecond)
	a.Notify()
	if _, err := a.Fetch(ctx); err == nil || !strings.Contains(err.Error(), "zone expired") {
		t.Errorf("after the expire time: %v", err)
	}
	// The primary is back: the zone is current again.
	p.set(func() { p.down, p.ixfr, p.axfr = false, nil, nil; p.zones[2] = []string{"b.example CNAME ."} })
	a.Notify()
	if _, err := a.Fetch(ctx); err != nil {
		t.Fatalf("primary back: %v", err)
	}
	if serial, _, _ := a.Held(); serial != 2 {
		t.Errorf("serial %d after the primary came back", serial)
	}
}

// A key the primary does not know, or the wrong secret: refused, nothing loaded.
func TestAXFRBadKey(t *testing.T) {
	p := startPrimary(t)
	p.zones[1] = []string{"a.example CNAME ."}
	for _, a := range []*AXFR{
		{Zone: testZone, Server: p.addr, Key: testKey, Secret: "d3Jvbmctc2VjcmV0LW9mLTMyLWJ5dGVzLXh4eHh4eHg=", Timeout: time.Second},
		{Zone: testZone, Server: p.addr, Timeout: time.Second},
	} {
		if body, err := a.Fetch(context.Background()); err == nil || body != nil {
			t.Errorf("key %q: body %q, err %v", a.Key, body, err)
		}
	}
}

// An AXFR answer with a record that is not zone data (an OPT, which miekg/dns writes over several lines)
// is refused: in the body it would not read as one record.
func TestWholeZoneRefusesOPT(t *testing.T) {
	a := &AXFR{Zone: testZone}
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: testZone, Rrtype: dns.TypeOPT}}
	if _, _, err := a.wholeZone([]dns.RR{soaRR(1), opt, soaRR(1)}); err == nil || !strings.Contains(err.Error(), "OPT") {
		t.Errorf("an OPT record in the zone: %v", err)
	}
}

// mergeDiff never takes a deletion of a record it does not hold.
func TestMergeDiff(t *testing.T) {
	got, err := mergeDiff([]string{"b", "d", "f"}, []string{"d"}, []string{"a", "d", "e", "g"})
	if err != nil || strings.Join(got, "") != "abdefg" {
		t.Errorf("mergeDiff: %v %v", got, err)
	}
	// More deletions than records held (a primary's IXFR): an error, not a panic making the result.
	for _, del := range [][]string{{"c"}, {"z"}, {"a"}, {"a", "b", "d"}, {"b", "d", "e"}} {
		if _, err := mergeDiff([]string{"b", "d"}, del, nil); !errors.Is(err, errInconsistent) {
			t.Errorf("deleting %v: %v", del, err)
		}
	}
}
