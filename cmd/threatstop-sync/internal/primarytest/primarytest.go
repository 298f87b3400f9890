// Package primarytest is an in-process DNS primary for tests: it serves versions of one zone by AXFR and
// IXFR over TCP (and SOA over UDP), signed with one TSIG key, and lets a test inject faults into the next
// transfers (a broken IXFR, a truncated transfer, a mismatched SOA, REFUSED) and send NOTIFY.
//
// Cost: one goroutine per listener; a transfer is built in memory.
package primarytest

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Faults.
const (
	None            = ""
	DeleteMissing   = "delete-missing"   // the IXFR deletes a record the client cannot hold
	AddPresent      = "add-present"      // the IXFR adds a record the client already holds
	WrongFrom       = "wrong-from"       // the IXFR's difference starts at another serial
	Truncate        = "truncate"         // the connection ends before the closing SOA
	ClosingMismatch = "closing-mismatch" // the closing SOA has another serial
	Refuse          = "refuse"           // REFUSED, signed
)

// Primary serves one zone.
type Primary struct {
	Addr   string // 127.0.0.1:port, TCP and UDP
	Origin string
	Key    string // TSIG key name
	Secret string

	tcp, udp *dns.Server

	mu       sync.Mutex
	versions map[uint32][]string // serial -> records, "OWNER TYPE DATA" with the owner relative ("@": apex)
	serial   uint32
	fault    string
	queries  []string
}

// Start serves origin on a free loopback port; it stops at the end of the test.
func Start(t testing.TB, origin, key, secret string) *Primary {
	t.Helper()
	p := &Primary{Origin: dns.Fqdn(origin), Key: key, Secret: secret, versions: map[uint32][]string{}}
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", l.Addr().String())
		if err != nil {
			l.Close()
			continue
		}
		p.Addr = l.Addr().String()
		p.tcp = p.server(&dns.Server{Listener: l, Net: "tcp"})
		p.udp = p.server(&dns.Server{PacketConn: pc, Net: "udp"})
		t.Cleanup(p.Stop)
		return p
	}
	t.Fatal("no free port for TCP and UDP")
	return nil
}

func (p *Primary) server(s *dns.Server) *dns.Server {
	started := make(chan struct{})
	s.Handler = dns.HandlerFunc(p.serve)
	s.TsigSecret = map[string]string{p.Key: p.Secret}
	s.NotifyStartedFunc = func() { close(started) }
	go func() { _ = s.ActivateAndServe() }()
	<-started
	return s
}

// Stop stops serving (the port is then closed: connections are refused).
func (p *Primary) Stop() {
	_ = p.tcp.Shutdown()
	_ = p.udp.Shutdown()
}

// Set makes serial the current version, with records.
func (p *Primary) Set(serial uint32, records ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.versions[serial] = slices.Clone(records)
	p.serial = serial
}

// SetFault injects a fault into the following transfers (None to stop).
func (p *Primary) SetFault(f string) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Queries are the types of the transfers asked so far.
func (p *Primary) Queries() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.queries)
}

// SOA is the zone's SOA at serial.
func (p *Primary) SOA(serial uint32) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: p.Origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
		Ns: "ns1.test.", Mbox: "hostmaster.test.", Serial: serial, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60}
}

// RR is the record of "OWNER TYPE DATA".
func (p *Primary) RR(s string) dns.RR {
	owner, rest, _ := strings.Cut(s, " ")
	name := p.Origin
	if owner != "@" {
		name = owner + "." + p.Origin
	}
	r, err := dns.NewRR(name + " 300 IN " + rest)
	if err != nil {
		panic(err)
	}
	return r
}

func (p *Primary) rrs(records []string) []dns.RR {
	var out []dns.RR
	for _, s := range records {
		out = append(out, p.RR(s))
	}
	return out
}

// Minus is a without the elements of b.
func Minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func (p *Primary) serve(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		return
	}
	q := r.Question[0]
	p.mu.Lock()
	serial, fault := p.serial, p.fault
	cur := p.versions[serial]
	var from uint32
	var old []string
	haveOld := false
	if q.Qtype == dns.TypeIXFR && len(r.Ns) == 1 {
		if s, ok := r.Ns[0].(*dns.SOA); ok {
			from = s.Serial
			old, haveOld = p.versions[from]
		}
	}
	p.queries = append(p.queries, dns.TypeToString[q.Qtype])
	p.mu.Unlock()

	m := new(dns.Msg)
	if w.TsigStatus() != nil || r.IsTsig() == nil {
		m.SetRcode(r, dns.RcodeNotAuth)
		_ = w.WriteMsg(m)
		return
	}
	sign := func(m *dns.Msg) { m.SetTsig(p.Key, dns.HmacSHA256, 300, time.Now().Unix()) }
	if fault == Refuse {
		m.SetRcode(r, dns.RcodeRefused)
		sign(m)
		_ = w.WriteMsg(m)
		return
	}
	if q.Qtype == dns.TypeSOA {
		m.SetReply(r)
		m.Answer = []dns.RR{p.SOA(serial)}
		sign(m)
		_ = w.WriteMsg(m)
		return
	}
	var seq []dns.RR
	switch {
	case q.Qtype == dns.TypeIXFR && from == serial:
		seq = []dns.RR{p.SOA(serial)}
	case q.Qtype == dns.TypeIXFR && haveOld:
		gone, added := Minus(old, cur), Minus(cur, old)
		switch fault {
		case DeleteMissing:
			gone = append(gone, "32.9.9.9.9.rpz-ip CNAME .")
		case AddPresent:
			added = append(added, cur[0])
		case WrongFrom:
			from += 100
		}
		seq = append(seq, p.SOA(serial), p.SOA(from))
		seq = append(seq, p.rrs(gone)...)
		seq = append(seq, p.SOA(serial))
		seq = append(seq, p.rrs(added)...)
		seq = append(seq, p.SOA(serial))
	case q.Qtype == dns.TypeIXFR || q.Qtype == dns.TypeAXFR:
		seq = append(seq, p.SOA(serial))
		seq = append(seq, p.rrs(cur)...)
		seq = append(seq, p.SOA(serial))
	default:
		m.SetRcode(r, dns.RcodeRefused)
		sign(m)
		_ = w.WriteMsg(m)
		return
	}
	switch fault {
	case Truncate:
		seq = seq[:len(seq)-1]
	case ClosingMismatch:
		seq[len(seq)-1] = p.SOA(serial + 5)
	}
	ch := make(chan *dns.Envelope)
	done := make(chan error, 1)
	go func() { done <- new(dns.Transfer).Out(w, r, ch) }()
	for i := 0; i < len(seq); i += 3 { // three records a message: every transfer takes several
		ch <- &dns.Envelope{RR: seq[i:min(i+3, len(seq))]}
	}
	close(ch)
	<-done
	_ = w.Close()
}

// Notify sends a NOTIFY of the zone from the local address src ("" for any) to addr and returns the
// answer's rcode.
func (p *Primary) Notify(src, addr string) (int, error) {
	m := new(dns.Msg)
	m.SetNotify(p.Origin)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	if src != "" {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return 0, err
	}
	return r.Rcode, nil
}
