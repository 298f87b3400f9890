package threatlog_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/threatlog"
)

// The simulation: 250 customers with 4 devices each (1,000 sensors), all sharing, upload a day of
// firewall logs (netfilter, Cisco ASA and pf lines, as in testdata/logs) at the end of each simulated
// day, over HTTP through the real parser. What the sensor table lists is checked after every day.
const (
	simCustomers  = 250
	simDevices    = 4
	simMin        = 5 // reporters an address needs to be listed
	simDay0       = "2026-11-24"
	simUploadJobs = 4 // threatlog's upload slots
)

var simAttackers = []string{
	"45.33.32.156",          // 0: attacks on day 1 and in the first hours of day 2, then stops
	"185.107.47.171",        // 1..3: every day
	"2a03:b0c0:3:d0::1e1:1", //
	"193.32.162.10",         //
	"61.177.172.60",         // 4: from day 2 on
}

// Addresses that must never be listed, whoever reports them.
var (
	simPrivate  = []string{"10.20.30.40", "172.16.0.9", "192.168.5.5", "100.64.1.1", "169.254.3.3", "198.51.100.9", "fd00::5", "fe80::7"}
	simClient   = "91.200.1.1"    // in customer c001's clients
	simTransfer = "93.184.216.34" // in customer c004's transfer_clients
	simAllowed  = "23.1.1.1"      // customer c002's own allow entry
	simPartner  = "31.13.70.1"    // in the partners list, customer c003's allow list
	simAccepted = "8.8.8.8"       // inbound, but let through (a DNS answer)
	simOutbound = []string{"185.220.101.1", "94.102.49.190"}
	simFuture   = "5.5.5.5" // dated beyond skew
	simOld      = "6.6.6.6" // dated before the window
	simInsider  = "77.88.0.7"
)

// simInside is customer i's public server, the inside host of its inbound events.
func simInside(i int) string { return fmt.Sprintf("77.88.0.%d", i) }

func simToken(i, d int) string { return fmt.Sprintf("simtoken-c%03d-d%d-0123456789", i, d) }

