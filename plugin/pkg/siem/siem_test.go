package siem_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/pkg/siem"
)

// TestRsyslog: rsyslog receives a decision as RFC 5424 over TCP and a log hit as CEF over TLS (its gtls
// driver, with the test certificate), and parses both: the header fields, the structured data, the
// CEF message.
func TestRsyslog(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	var r *coretest.Rsyslog
	pool := x509.NewCertPool()
	tcp := &siem.Sender{Format: siem.RFC5424, Hostname: "ts1"}
	tlsS := &siem.Sender{Format: siem.CEF, Hostname: "ts1"}
	r = coretest.StartRsyslog(t, dir)
	pool.AddCert(r.CA)
	tcp.Addr, tlsS.Addr = r.TCP, r.TLS
	tlsS.TLS = &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	tcp.Start()
	tlsS.Start()
	defer tcp.Stop()
	defer tlsS.Stop()
	tcp.Send(siem.Event{Time: at, Kind: "decision", Policy: "demo", Client: "192.168.1.20", QName: "evil.example.", List: "custom", Category: "custom", Action: "nxdomain"})
	tlsS.Send(siem.Event{Time: at, Kind: "hit", Policy: "demo", Client: "192.168.1.20", Remote: "1.10.16.5", List: "spamhaus-drop", Category: "spam", Action: "drop", Device: "gw", Dir: "in"})
	r.WaitFor(t, 15*time.Second,
		`tcp host=ts1 app=threatstop msgid=decision pri=132 sd=[threatstop@32473 policy="demo" client="192.168.1.20" qname="evil.example." list="custom" category="custom" action="nxdomain"] msg=policy="demo" client="192.168.1.20" qname="evil.example." list="custom" category="custom" action="nxdomain"`,
		`tls host=ts1 app=threatstop msgid=hit pri=132 sd=- msg=CEF:0|threatstop|threatstop|1|hit|Firewall event on a listed address|7|rt=1796666400000 src=1.10.16.5 dst=192.168.1.20 deviceDirection=0 dvchost=gw act=drop cat=spam cs1Label=policy cs1=demo cs2Label=list cs2=spamhaus-drop`)
	if tcp.Sent() != 1 || tlsS.Sent() != 1 || tcp.Dropped()+tlsS.Dropped() != 0 {
		t.Errorf("sent %d and %d, dropped %d and %d", tcp.Sent(), tlsS.Sent(), tcp.Dropped(), tlsS.Dropped())
	}
}

// TestParse: the directive's arguments.
func TestParse(t *testing.T) {
	for _, bad := range [][]string{{}, {"udp://1.2.3.4:514"}, {"tcp://nohost"}, {"tcp://1.2.3.4:514", "json"}, {"tcp://1.2.3.4:514", "ca", "x.pem"}, {"tls://1.2.3.4:6514", "ca", "/nonexistent.pem"}} {
		if _, err := siem.Parse(bad); err == nil {
			t.Errorf("siem %q accepted", bad)
		}
	}
	s, err := siem.Parse([]string{"tls://siem.example:6514", "cef"})
	if err != nil || s.Format != siem.CEF || s.TLS == nil || s.TLS.ServerName != "siem.example" || s.Addr != "siem.example:6514" {
		t.Errorf("tls://siem.example:6514 cef: %+v %v", s, err)
	}
}

// TestHostile: a query name or device string crafted to add fields adds none, in the structured data,
// the message text or CEF.
func TestHostile(t *testing.T) {
	r := coretest.StartRsyslog(t, t.TempDir())
	tcp := &siem.Sender{Addr: r.TCP, Format: siem.RFC5424, Hostname: "ts1"}
	cef := &siem.Sender{Addr: r.TCP, Format: siem.CEF, Hostname: "ts2"}
	tcp.Start()
	cef.Start()
	defer tcp.Stop()
	defer cef.Stop()
	evil := `a action=accept policy=victim]"x\y|z`
	tcp.Send(siem.Event{Time: time.Unix(0, 0), Kind: "decision", Policy: "demo", QName: evil, Action: "nxdomain"})
	cef.Send(siem.Event{Time: time.Unix(0, 0), Kind: "hit", Policy: "demo", Device: evil, Action: "drop"})
	r.WaitFor(t, 15*time.Second,
		`sd=[threatstop@32473 policy="demo" qname="a action=accept policy=victim\]\"x\\y|z" action="nxdomain"] msg=policy="demo" qname="a action=accept policy=victim\]\"x\\y|z" action="nxdomain"`,
		`dvchost=a action\=accept policy\=victim]"x\\y|z act=drop`)
}
