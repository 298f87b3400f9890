// Package notify listens for DNS NOTIFY (RFC 1996) of the policy's zone on UDP, so the device fetches as
// soon as the server's serial moves instead of at the next scheduled check. Only NOTIFY of that zone
// from the configured servers' addresses is acknowledged; with a TSIG key, a signed NOTIFY must verify
// (an unsigned one is taken from those addresses, as threatstop sends them unsigned). Anything else is
// answered REFUSED and triggers nothing. The NOTIFY carries no data that is used: it only wakes the loop,
// which then fetches by a signed IXFR as usual.
//
// Cost: one goroutine and one socket; a NOTIFY costs one answer.
package notify

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Listener acknowledges NOTIFYs and signals C (buffered: many NOTIFYs before a fetch are one fetch).
type Listener struct {
	C    chan struct{}
	Addr net.Addr

	zone    string
	allowed map[netip.Addr]bool
	srv     *dns.Server
	logf    func(format string, args ...any)
}

// Listen starts a listener on addr (UDP) for zone, from the allowed addresses. key and secret (optional)
// verify signed NOTIFYs.
func Listen(addr, zone string, allowed []netip.Addr, key, secret string, logf func(string, ...any)) (*Listener, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	l := &Listener{
		C:       make(chan struct{}, 1),
		Addr:    pc.LocalAddr(),
		zone:    strings.ToLower(dns.Fqdn(zone)),
		allowed: map[netip.Addr]bool{},
		logf:    logf,
	}
	for _, a := range allowed {
		l.allowed[a.Unmap()] = true
	}
	started := make(chan struct{})
	l.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(l.serve), NotifyStartedFunc: func() { close(started) }}
	if key != "" {
		l.srv.TsigSecret = map[string]string{key: secret}
	}
	errc := make(chan error, 1)
	go func() { errc <- l.srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-errc:
		return nil, err
	case <-time.After(5 * time.Second):
		pc.Close()
		return nil, fmt.Errorf("NOTIFY listener on %s did not start", addr)
	}
	return l, nil
}

// Close stops the listener.
func (l *Listener) Close() error { return l.srv.Shutdown() }

func (l *Listener) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	from := addrOf(w.RemoteAddr())
	ok := true
	why := ""
	switch {
	case r.Opcode != dns.OpcodeNotify:
		ok, why = false, "not a NOTIFY"
	case !l.allowed[from]:
		ok, why = false, "not from a configured server"
	case len(r.Question) != 1 || !strings.EqualFold(r.Question[0].Name, l.zone) || r.Question[0].Qtype != dns.TypeSOA:
		ok, why = false, "not for "+l.zone
	case r.IsTsig() != nil && w.TsigStatus() != nil:
		ok, why = false, "TSIG: "+w.TsigStatus().Error()
	}
	if !ok {
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		if l.logf != nil {
			l.logf("NOTIFY from %s refused: %s", w.RemoteAddr(), why)
		}
		return
	}
	m.Authoritative = true
	if t := r.IsTsig(); t != nil {
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	}
	_ = w.WriteMsg(m)
	select {
	case l.C <- struct{}{}:
	default:
	}
}

func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