func simCorefile(t *testing.T, dir, addr string) string {
	partners := filepath.Join(dir, "partners.txt")
	if err := os.WriteFile(partners, []byte("31.13.64.0/18\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var tl, ts strings.Builder
	for i := range simCustomers {
		fmt.Fprintf(&tl, "        share c%03d\n", i)
		for d := range simDevices {
			fmt.Fprintf(&tl, "        token c%03d d%d %s\n", i, d, simToken(i, d))
		}
		extra := ""
		switch i {
		case 1:
			extra = "            clients 91.200.0.0/16 192.168.0.0/16\n"
		case 2:
			extra = "            allow 23.1.1.1\n"
		case 3:
			extra = "            allow_lists partners\n"
		case 4:
			extra = "            transfer_clients 93.184.216.0/24\n"
		}
		fmt.Fprintf(&ts, "        policy c%03d {\n            lists spamhaus-drop\n%s        }\n", i, extra)
	}
	return fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    tsig {
        secret sim.key. %[1]s
    }
    threatfeed {
        feed spamhaus-drop {
            file %[2]s/spamhaus_drop.txt
            format spamhaus
            category spam
        }
        feed partners {
            file %[3]s
            format plain
            category partner
        }
        feed sensors {
            sensors
            min_reporters %[8]d
            window 24h
            decay 12h
            refresh 100ms
            category scanner
        }
    }
    threatlog {
        listen %[4]s
        db %[5]s/threatlog.db
%[6]s    }
    threatstop {
%[7]s        policy watch {
            lists sensors
        }
    }
}
`, demoSecret, filepath.Join(root(t), "testdata", "feeds"), partners, addr, dir, tl.String(), ts.String(), simMin)
}

// simLine writes one log line of device d's format (0, 3: netfilter; 1: ASA; 2: pf) for a packet from
// src to dst at ts, inbound (in) or outbound; pass: the device let it through.
func simLine(b *strings.Builder, d int, ts time.Time, in, pass bool, src, dst string, sport, dport int) {
	switch d % 3 {
	case 0:
		prefix, io := "IPTABLES-DROP:", "IN=eth0 OUT="
		if pass {
			prefix = "ACCEPT-LOG"
		}
		if !in {
			io = "IN= OUT=eth0"
		}
		fmt.Fprintf(b, "%s gw%d kernel: [8812.337001] %s %s MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=%s DST=%s LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=0 DF PROTO=TCP SPT=%d DPT=%d WINDOW=65535 RES=0x00 SYN URGP=0\n",
			ts.Format(time.Stamp), d, prefix, io, src, dst, sport, dport)
	case 1:
		if pass {
			fmt.Fprintf(b, "%s: %%ASA-6-302013: Built inbound TCP connection 9001 for outside:%s/%d (%s/%d) to inside:%s/%d (%s/%d)\n",
				ts.Format("Jan _2 2006 15:04:05"), src, sport, src, sport, dst, dport, dst, dport)
			return
		}
		srcIf, dstIf, acl := "outside", "inside", "outside_in"
		if !in {
			srcIf, dstIf, acl = "inside", "outside", "inside_out"
		}
		fmt.Fprintf(b, "%s: %%ASA-4-106023: Deny tcp src %s:%s/%d dst %s:%s/%d by access-group \"%s\" [0x0, 0x0]\n",
			ts.Format("Jan _2 2006 15:04:05"), srcIf, src, sport, dstIf, dst, dport, acl)
	case 2:
		action, dir := "block", "in"
		if pass {
			action = "pass"
		}
		if !in {
			dir = "out"
		}
		fmt.Fprintf(b, "%s rule 0/(match) %s %s on em0: %s.%d > %s.%d: S 2914297924:2914297924(0) win 16384 <mss 1460,nop,nop,sackOK,nop,wscale 0> (DF)\n",
			ts.Format("Jan _2 15:04:05.000000"), action, dir, src, sport, dst, dport)
	}
}

// simLog is device d of customer i's log of day n (1-based), which starts at day.
func simLog(i, d, n int, day time.Time) []byte {
	var b strings.Builder
	inside := simInside(i)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	for k, a := range simAttackers {
		if (i+k)%5 == 0 || (i+k)%simDevices != d || k == 4 && n < 2 || k == 0 && n > 2 {
			continue
		}
		h := (i+k)%20 + 1
		if k == 0 && n == 2 {
			h = i % 4 // the last hours it attacks
		}
		for r := range 3 { // a few attempts
			simLine(&b, d, at(h, 10*r+d), true, false, a, inside, 40000+r, 22)
		}
	}
	// Reported once by one customer: a scan only this device saw.
	simLine(&b, d, at(d+1, 5), true, false, fmt.Sprintf("81.%d.%d.%d", n, i, d+1), "192.168.1.20", 5555, 23)
	// Reported by every device of one customer, every day: still one reporter.
	simLine(&b, d, at(d+2, 6), true, false, fmt.Sprintf("82.1.%d.1", i), inside, 5555, 3389)
	// Not public.
	for j, a := range simPrivate {
		dst := "192.168.1.20"
		if strings.Contains(a, ":") {
			dst = "2001:db8::20"
		}
		simLine(&b, d, at(j%20, 7), true, false, a, dst, 1024+j, 445)
	}
	// Another customer's own server, as every third customer's firewall sees it.
	if i%3 == 0 && i != 7 {
		simLine(&b, d, at(12, d), true, false, simInsider, "192.168.1.20", 443, 50000)
	}
	for _, a := range []string{simClient, simTransfer, simAllowed, simPartner} {
		simLine(&b, d, at(13, d), true, false, a, inside, 53, 40000)
	}
	simLine(&b, d, at(14, d), true, true, simAccepted, "192.168.1.20", 53, 40001)
	for _, a := range simOutbound {
		simLine(&b, d, at(15, d), false, false, "192.168.1.21", a, 51000, 9001)
	}
	simLine(&b, d, at(36, 0), true, false, simFuture, inside, 1, 22) // 13 hours after the upload
	simLine(&b, d, at(-26, 0), true, false, simOld, inside, 1, 22)   // 2 days before
	b.WriteString("Nov 23 15:20:07 gw kernel: [8817.000000] e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex\n")
	b.WriteString("Nov 23 15:20:08 gw systemd[1]: Started Daily apt upgrade and clean activities.\n")
	return []byte(b.String())
}

// TestSensorSimulation: over four simulated days, an attacker many customers report is listed by the
// table after the day's uploads, with the number of customers, and by the sensors feed (policy watch,
// over DNS) within a refresh of the day's uploads; one that stops is gone from the feed once the decay
// (12 h) passes, and from the table once the window does; an address one customer reports, however
// often, is never listed; and no private address, customer's inside host, client or transfer-client
// network, allowed address, outbound-only, let-through, future or old address ever appears in the
// table at any threshold, nor in the feed. The feed runs on the simulation's clock (the table's).
func TestSensorSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	tbl := freshSensors(t)
	day0, _ := time.Parse(time.DateOnly, simDay0)
	var clockAt atomic.Pointer[time.Time]
	setNow := func(ts time.Time) { clockAt.Store(&ts) }
	setNow(day0)
	t.Cleanup(threatlog.SetClock(func() time.Time { return *clockAt.Load() }))
	tbl.SetClock(func() time.Time { return *clockAt.Load() })
	e := &env{t: t, dir: t.TempDir(), addr: freePort(t)}
	s := time.Now()
	e.srv = startCorefile(t, simCorefile(t, e.dir, e.addr))
	t.Logf("started %d customers, %d devices in %s", simCustomers, simCustomers*simDevices, time.Since(s).Round(time.Millisecond))

	never := map[string]string{simClient: "client network", simTransfer: "transfer-client network", simAllowed: "allowed",
		simPartner: "allow list", simAccepted: "let through", simFuture: "future", simOld: "old", simInsider: "inside host"}
	for _, a := range simPrivate {
		never[netip.MustParseAddr(a).String()] = "not public"
	}
	for _, a := range simOutbound {
		never[a] = "outbound only"
	}
	for i := range simCustomers {
		never[simInside(i)] = "inside host"
	}
	// check lists at now and compares with the attackers expected, checking what must never appear.
	check := func(label string, now time.Time, decay time.Duration, want ...int) {
		t.Helper()
		for _, e := range tbl.List(now, 0, 1, 0) {
			if why, bad := never[e.Addr.String()]; bad {
				t.Errorf("%s: %s listed (%s) by %d reporters", label, e.Addr, why, e.Reporters)
			}
			if strings.HasPrefix(e.Addr.String(), "81.") && e.Reporters != 1 || strings.HasPrefix(e.Addr.String(), "82.1.") && e.Reporters != 1 {
				t.Errorf("%s: %s has %d reporters, want 1", label, e.Addr, e.Reporters)
			}
		}
		var got, wantS []string
		for _, e := range tbl.List(now, 0, simMin, decay) {
			got = append(got, fmt.Sprintf("%s %d", e.Addr, e.Reporters))
		}
		for _, k := range want {
			wantS = append(wantS, fmt.Sprintf("%s %d", netip.MustParseAddr(simAttackers[k]), simCustomers*4/5))
		}
		slices.SortFunc(wantS, func(a, b string) int {
			return netip.MustParseAddr(strings.Fields(a)[0]).Compare(netip.MustParseAddr(strings.Fields(b)[0]))
		})
		if !slices.Equal(got, wantS) {
			t.Errorf("%s: listed %q, want %q", label, got, wantS)
		}
	}

	upload := func(n int) {
		day := day0.AddDate(0, 0, n-1)
		setNow(day.Add(23 * time.Hour)) // the day's logs arrive at its end
		jobs := make(chan [2]int)
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range simUploadJobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					i, d := j[0], j[1]
					body := simLog(i, d, n, day)
					headers := map[string]string{}
					if d == 1 {
						body, headers["Content-Encoding"] = gz(body), "gzip"
					}
					req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+"/upload", strings.NewReader(string(body)))
					for k, v := range headers {
						req.Header.Set(k, v)
					}
					req.Header.Set("Authorization", "Bearer "+simToken(i, d))
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != http.StatusOK {
						if failed.Add(1) < 5 {
							t.Errorf("day %d: upload of c%03d/d%d: %v %v", n, i, d, err, resp)
						}
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			}()
		}
		for i := range simCustomers {
			for d := range simDevices {
				jobs <- [2]int{i, d}
			}
		}
		close(jobs)
		wg.Wait()
	}

	// served says whether policy watch lists a (the sensors feed) over DNS.
	served := func(a string) bool { return dnsblListed(t, e.srv, "watch", a) }
	// feed checks, within 2 s of the day's uploads (the feed refreshes every 100 ms), that the feed lists
	// the attackers want and nothing else of what the table holds, nor anything that must never be.
	feed := func(label string, want ...int) {
		t.Helper()
		wantSet := map[string]bool{}
		for _, k := range want {
			wantSet[netip.MustParseAddr(simAttackers[k]).String()] = true
		}
		wrong := func() string { // the first attacker served and not wanted, or wanted and not served
			for k, a := range simAttackers {
				if is := served(a); is != wantSet[netip.MustParseAddr(a).String()] {
					return fmt.Sprintf("attacker %d (%s) served: %v", k, a, is)
				}
			}
			return ""
		}
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			w := wrong()
			if w == "" {
				break
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: the sensors feed does not serve attackers %v within 2 s: %s", label, want, w)
			}
		}
		n := 0
		for _, e := range tbl.List(*clockAt.Load(), 0, 1, 0) {
			if a := e.Addr.String(); !wantSet[a] && served(a) {
				t.Errorf("%s: %s served by the sensors feed (%d reporters)", label, a, e.Reporters)
			}
			if n++; n > 400 { // a sample of the one-off reports
				break
			}
		}
		for a, why := range never {
			if served(a) {
				t.Errorf("%s: %s served by the sensors feed (%s)", label, a, why)
			}
		}
	}

	s = time.Now()
	upload(1)
	t.Logf("day 1: %d uploads in %s", simCustomers*simDevices, time.Since(s).Round(time.Millisecond))
	check("day 1", clockAt.Load().Add(time.Minute), 0, 0, 1, 2, 3)
	feed("day 1", 0, 1, 2, 3)
	upload(2)
	d2 := *clockAt.Load()
	check("day 2", d2.Add(time.Minute), 0, 0, 1, 2, 3, 4)
	// Attacker 0 stopped 19 hours before: with a decay of 12 hours it is gone, the others stay.
	check("day 2, decay 12h", d2.Add(time.Minute), 12*time.Hour, 1, 2, 3, 4)
	feed("day 2", 1, 2, 3, 4)
	upload(3)
	check("day 3", clockAt.Load().Add(time.Minute), 0, 1, 2, 3, 4) // its last report is out of the window
	feed("day 3", 1, 2, 3, 4)
	// Nothing more arrives: a window after the last report, nothing is listed or kept.
	end := clockAt.Load().Add(25 * time.Hour)
	setNow(end)
	feed("a day later")
	check("a day later", end, 0)
	if n := tbl.Len(); n != 0 {
		t.Errorf("%d addresses kept a window after the last report", n)
	}
	t.Logf("total %s", time.Since(s).Round(time.Millisecond))
}

// dnsblListed reports whether policy pol of threatstop.local lists address a (IPv4 or IPv6), asked as a
// DNSBL lookup.
func dnsblListed(t *testing.T, srv *coretest.Server, pol, a string) bool {
	t.Helper()
	rev, _ := dns.ReverseAddr(a)
	rev = strings.TrimSuffix(strings.TrimSuffix(rev, "in-addr.arpa."), "ip6.arpa.")
	r := srv.Query(t, rev+pol+".threatstop.local.", dns.TypeA)
	return r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
}

// startCorefile starts a server of corefile and stops it at the test's end.
func startCorefile(t *testing.T, corefile string) *coretest.Server {
	t.Helper()
	s, err := coretest.StartErr(corefile)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
