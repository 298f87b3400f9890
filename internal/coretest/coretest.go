// Package coretest starts the threatstop binary's plugin chain in-process from a Corefile, for tests that
// need a real CoreDNS server on real sockets without building the binary. Use port 0 in server block keys
// ("threatstop.local:0") and ask Addrs for what the server bound.
package coretest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	_ "github.com/threatstop/threatstop/cmd/threatstop/chain" // the plugins and directive order of the binary
	"github.com/threatstop/threatstop/plugin/threatadmin"
)

var mu sync.Mutex // caddy's start-up is not safe for concurrent use

// Server is a running in-process CoreDNS.
type Server struct {
	Inst     *caddy.Instance
	UDP, TCP string // addresses of the first server
}

// Start starts a server from corefile and stops it when the test ends.
func Start(tb testing.TB, corefile string) *Server {
	tb.Helper()
	s, err := StartErr(corefile)
	if err != nil {
		tb.Fatalf("start CoreDNS: %v", err)
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}

// Stop shuts the server down as the process does on SIGTERM: the plugins' shutdown hooks (which stop
// their goroutines and listeners), then the servers; those of the instance it runs as now, when
// threatadmin's device changes restarted it.
func (s *Server) Stop() {
	s.Inst = threatadmin.Restarted(s.Inst)
	s.Inst.ShutdownCallbacks()
	s.Inst.Stop()
}

// StartErr starts a server from corefile, for tests that expect start-up to fail.
func StartErr(corefile string) (*Server, error) {
	mu.Lock()
	defer mu.Unlock()
	if err := dnsserver.Register(); err != nil {
		return nil, err
	}
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(input(corefile))
	if err != nil {
		return nil, err
	}
	s := &Server{Inst: inst}
	if srvs := inst.Servers(); len(srvs) > 0 {
		if a := srvs[0].LocalAddr(); a != nil {
			s.UDP = a.String()
		}
		if a := srvs[0].Addr(); a != nil {
			s.TCP = a.String()
		}
	}
	return s, nil
}

// FreeAddr is a loopback TCP address nothing listens on now, for a plugin's HTTP listener.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreeDNSAddr is a loopback address whose port is free for both TCP and UDP now, for a DNS server whose
// address another server must know before it starts (with port 0, a server's UDP and TCP ports differ).
func FreeDNSAddr(tb testing.TB) string {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	tb.Fatal("no port free for both TCP and UDP")
	return ""
}

// Exchange sends m over net ("udp" or "tcp") and returns the reply.
func (s *Server) Exchange(tb testing.TB, net string, m *dns.Msg) *dns.Msg {
	tb.Helper()
	addr := s.UDP
	if net == "tcp" {
		addr = s.TCP
	}
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		tb.Fatalf("%s query %s %s: %v", net, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r
}

// Query asks name/qtype over UDP with the RD bit clear, as a DNSBL client does.
func (s *Server) Query(tb testing.TB, name string, qtype uint16) *dns.Msg {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	return s.Exchange(tb, "udp", m)
}

type input string

// Input is corefile as caddy reads it, for an instance's Restart (a reload).
func Input(corefile string) caddy.Input { return input(corefile) }

func (i input) Body() []byte       { return []byte(i) }
func (i input) Path() string       { return "Corefile" }
func (i input) ServerType() string { return "dns" }

// Counter reads a counter or a gauge of the default registry, which the prometheus plugin serves: the
// first series of name whose labels include labels; 0 when there is none.
func Counter(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metric
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
