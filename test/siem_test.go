package test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
)

// TestSIEM, the binary against a real rsyslog: the in-line firewall sends each decision as RFC 5424
// over TCP, threatlog each stored event on a listed address as CEF over TLS (verifying rsyslog's
// certificate); rsyslog parses both.
func TestSIEM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rs := coretest.StartRsyslog(t, dir)
	feed := filepath.Join(dir, "bad.txt")
	writeFile(t, feed, "1.10.16.0/20\nevil.example\n")
	var listen string
	s := startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		port, ready, metrics := freePort(t, true), freePort(t, false), freePort(t, false)
		listen = fmt.Sprintf("127.0.0.1:%d", freePort(t, false))
		return fmt.Sprintf(`.:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    threatfeed {
        feed bad {
            file %[4]s
            format plain
            category c2
        }
    }
    threatlog threatstop.test {
        listen %[5]s
        db %[6]s
        token demo gw siem-test-token-0123456789
        siem tls://%[7]s cef ca %[8]s
    }
    threatstop threatstop.test {
        policy demo {
            lists bad
        }
    }
    threatfirewall {
        client 127.0.0.0/8 demo
        siem tcp://%[9]s rfc5424
    }
    forward . 127.0.0.1:9
}
`, port, ready, metrics, feed, listen, filepath.Join(dir, "threatlog.db"), strings.Replace(rs.TLS, "127.0.0.1", "localhost", 1), rs.CAFile, rs.TCP), port, ready, metrics
	})
	if r := s.Query(t, "evil.example.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Fatalf("evil.example through the firewall: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	ts := time.Now().Format(time.Stamp)
	log := ts + " gw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=1.10.16.5 DST=192.168.1.20 LEN=60 PROTO=TCP SPT=443 DPT=51234\n" +
		ts + " gw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=198.51.100.77 DST=192.168.1.20 LEN=60 PROTO=TCP SPT=443 DPT=51235\n"
	req, _ := http.NewRequest("POST", "http://"+listen+"/upload", strings.NewReader(log))
	req.Header.Set("Authorization", "Bearer siem-test-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %v %v", err, resp)
	}
	resp.Body.Close()
	rs.WaitFor(t, 15*time.Second,
		`tcp host=`, ` app=threatstop msgid=decision pri=132 sd=[threatstop@32473 policy="demo" client="127.0.0.1" qname="evil.example." list="bad" category="c2" action="nxdomain"]`,
		`tls host=`, ` app=threatstop msgid=hit pri=132 sd=- msg=CEF:0|threatstop|threatstop|1|hit|Firewall event on a listed address|7|rt=`,
		`src=1.10.16.5 dst=192.168.1.20 deviceDirection=0 dvchost=gw act=drop cat=c2 cs1Label=policy cs1=demo cs2Label=list cs2=bad`)
	// A second upload, of a listed event only: once it arrives, anything of the first upload has too.
	ts2 := time.Now().Format(time.Stamp)
	req, _ = http.NewRequest("POST", "http://"+listen+"/upload", strings.NewReader(ts2+" gw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=1.10.16.9 DST=192.168.1.21 LEN=60 PROTO=TCP SPT=443 DPT=51236\n"))
	req.Header.Set("Authorization", "Bearer siem-test-token-0123456789")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("second upload: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	rs.WaitFor(t, 15*time.Second, `src=1.10.16.9 dst=192.168.1.21`)
	if strings.Contains(rs.Output(), "198.51.100.77") {
		t.Error("an event on an address no list holds went to the SIEM")
	}
}
