package test

import (
	"bytes"
	"context"
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The in-line firewall end to end: a second process of the built binary serves the zone fw.test. with the
// file plugin (the upstream); the firewall process forwards to it through a cache, with the threatstop
// firewall in front of the cache. Feeds and zone are written by the test into its temporary directory.
//
// The firewall process has three server blocks:
//
//   - FW (127.0.0.1 and 127.0.0.2): policies demo and base; 127.0.0.0/8 uses demo, 127.0.0.2 and ECS
//     198.51.100.0/24 use base; TSIG keys fwkey. (base) and demokey. (demo); ecs; ttl 120; origin fw.example.
//   - PLAIN: the same cache and forward without threatstop, the reference for "untouched".
//   - FW2: triggers client and qname only, ecs, default ttl and origin; every client uses demo (a policy of
//     the earlier block) except 127.0.0.8/29, which uses its own policy local (block 127.0.0.8/29, allow
//     127.0.0.9).

const (
	fwZone       = "fw.test."
	fwTTL        = 120 // the FW block's firewall ttl
	fwOrigin     = "fw.example."
	fwDropWait   = 400 * time.Millisecond // how long a client waits for an answer that a drop never sends
	fwRedirect4  = "45.79.19.196"
	fwRedirect6  = "2a01:4f8:c17:b8f::2"
	fwKeySecret  = "NoTCJU+DMqFWywaPyxSijrDEA/eC3nK0xi3AMEZuPVk="
	fwKey2Secret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	fwKey3Secret = "c2VjcmV0LW9mLWEta2V5LXdpdGhvdXQtYS1ydWxlIQ=="
)

// fwZoneText is the upstream's zone: clean names, CNAME chains, and names whose answers hold listed
// addresses or point to listed names. The feed entries are in fwFeeds.
const fwZoneText = `$ORIGIN fw.test.
$TTL 300
@             IN SOA   ns1.fw.test. hostmaster.fw.test. 2026112301 3600 600 604800 300
@             IN NS    ns1
ns1           IN A     192.0.2.53
; clean
www           IN A     192.0.2.10
www           IN AAAA  2001:db8::10
www           IN TXT   "clean"
alias         IN CNAME www
alias2        IN CNAME alias
; clean, compared byte for byte (queried by that test only)
cmp-a         IN A     192.0.2.100
cmp-a         IN A     192.0.2.101
cmp-chain     IN CNAME cmp-mid
cmp-mid       IN CNAME cmp-end
cmp-end       IN A     192.0.2.102
cmp-end       IN AAAA  2001:db8::102
cmp-v6        IN AAAA  2001:db8::103
; names listed in feeds (qname trigger), and CNAMEs to them (cname trigger)
spam-name     IN A     192.0.2.50
tospam        IN CNAME spam-name
x.wild        IN A     192.0.2.51
towild        IN CNAME x.wild
y.wild        IN A     192.0.2.52
logcname      IN CNAME y.wild
custom        IN A     192.0.2.54
x.customwild  IN A     192.0.2.55
xwild         IN A     192.0.2.57
qonly         IN CNAME z.wild
z.wild        IN A     192.0.2.56
; listed addresses (ip trigger)
spamip        IN A     1.10.16.5
spamip6       IN AAAA  2a06:e480::1
spamchain     IN CNAME chainmid
chainmid      IN CNAME spamip
logip         IN A     1.10.31.255
printer       IN A     203.0.113.7
mixedip       IN A     1.10.16.7
mixedip       IN A     1.10.16.8
allowedip     IN A     1.10.16.7
allowed       IN A     1.10.16.9
toallowed     IN CNAME allowed
; one name and one address per action
malware-name  IN A     192.0.2.60
malware-name  IN AAAA  2001:db8::60
malware-name  IN TXT   "malware"
tomalware     IN CNAME malware-name
malwareip     IN A     5.188.10.5
phish-name    IN A     192.0.2.61
phiship       IN A     23.94.5.5
botnet-name   IN A     192.0.2.62
botnetip      IN A     91.200.12.5
ads-name      IN A     192.0.2.63
adsip         IN A     185.60.216.5
monitor-name  IN A     192.0.2.64
monitorip     IN A     66.240.192.5
both-name     IN A     192.0.2.65
; cache, client selection, ECS, TSIG and reload
cache-bad     IN A     1.10.16.22
sel-a         IN A     1.10.16.20
sel-b         IN A     1.10.16.21
ecsip         IN A     1.10.16.23
tsigip        IN A     1.10.16.24
dynip         IN A     77.88.99.10
`

// fwFeeds are the feed files (plain format), by feed name; the category of each is fwCategory.
var fwFeeds = map[string]string{
	"spam":    "# spam\n1.10.16.0/20\n2a06:e480::/32\nspam-name.fw.test\n*.wild.fw.test\n",
	"malware": "5.188.10.0/24\nmalware-name.fw.test\n",
	"phish":   "23.94.5.0/24\nphish-name.fw.test\nboth-name.fw.test\n",
	"botnet":  "91.200.12.0/22\nbotnet-name.fw.test\n",
	"ads":     "185.60.216.0/24\nads-name.fw.test\nboth-name.fw.test\n",
	"monitor": "66.240.192.0/24\nmonitor-name.fw.test\n",
	"dyn":     "77.88.100.0/24\n",
}

var fwCategory = map[string]string{
	"spam": "spam", "malware": "malware", "phish": "phishing", "botnet": "botnet", "ads": "ads",
	"monitor": "monitor", "dyn": "dyn",
}

// fwEnv is the upstream and the firewall process.
type fwEnv struct {
	dir     string
	up      *Server // the upstream
	fw      *Server // the firewall process; its Addr is the FW block's
	upPort  int     // the upstream for the FW block
	upPlain int     // for the PLAIN block
	upFW2   int     // for the FW2 block
	fwPort  int     // the FW block
	plain   int     // the PLAIN block
	fw2     int     // the FW2 block
	barrier atomic.Int64
	tsig    map[string]string // the TSIG secrets of the FW block, for the client
}

// startFirewall writes the zone and the feeds, starts the upstream and then the firewall.
func startFirewall(t *testing.T) *fwEnv {
	t.Helper()
	e := &fwEnv{dir: t.TempDir()}
	e.tsig = map[string]string{"fwkey.": fwKeySecret, "demokey.": fwKey2Secret, "otherkey.": fwKey3Secret}
	writeFile(t, filepath.Join(e.dir, "fw.test.zone"), fwZoneText)
	for name, data := range fwFeeds {
		writeFile(t, filepath.Join(e.dir, name+".txt"), data)
	}

	// The upstream serves the zone on one port per firewall server block, each logging its queries with
	// its own tag, so that the tests can count what each block's cache forwarded.
	e.up = startCorefile(t, e.dir, "Corefile.upstream", func() (string, int, int, int) {
		e.upPort, e.upPlain, e.upFW2 = freePort(t, true), freePort(t, true), freePort(t, true)
		ready := freePort(t, false)
		zone := filepath.Join(e.dir, "fw.test.zone")
		var b strings.Builder
		for i, u := range []struct {
			tag  string
			port int
		}{{"fw", e.upPort}, {"plain", e.upPlain}, {"fw2", e.upFW2}} {
			fmt.Fprintf(&b, "fw.test:%d {\n    bind 127.0.0.1\n", u.port)
			if i == 0 {
				fmt.Fprintf(&b, "    ready 127.0.0.1:%d\n", ready)
			}
			fmt.Fprintf(&b, "    log . \"upstream=%s {type} {name} {proto}\"\n    file %s\n}\n\n", u.tag, zone)
		}
		return b.String(), e.upPort, ready, 0
	})

	e.fw = startCorefile(t, e.dir, "Corefile", func() (string, int, int, int) {
		e.fwPort, e.plain, e.fw2 = freePort(t, true), freePort(t, true), freePort(t, true)
		ready, metrics := freePort(t, false), freePort(t, false)
		var feeds strings.Builder
		for _, name := range []string{"spam", "malware", "phish", "botnet", "ads", "monitor", "dyn"} {
			fmt.Fprintf(&feeds, "        feed %s {\n            file %s\n            format plain\n            category %s\n",
				name, filepath.Join(e.dir, name+".txt"), fwCategory[name])
			if name == "dyn" {
				feeds.WriteString("            max_shrink 100%\n")
			}
			feeds.WriteString("        }\n")
		}
		text := fmt.Sprintf(`# FW: the firewall under test.
.:%[1]d {
    bind 127.0.0.1 127.0.0.2
    ready 127.0.0.1:%[4]d
    prometheus 127.0.0.1:%[5]d
    tsig {
        secret fwkey. %[7]s
        secret demokey. %[8]s
        secret otherkey. %[9]s
    }
    threatfeed {
        refresh 1s
%[10]s    }
    threatstop {
        policy demo {
            lists spam malware phish botnet ads monitor dyn
            block 203.0.113.0/24 custom.fw.test *.customwild.fw.test
            allow 1.10.16.7 allowed.fw.test
            action nxdomain
            action malware redirect %[11]s %[12]s
            action phishing nodata
            action botnet drop
            action ads passthru
            action monitor log-only
            action custom nodata
        }
        policy base {
            lists malware
            block 198.51.100.0/24
        }
        firewall {
            client 127.0.0.0/8 demo
            client 127.0.0.2 198.51.100.0/24 base
            key fwkey. base
            key demokey. demo
            ecs
            ttl %[13]d
            origin %[14]s
        }
    }
    cache 30
    forward . 127.0.0.1:%[6]d
}

# PLAIN: the same resolver without the firewall.
.:%[2]d {
    bind 127.0.0.1
    cache 30
    forward . 127.0.0.1:%[15]d
}

# FW2: client and qname triggers only, a policy of the block above and one of its own.
.:%[3]d {
    bind 127.0.0.1
    threatstop {
        policy local {
            lists spam
            block 127.0.0.8/29
            allow 127.0.0.9
        }
        firewall {
            client 0.0.0.0/0 demo
            client 127.0.0.8/29 local
            triggers client qname
            ecs
        }
    }
    cache 30
    forward . 127.0.0.1:%[16]d
}
`, e.fwPort, e.plain, e.fw2, ready, metrics, e.upPort, fwKeySecret, fwKey2Secret, fwKey3Secret, feeds.String(),
			fwRedirect4, fwRedirect6, fwTTL, fwOrigin, e.upPlain, e.upFW2)
		return text, e.fwPort, ready, metrics
	})
	return e
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startCorefile starts the binary on the Corefile that build returns (with the DNS port, the ready port
// and the metrics port, 0 for none, that it uses) and waits until it is ready and answers DNS. A start
// that loses a port race is retried with a new Corefile.
func startCorefile(t *testing.T, dir, name string, build func() (text string, port, ready, metrics int)) *Server {
	t.Helper()
	s := &Server{t: t, Dir: dir, Corefile: filepath.Join(dir, name)}
	for attempt := 1; ; attempt++ {
		text, port, ready, metrics := build()
		s.Text = text
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.ReadyURL = fmt.Sprintf("http://127.0.0.1:%d/ready", ready)
		s.MetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
		writeFile(t, s.Corefile, text)
		s.launch(dir, "-conf", s.Corefile)
		err := s.waitUp(true)
		if err == nil {
			return s
		}
		if s.exited() && strings.Contains(s.Output(), "address already in use") && attempt < 3 {
			t.Logf("port race on start, retrying: %s", lastLines(s.Output(), 3))
			continue
		}
		t.Fatalf("%s did not come up: %v\n--- output ---\n%s", name, err, s.Output())
	}
}

func (e *fwEnv) addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// ---- queries ----

// fwQuery is a recursive query (RD set) with EDNS when edns or do is set.
func fwQuery(name string, qtype uint16, edns, do bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns || do {
		m.SetEdns0(1232, do)
	}
	return m
}

// exchangeFrom sends m to addr over network from the local address src ("" for any), signing it with
// tsig when m carries a TSIG record.
func exchangeFrom(network, src, addr string, m *dns.Msg, timeout time.Duration, tsig map[string]string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: timeout, TsigSecret: tsig}
	if src != "" {
		d := &net.Dialer{Timeout: timeout}
		ip := net.ParseIP(src)
		if network == "tcp" {
			d.LocalAddr = &net.TCPAddr{IP: ip}
		} else {
			d.LocalAddr = &net.UDPAddr{IP: ip}
		}
		c.Dialer = d
	}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// ask sends m from src to port and fails the test when no answer comes.
func (e *fwEnv) ask(t testing.TB, network, src string, port int, m *dns.Msg) *dns.Msg {
	t.Helper()
	r, err := exchangeFrom(network, src, e.addr(port), m, queryTimeout, nil)
	if err != nil {
		e.fw.failQuery(t, fmt.Sprintf("%s from %s to :%d %s %s", network, src, port, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype]), err)
	}
	return r
}

// rrSet is the answer section as sorted "owner TYPE data" strings, TTLs left out.
func rrSet(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		out = append(out, strings.Join(strings.Fields(c.String()), " "))
	}
	slices.Sort(out)
	return out
}

// edeOf returns the EDE options of the response's OPT record.
func edeOf(r *dns.Msg) []*dns.EDNS0_EDE {
	var out []*dns.EDNS0_EDE
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e)
			}
		}
	}
	return out
}

// rewriteWant is a rewritten answer.
type rewriteWant struct {
	rcode    int
	policy   string
	list     string
	category string
	soa      string   // owner of the SOA in the authority section; "" for a redirect with records
	ttl      uint32   // TTL of the answer records and of the SOA
	answers  []string // "A 1.2.3.4" or "AAAA ::1", owned by the query name
}

func (w rewriteWant) ede() uint16 {
	if w.list == "custom" {
		return dns.ExtendedErrorCodeFiltered
	}
	return dns.ExtendedErrorCodeBlocked
}

// demoWant is the answer of policy demo on the FW block for a feed's entry of list; nxdomain unless
// the list's category says otherwise.
func demoWant(list string) rewriteWant {
	w := rewriteWant{rcode: dns.RcodeNameError, policy: "demo", list: list, category: fwCategory[list], soa: "demo.rpz." + fwOrigin, ttl: fwTTL}
	if list == "custom" {
		w.category = "custom"
	}
	if list == "phish" || list == "custom" {
		w.rcode = dns.RcodeSuccess
	}
	return w
}

// checkRewrite checks a rewritten answer r to q.
func checkRewrite(t testing.TB, what string, q, r *dns.Msg, w rewriteWant) {
	t.Helper()
	qs := q.Question[0]
	if r.Id != q.Id || !r.Response || r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 || r.Question[0] != qs {
		t.Errorf("%s: header or question not a reply to the query: id %d (want %d), qr %v, question %v", what, r.Id, q.Id, r.Response, r.Question)
	}
	if !r.RecursionAvailable {
		t.Errorf("%s: RA not set on a rewritten answer", what)
	}
	if r.Rcode != w.rcode {
		t.Errorf("%s: rcode %s, want %s\n%v", what, rcode(r), dns.RcodeToString[w.rcode], r)
	}
	var got []string
	for _, rr := range r.Answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, qs.Name) || h.Ttl != w.ttl {
			t.Errorf("%s: answer %v, want owner %s and TTL %d", what, rr, qs.Name, w.ttl)
		}
		switch rr := rr.(type) {
		case *dns.A:
			got = append(got, "A "+rr.A.String())
		case *dns.AAAA:
			got = append(got, "AAAA "+rr.AAAA.String())
		default:
			got = append(got, rr.String())
		}
	}
	slices.Sort(got)
	want := slices.Clone(w.answers)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: answers %q, want %q", what, got, want)
	}
	if w.soa != "" {
		soa := authSOA(r)
		switch {
		case soa == nil || len(r.Ns) != 1:
			t.Errorf("%s: authority %v, want exactly the SOA of %s", what, r.Ns, w.soa)
		case soa.Hdr.Name != w.soa || soa.Hdr.Ttl != w.ttl:
			t.Errorf("%s: SOA %v, want owner %s with TTL %d", what, soa, w.soa, w.ttl)
		}
	}
	qopt, ropt := q.IsEdns0(), r.IsEdns0()
	switch {
	case qopt == nil && ropt != nil:
		t.Errorf("%s: OPT %v in the answer to a query without EDNS", what, ropt)
	case qopt != nil && ropt == nil:
		t.Errorf("%s: no OPT in the answer to a query with EDNS", what)
	case qopt != nil:
		if ropt.Do() != qopt.Do() {
			t.Errorf("%s: DO %v in the answer, %v in the query", what, ropt.Do(), qopt.Do())
		}
		ede := edeOf(r)
		text := fmt.Sprintf("threatstop policy=%s list=%s category=%s", w.policy, w.list, w.category)
		if len(ede) != 1 || ede[0].InfoCode != w.ede() || ede[0].ExtraText != text {
			t.Errorf("%s: EDE %v, want one EDE %d %q", what, ede, w.ede(), text)
		}
	}
}

// checkUntouched checks that r is the answer the PLAIN block gives to the same query: same rcode and the
// same records (TTLs aside, the caches of the two blocks age separately), and no EDE.
func (e *fwEnv) checkUntouched(t testing.TB, what, network string, q, r *dns.Msg, want ...string) {
	t.Helper()
	p := e.ask(t, network, "", e.plain, q.Copy())
	if r.Rcode != p.Rcode || !slices.Equal(rrSet(r.Answer), rrSet(p.Answer)) || !slices.Equal(rrSet(r.Ns), rrSet(p.Ns)) {
		t.Errorf("%s: answer changed by the firewall:\n--- firewall ---\n%v\n--- without firewall ---\n%v", what, r, p)
	}
	if ede := edeOf(r); len(ede) != 0 {
		t.Errorf("%s: EDE %v in an untouched answer", what, ede)
	}
	var got []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			got = append(got, rr.A.String())
		case *dns.AAAA:
			got = append(got, rr.AAAA.String())
		}
	}
	if want != nil && (r.Rcode != dns.RcodeSuccess || !slices.Equal(got, want)) {
		t.Errorf("%s: %s %v, want NOERROR with %v", what, rcode(r), got, want)
	}
}

// ---- logs and metrics ----

// decisionRE matches the decision line with these fields (after time=), capturing the time.
func decisionRE(fields string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\[INFO\] plugin/threatstop: decision time=(\S+) ` + regexp.QuoteMeta(fields) + `$`)
}

// decisionBarrier makes the firewall write one more decision line and waits for it: every line of a query
// answered before is in the output then.
func (e *fwEnv) decisionBarrier(t testing.TB) {
	t.Helper()
	name := fmt.Sprintf("barrier-%d.wild.fw.test.", e.barrier.Add(1))
	e.ask(t, "udp", "127.0.0.1", e.fwPort, fwQuery(name, dns.TypeA, false, false))
	e.fw.WaitLog(t, regexp.MustCompile(regexp.QuoteMeta("qname="+name+" ")), 5*time.Second)
}

// upstreamQueries is how many queries for name/qtype the FW block forwarded to its upstream, once a
// barrier query straight to that upstream has been logged too.
func (e *fwEnv) upstreamQueries(t testing.TB, name, qtype string) int {
	t.Helper()
	b := fmt.Sprintf("barrier-%d.fw.test.", e.barrier.Add(1))
	e.ask(t, "udp", "", e.upPort, fwQuery(b, dns.TypeA, false, false))
	e.up.WaitLog(t, regexp.MustCompile(regexp.QuoteMeta("upstream=fw A "+b+" ")), 5*time.Second)
	return strings.Count(e.up.Output(), "upstream=fw "+qtype+" "+dns.Fqdn(name)+" ")
}

func decisionsMetric(policy, list, action string) string {
	return fmt.Sprintf(`coredns_threatstop_firewall_decisions_total{action=%q,list=%q,policy=%q}`, action, list, policy)
}

func (e *fwEnv) metric(t testing.TB, series string) float64 {
	t.Helper()
	v, _ := e.fw.Metric(series)
	return v
}

// ---- raw bytes ----

// rawExchange sends the packed query q over network and returns the packed answer.
func rawExchange(network, addr string, q []byte) ([]byte, error) {
	conn, err := net.DialTimeout(network, addr, queryTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(queryTimeout)); err != nil {
		return nil, err
	}
	if network == "udp" {
		if _, err := conn.Write(q); err != nil {
			return nil, err
		}
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		return buf[:n], err
	}
	msg := be.BigEndian.AppendUint16(nil, uint16(len(q)))
	if _, err := conn.Write(append(msg, q...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, be.BigEndian.Uint16(l[:]))
	_, err = io.ReadFull(conn, buf)
	return buf, err
}

// runCorefileToExit runs the binary on the Corefile at path and waits for it to exit by itself; it returns
// the exit code and the output.
func runCorefileToExit(t *testing.T, dir, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-conf", path)
	cmd.Dir = dir
	cmd.WaitDelay = stopTimeout
	orphanGuard(cmd)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("threatstop with a broken Corefile did not exit within %s\n--- output ---\n%s", startTimeout, out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("run %s: %v", binary, err)
	return 0, ""
}

// ---- the tests ----

// TestFirewall runs every firewall check against one upstream and one firewall process, in order: the
// log and metric checks count lines and samples, and the cache checks count upstream queries.
func TestFirewall(t *testing.T) {
	t.Parallel()
	digPath(t)
	e := startFirewall(t)

	t.Run("Triggers", func(t *testing.T) { testFirewallTriggers(t, e) })
	t.Run("Actions", func(t *testing.T) { testFirewallActions(t, e) })
	t.Run("Drop", func(t *testing.T) { testFirewallDrop(t, e) })
	t.Run("Allow", func(t *testing.T) { testFirewallAllow(t, e) })
	t.Run("EDNS", func(t *testing.T) { testFirewallEDNS(t, e) })
	t.Run("Dig", func(t *testing.T) { testFirewallDig(t, e) })
	t.Run("CleanBytes", func(t *testing.T) { testFirewallCleanBytes(t, e) })
	t.Run("ClientSelection", func(t *testing.T) { testFirewallClientSelection(t, e) })
	t.Run("Cache", func(t *testing.T) { testFirewallCache(t, e) })
	t.Run("DecisionLog", func(t *testing.T) { testFirewallDecisionLog(t, e) })
	t.Run("ClientTrigger", func(t *testing.T) { testFirewallClientTrigger(t, e) })
	t.Run("ECS", func(t *testing.T) { testFirewallECS(t, e) })
	t.Run("TSIG", func(t *testing.T) { testFirewallTSIG(t, e) })
	t.Run("FeedReload", func(t *testing.T) { testFirewallFeedReload(t, e) })

	e.fw.CheckAlive(t, "www.fw.test.", dns.TypeA, dns.RcodeSuccess)
}

// Each trigger over UDP and TCP, from 127.0.0.1 (policy demo), with and without EDNS.
func testFirewallTriggers(t *testing.T, e *fwEnv) {
	custom := demoWant("custom")
	for _, c := range []struct {
		desc  string
		name  string
		qtype uint16
		want  rewriteWant
	}{
		{"qname", "spam-name.fw.test.", dns.TypeA, demoWant("spam")},
		{"qname in upper case", "SPAM-NAME.Fw.Test.", dns.TypeA, demoWant("spam")},
		{"qname TXT", "spam-name.fw.test.", dns.TypeTXT, demoWant("spam")},
		{"qname under a *.name entry", "a.b.wild.fw.test.", dns.TypeA, demoWant("spam")},
		{"qname of a *.name entry itself", "wild.fw.test.", dns.TypeA, demoWant("spam")},
		{"qname, own block entry", "custom.fw.test.", dns.TypeA, custom},
		{"qname under an own *.name entry", "x.customwild.fw.test.", dns.TypeA, custom},
		{"qname of an own *.name entry itself", "customwild.fw.test.", dns.TypeA, custom},
		{"cname target", "tospam.fw.test.", dns.TypeA, demoWant("spam")},
		{"cname target under a *.name entry", "towild.fw.test.", dns.TypeA, demoWant("spam")},
		{"ip", "spamip.fw.test.", dns.TypeA, demoWant("spam")},
		{"ip IPv6", "spamip6.fw.test.", dns.TypeAAAA, demoWant("spam")},
		{"ip at the end of a clean CNAME chain", "spamchain.fw.test.", dns.TypeA, demoWant("spam")},
		{"ip, own block prefix", "printer.fw.test.", dns.TypeA, custom},
	} {
		for _, network := range []string{"udp", "tcp"} {
			for _, edns := range []bool{false, true} {
				q := fwQuery(c.name, c.qtype, edns, false)
				what := fmt.Sprintf("%s: %s %s %s edns=%v", c.desc, network, c.name, dns.TypeToString[c.qtype], edns)
				r := e.ask(t, network, "127.0.0.1", e.fwPort, q)
				checkRewrite(t, what, q, r, c.want)
			}
		}
	}
	// The same names on the clean side: no trigger.
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range []struct {
			name  string
			qtype uint16
			want  []string
		}{
			{"www.fw.test.", dns.TypeA, []string{"192.0.2.10"}},
			{"www.fw.test.", dns.TypeAAAA, []string{"2001:db8::10"}},
			{"www.fw.test.", dns.TypeTXT, nil},
			{"alias2.fw.test.", dns.TypeA, []string{"192.0.2.10"}},
			{"xwild.fw.test.", dns.TypeA, []string{"192.0.2.57"}}, // ends like *.wild.fw.test without being below it
			{"no-such-name.fw.test.", dns.TypeA, nil},             // the upstream's NXDOMAIN
		} {
			q := fwQuery(c.name, c.qtype, true, false)
			r := e.ask(t, network, "127.0.0.1", e.fwPort, q)
			e.checkUntouched(t, fmt.Sprintf("clean %s %s %s", network, c.name, dns.TypeToString[c.qtype]), network, q, r, c.want...)
		}
	}
}

// Each action that answers: nxdomain above, nodata, redirect (A, AAAA, other types), passthru, log-only,
// and the most severe action when lists of several categories hold an entry.
func testFirewallActions(t *testing.T, e *fwEnv) {
	redirect := demoWant("malware")
	redirect.rcode = dns.RcodeSuccess
	redirectA, redirectAAAA, redirectTXT := redirect, redirect, redirect
	redirectA.soa, redirectA.answers = "", []string{"A " + fwRedirect4}
	redirectAAAA.soa, redirectAAAA.answers = "", []string{"AAAA " + fwRedirect6}
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range []struct {
			desc  string
			name  string
			qtype uint16
			want  rewriteWant
		}{
			{"nodata by qname", "phish-name.fw.test.", dns.TypeA, demoWant("phish")},
			{"nodata by ip", "phiship.fw.test.", dns.TypeA, demoWant("phish")},
			{"redirect A by qname", "malware-name.fw.test.", dns.TypeA, redirectA},
			{"redirect AAAA by qname", "malware-name.fw.test.", dns.TypeAAAA, redirectAAAA},
			{"redirect TXT by qname: NODATA", "malware-name.fw.test.", dns.TypeTXT, redirectTXT},
			{"redirect A by cname", "tomalware.fw.test.", dns.TypeA, redirectA},
			{"redirect A by ip", "malwareip.fw.test.", dns.TypeA, redirectA},
			{"most severe: nodata (phish) over passthru (ads)", "both-name.fw.test.", dns.TypeA, demoWant("phish")},
		} {
			for _, edns := range []bool{false, true} {
				q := fwQuery(c.name, c.qtype, edns, edns)
				r := e.ask(t, network, "127.0.0.1", e.fwPort, q)
				checkRewrite(t, fmt.Sprintf("%s: %s %s edns=%v", c.desc, network, c.name, edns), q, r, c.want)
			}
		}
		for _, c := range []struct {
			desc string
			name string
			want string
		}{
			{"passthru by qname", "ads-name.fw.test.", "192.0.2.63"},
			{"passthru by ip", "adsip.fw.test.", "185.60.216.5"},
			{"log-only by qname", "monitor-name.fw.test.", "192.0.2.64"},
			{"log-only by ip", "monitorip.fw.test.", "66.240.192.5"},
		} {
			q := fwQuery(c.name, dns.TypeA, true, false)
			r := e.ask(t, network, "127.0.0.1", e.fwPort, q)
			e.checkUntouched(t, fmt.Sprintf("%s: %s %s", c.desc, network, c.name), network, q, r, c.want)
		}
	}
}

// drop: no answer at all, over UDP and TCP, by qname and by answer address; the decision is logged and
// counted.
func testFirewallDrop(t *testing.T, e *fwEnv) {
	series := decisionsMetric("demo", "botnet", "drop")
	before := e.metric(t, series)
	n := 0
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"botnet-name.fw.test.", "botnetip.fw.test."} {
			start := time.Now()
			r, err := exchangeFrom(network, "127.0.0.1", e.addr(e.fwPort), fwQuery(name, dns.TypeA, true, false), fwDropWait, nil)
			n++
			if err == nil {
				t.Errorf("drop %s %s: got an answer %s %v, want none", network, name, rcode(r), r.Answer)
				continue
			}
			var ne net.Error
			if network == "udp" && (!errors.As(err, &ne) || !ne.Timeout()) {
				t.Errorf("drop %s %s: %v, want a timeout", network, name, err)
			}
			if network == "tcp" && time.Since(start) < fwDropWait/2 {
				t.Logf("drop %s %s: connection ended after %s (%v) without an answer", network, name, time.Since(start), err)
			}
		}
	}
	e.fw.WaitLog(t, decisionRE("client=127.0.0.1 qname=botnet-name.fw.test. qtype=A policy=demo trigger=qname value=botnet-name.fw.test entry=botnet-name.fw.test list=botnet category=botnet action=drop"), 5*time.Second)
	e.fw.WaitLog(t, decisionRE("client=127.0.0.1 qname=botnetip.fw.test. qtype=A policy=demo trigger=ip value=91.200.12.5 entry=91.200.12.0/22 list=botnet category=botnet action=drop"), 5*time.Second)
	if got := e.metric(t, series); got != before+float64(n) {
		t.Errorf("%s: %v after %d drops, was %v", series, got, n, before)
	}
	// The server still answers.
	e.fw.CheckAlive(t, "www.fw.test.", dns.TypeA, dns.RcodeSuccess)
}

// Allow wins: an allowed query name is answered untouched even when its address is listed; an allowed
// address does not trigger, a listed one beside it does; an allowed CNAME target does not trigger, the
// listed address behind it does.
func testFirewallAllow(t *testing.T, e *fwEnv) {
	for _, network := range []string{"udp", "tcp"} {
		q := fwQuery("allowed.fw.test.", dns.TypeA, true, false)
		r := e.ask(t, network, "127.0.0.1", e.fwPort, q)
		e.checkUntouched(t, network+" allowed qname with a listed address", network, q, r, "1.10.16.9")

		q = fwQuery("allowedip.fw.test.", dns.TypeA, true, false)
		r = e.ask(t, network, "127.0.0.1", e.fwPort, q)
		e.checkUntouched(t, network+" allowed address inside a listed prefix", network, q, r, "1.10.16.7")

		q = fwQuery("mixedip.fw.test.", dns.TypeA, true, false)
		r = e.ask(t, network, "127.0.0.1", e.fwPort, q)
		checkRewrite(t, network+" allowed and listed address", q, r, demoWant("spam"))

		q = fwQuery("toallowed.fw.test.", dns.TypeA, true, false)
		r = e.ask(t, network, "127.0.0.1", e.fwPort, q)
		checkRewrite(t, network+" allowed CNAME target with a listed address", q, r, demoWant("spam"))
	}
	e.fw.WaitLog(t, decisionRE("client=127.0.0.1 qname=mixedip.fw.test. qtype=A policy=demo trigger=ip value=1.10.16.8 entry=1.10.16.0/20 list=spam category=spam action=nxdomain"), 5*time.Second)
	e.fw.WaitLog(t, decisionRE("client=127.0.0.1 qname=toallowed.fw.test. qtype=A policy=demo trigger=ip value=1.10.16.9 entry=1.10.16.0/20 list=spam category=spam action=nxdomain"), 5*time.Second)
	e.decisionBarrier(t)
	for _, name := range []string{"allowed.fw.test.", "allowedip.fw.test."} {
		if re := regexp.MustCompile(`decision .* qname=` + regexp.QuoteMeta(name) + ` `); re.MatchString(e.fw.Output()) {
			t.Errorf("a decision was logged for %s, which is allowed: %s", name, re.FindString(e.fw.Output()))
		}
	}
}

// EDNS: no OPT in, no OPT out; OPT in, OPT out with the same DO bit and the EDE.
func testFirewallEDNS(t *testing.T, e *fwEnv) {
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range []struct{ edns, do bool }{{false, false}, {true, false}, {true, true}} {
			for _, name := range []string{"spam-name.fw.test.", "spamip.fw.test.", "custom.fw.test.", "printer.fw.test."} {
				list := "spam"
				if strings.HasPrefix(name, "custom") || strings.HasPrefix(name, "printer") {
					list = "custom"
				}
				q := fwQuery(name, dns.TypeA, c.edns, c.do)
				r := e.ask(t, network, "127.0.0.1", e.fwPort, q)
				what := fmt.Sprintf("%s %s edns=%v do=%v", network, name, c.edns, c.do)
				checkRewrite(t, what, q, r, demoWant(list))
				opt := r.IsEdns0()
				switch {
				case !c.edns && opt != nil:
					t.Errorf("%s: OPT in the answer", what)
				case c.edns && (opt == nil || opt.Do() != c.do):
					t.Errorf("%s: OPT %v, want one with DO=%v", what, opt, c.do)
				}
			}
		}
	}
}

// dig, as an operator would: from 127.0.0.1 and 127.0.0.2, over UDP and TCP, to both bound addresses;
// the EDE is visible.
func testFirewallDig(t *testing.T, e *fwEnv) {
	for _, proto := range []string{"+notcp", "+tcp"} {
		out := dig(t, e.fwPort, proto, "-b", "127.0.0.1", "+noall", "+comments", "+answer", "+authority", "spam-name.fw.test", "A")
		if st := digStatus(t, out); st != "NXDOMAIN" {
			t.Errorf("dig %s spam-name.fw.test from 127.0.0.1: status %s, want NXDOMAIN\n%s", proto, st, out)
		}
		if !strings.Contains(out, "EDE: 15 (Blocked): (threatstop policy=demo list=spam category=spam)") {
			t.Errorf("dig %s spam-name.fw.test: no EDE 15 with the policy, list and category\n%s", proto, out)
		}
		var soa *dns.SOA
		for _, rr := range digRRs(t, out) {
			if s, ok := rr.(*dns.SOA); ok {
				soa = s
			}
		}
		if soa == nil || soa.Hdr.Name != "demo.rpz."+fwOrigin || soa.Hdr.Ttl != fwTTL {
			t.Errorf("dig %s spam-name.fw.test: SOA %v, want demo.rpz.%s with TTL %d\n%s", proto, soa, fwOrigin, fwTTL, out)
		}

		out = dig(t, e.fwPort, proto, "-b", "127.0.0.1", "+noall", "+comments", "custom.fw.test", "A")
		if st := digStatus(t, out); st != "NOERROR" || !strings.Contains(out, "EDE: 17 (Filtered): (threatstop policy=demo list=custom category=custom)") {
			t.Errorf("dig %s custom.fw.test: want NOERROR (nodata) with EDE 17\n%s", proto, out)
		}

		// 127.0.0.2 uses policy base, which does not hold spam; asked at the second bound address too.
		for _, server := range []string{"@127.0.0.1", "@127.0.0.2"} {
			out = dig(t, e.fwPort, proto, server, "-b", "127.0.0.2", "+short", "spam-name.fw.test", "A")
			if got := digShort(out); !slices.Equal(got, []string{"192.0.2.50"}) {
				t.Errorf("dig %s %s -b 127.0.0.2 +short spam-name.fw.test: %q, want [192.0.2.50]", proto, server, got)
			}
		}
		out = dig(t, e.fwPort, proto, "-b", "127.0.0.2", "+noall", "+comments", "malware-name.fw.test", "A")
		if st := digStatus(t, out); st != "NXDOMAIN" || !strings.Contains(out, "EDE: 15 (Blocked): (threatstop policy=base list=malware category=malware)") {
			t.Errorf("dig %s -b 127.0.0.2 malware-name.fw.test: want NXDOMAIN with EDE 15 of policy base\n%s", proto, out)
		}
		out = dig(t, e.fwPort, proto, "-b", "127.0.0.1", "+short", "tomalware.fw.test", "A")
		if got := digShort(out); !slices.Equal(got, []string{fwRedirect4}) {
			t.Errorf("dig %s +short tomalware.fw.test: %q, want the redirect [%s]", proto, got, fwRedirect4)
		}
	}
}

// Clean answers through the firewall are byte for byte those of the same cache and forward without it.
func testFirewallCleanBytes(t *testing.T, e *fwEnv) {
	seen := map[string]bool{} // cache keys asked already: those answers come from the caches
	for _, c := range []struct {
		name  string
		qtype uint16
	}{
		{"cmp-a.fw.test.", dns.TypeA},
		{"cmp-chain.fw.test.", dns.TypeA},
		{"cmp-chain.fw.test.", dns.TypeAAAA},
		{"cmp-v6.fw.test.", dns.TypeAAAA},
		{"cmp-v6.fw.test.", dns.TypeA},        // NODATA from the upstream
		{"cmp-none.fw.test.", dns.TypeA},      // NXDOMAIN from the upstream
		{"cmp-mid.fw.test.", dns.TypeCNAME},   // the CNAME itself
		{"cmp-a.fw.test.", dns.TypeTXT},       // NODATA
		{"cmp-chain.fw.test.", dns.TypeCNAME}, // idem
	} {
		for _, v := range []struct{ edns, do bool }{{false, false}, {true, false}, {true, true}} {
			for _, network := range []string{"udp", "tcp"} {
				q := fwQuery(c.name, c.qtype, v.edns, v.do)
				q.Id = 0x4242
				packed, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				key := fmt.Sprintf("%s/%d/%v", c.name, c.qtype, v.do)
				fresh := !seen[key]
				seen[key] = true
				what := fmt.Sprintf("%s %s %s edns=%v do=%v", network, c.name, dns.TypeToString[c.qtype], v.edns, v.do)
				// A cache miss on both sides is deterministic; a hit may differ by a TTL second when one
				// cache ages past a second boundary between the two queries, so a hit gets a few tries.
				tries := 5
				if fresh {
					tries = 1
				}
				var a, b []byte
				for range tries {
					if a, err = rawExchange(network, e.addr(e.fwPort), packed); err != nil {
						t.Fatalf("%s through the firewall: %v", what, err)
					}
					if b, err = rawExchange(network, e.addr(e.plain), packed); err != nil {
						t.Fatalf("%s without the firewall: %v", what, err)
					}
					if len(a) >= 2 && len(b) >= 2 {
						a[0], a[1], b[0], b[1] = 0, 0, 0, 0
					}
					if bytes.Equal(a, b) {
						break
					}
				}
				if !bytes.Equal(a, b) {
					ma, mb := new(dns.Msg), new(dns.Msg)
					_ = ma.Unpack(a)
					_ = mb.Unpack(b)
					t.Errorf("%s (cache miss: %v): the firewall changed a clean answer\n--- firewall (%d bytes) ---\n%v\n--- without (%d bytes) ---\n%v", what, fresh, len(a), ma, len(b), mb)
					continue
				}
				m := new(dns.Msg)
				if err := m.Unpack(a); err != nil || (c.name == "cmp-a.fw.test." && c.qtype == dns.TypeA && len(m.Answer) != 2) {
					t.Errorf("%s: answer %v (%v), want the upstream's records", what, m, err)
				}
			}
		}
	}
}

// Client networks select policies; with the cache in the chain, a decision for one client never reaches
// another, in either order, and the upstream is asked once.
func testFirewallClientSelection(t *testing.T, e *fwEnv) {
	spam := demoWant("spam")
	check := func(src, network, name string) {
		t.Helper()
		q := fwQuery(name, dns.TypeA, true, false)
		r := e.ask(t, network, src, e.fwPort, q)
		what := fmt.Sprintf("%s from %s %s", network, src, name)
		switch src {
		case "127.0.0.2":
			e.checkUntouched(t, what+" (policy base)", network, q, r, map[string]string{"sel-a.fw.test.": "1.10.16.20", "sel-b.fw.test.": "1.10.16.21"}[name])
		default:
			checkRewrite(t, what+" (policy demo)", q, r, spam)
		}
	}
	// Clean first, then the blocked client, then the clean one again.
	check("127.0.0.2", "udp", "sel-a.fw.test.")
	check("127.0.0.1", "udp", "sel-a.fw.test.")
	check("127.0.0.3", "tcp", "sel-a.fw.test.") // inside 127.0.0.0/8: demo
	check("127.0.0.2", "tcp", "sel-a.fw.test.")
	// Blocked first, then the clean client.
	check("127.0.0.1", "tcp", "sel-b.fw.test.")
	check("127.0.0.2", "udp", "sel-b.fw.test.")
	check("127.0.0.1", "udp", "sel-b.fw.test.")
	check("127.0.0.2", "tcp", "sel-b.fw.test.")
	for _, name := range []string{"sel-a.fw.test.", "sel-b.fw.test."} {
		if n := e.upstreamQueries(t, name, "A"); n != 1 {
			t.Errorf("upstream asked %d times for %s A, want once (the cache answers the rest)", n, name)
		}
	}
	// dig -b: the same cached name, each client its own answer.
	out := dig(t, e.fwPort, "-b", "127.0.0.2", "+short", "sel-b.fw.test", "A")
	if got := digShort(out); !slices.Equal(got, []string{"1.10.16.21"}) {
		t.Errorf("dig -b 127.0.0.2 sel-b.fw.test: %q, want [1.10.16.21]", got)
	}
	out = dig(t, e.fwPort, "-b", "127.0.0.1", "+noall", "+comments", "sel-b.fw.test", "A")
	if st := digStatus(t, out); st != "NXDOMAIN" {
		t.Errorf("dig -b 127.0.0.1 sel-b.fw.test: status %s, want NXDOMAIN\n%s", st, out)
	}
	// Each policy's own actions: malware is a redirect in demo, nxdomain (the default) in base.
	q := fwQuery("malware-name.fw.test.", dns.TypeA, true, false)
	base := rewriteWant{rcode: dns.RcodeNameError, policy: "base", list: "malware", category: "malware", soa: "base.rpz." + fwOrigin, ttl: fwTTL}
	checkRewrite(t, "malware-name from 127.0.0.2", q, e.ask(t, "udp", "127.0.0.2", e.fwPort, q), base)
}

// The cache holds the upstream's answer; every answer from it is filtered again.
func testFirewallCache(t *testing.T, e *fwEnv) {
	for i, c := range []struct {
		network string
		edns    bool
	}{{"udp", false}, {"tcp", true}, {"udp", true}, {"tcp", false}} {
		q := fwQuery("cache-bad.fw.test.", dns.TypeA, c.edns, false)
		r := e.ask(t, c.network, "127.0.0.1", e.fwPort, q)
		checkRewrite(t, fmt.Sprintf("cache-bad query %d (%s edns=%v)", i+1, c.network, c.edns), q, r, demoWant("spam"))
	}
	if n := e.upstreamQueries(t, "cache-bad.fw.test.", "A"); n != 1 {
		t.Errorf("upstream asked %d times for cache-bad.fw.test A, want once: the later answers come from the cache", n)
	}
	re := decisionRE("client=127.0.0.1 qname=cache-bad.fw.test. qtype=A policy=demo trigger=ip value=1.10.16.22 entry=1.10.16.0/20 list=spam category=spam action=nxdomain")
	e.decisionBarrier(t)
	if n := len(re.FindAllString(e.fw.Output(), -1)); n != 4 {
		t.Errorf("%d decision lines for cache-bad.fw.test, want 4 (one per query, cached or not)", n)
	}
	// A name decided by qname never reaches the upstream.
	q := fwQuery("qonly.wild.fw.test.", dns.TypeA, false, false)
	checkRewrite(t, "qonly.wild.fw.test", q, e.ask(t, "udp", "127.0.0.1", e.fwPort, q), demoWant("spam"))
	if n := e.upstreamQueries(t, "qonly.wild.fw.test.", "A"); n != 0 {
		t.Errorf("upstream asked %d times for qonly.wild.fw.test, which the query name decides, want never", n)
	}
}

// The decision log: exact lines for the qname, cname and ip triggers, log-only, no line for passthru; the
// metric counts each decision.
func testFirewallDecisionLog(t *testing.T, e *fwEnv) {
	for _, c := range []struct {
		name   string
		qtype  uint16
		fields string
		series string
	}{
		{"log-q.wild.fw.test.", dns.TypeAAAA,
			"client=127.0.0.1 qname=log-q.wild.fw.test. qtype=AAAA policy=demo trigger=qname value=log-q.wild.fw.test entry=*.wild.fw.test list=spam category=spam action=nxdomain",
			decisionsMetric("demo", "spam", "nxdomain")},
		{"logcname.fw.test.", dns.TypeA,
			"client=127.0.0.1 qname=logcname.fw.test. qtype=A policy=demo trigger=cname value=y.wild.fw.test entry=*.wild.fw.test list=spam category=spam action=nxdomain",
			decisionsMetric("demo", "spam", "nxdomain")},
		{"logip.fw.test.", dns.TypeA,
			"client=127.0.0.1 qname=logip.fw.test. qtype=A policy=demo trigger=ip value=1.10.31.255 entry=1.10.16.0/20 list=spam category=spam action=nxdomain",
			decisionsMetric("demo", "spam", "nxdomain")},
		{"printer.fw.test.", dns.TypeA,
			"client=127.0.0.1 qname=printer.fw.test. qtype=A policy=demo trigger=ip value=203.0.113.7 entry=203.0.113.0/24 list=custom category=custom action=nodata",
			decisionsMetric("demo", "custom", "nodata")},
		{"x.customwild.fw.test.", dns.TypeA,
			"client=127.0.0.1 qname=x.customwild.fw.test. qtype=A policy=demo trigger=qname value=x.customwild.fw.test entry=*.customwild.fw.test list=custom category=custom action=nodata",
			decisionsMetric("demo", "custom", "nodata")},
		{"monitorip.fw.test.", dns.TypeA,
			"client=127.0.0.1 qname=monitorip.fw.test. qtype=A policy=demo trigger=ip value=66.240.192.5 entry=66.240.192.0/24 list=monitor category=monitor action=log-only",
			decisionsMetric("demo", "monitor", "log-only")},
		{"tomalware.fw.test.", dns.TypeA,
			"client=127.0.0.1 qname=tomalware.fw.test. qtype=A policy=demo trigger=cname value=malware-name.fw.test entry=malware-name.fw.test list=malware category=malware action=redirect",
			decisionsMetric("demo", "malware", "redirect")},
	} {
		re := decisionRE(c.fields)
		e.decisionBarrier(t)
		lines := len(re.FindAllString(e.fw.Output(), -1))
		before := e.metric(t, c.series)
		start := time.Now()
		e.ask(t, "udp", "127.0.0.1", e.fwPort, fwQuery(c.name, c.qtype, false, false))
		after := e.metric(t, c.series) // counted before the answer is written
		e.decisionBarrier(t)
		all := re.FindAllStringSubmatch(e.fw.Output(), -1)
		if len(all) != lines+1 {
			t.Errorf("%s: %d new lines matching\n  decision time=... %s\nwant 1\n--- output (last 10 lines) ---\n%s", c.name, len(all)-lines, c.fields, lastLines(e.fw.Output(), 10))
		} else {
			ts := all[len(all)-1][1]
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || !strings.HasSuffix(ts, "Z") || tm.Before(start.Add(-time.Second)) || tm.After(time.Now().Add(time.Second)) {
				t.Errorf("%s: time=%s, want RFC 3339 UTC with nanoseconds at the time of the query (%v)", c.name, ts, err)
			}
		}
		if after != before+1 {
			t.Errorf("%s: %s is %v, was %v: want one more", c.name, c.series, after, before)
		}
	}

	// log-only answers untouched (checked in Actions) and logs; passthru is counted but not logged.
	for _, name := range []string{"ads-name.fw.test.", "adsip.fw.test."} {
		series := decisionsMetric("demo", "ads", "passthru")
		before := e.metric(t, series)
		q := fwQuery(name, dns.TypeA, true, false)
		r := e.ask(t, "udp", "127.0.0.1", e.fwPort, q)
		e.checkUntouched(t, "passthru "+name, "udp", q, r)
		if got := e.metric(t, series); got != before+1 {
			t.Errorf("passthru %s: %s is %v, was %v: want one more", name, series, got, before)
		}
	}
	e.decisionBarrier(t)
	if m := regexp.MustCompile(`decision .*qname=(ads-name|adsip)\.fw\.test\. .*`).FindString(e.fw.Output()); m != "" {
		t.Errorf("a passthru decision was logged: %s", m)
	}
	if m := regexp.MustCompile(`decision .*list=ads .*`).FindString(e.fw.Output()); m != "" {
		t.Errorf("a passthru decision was logged: %s", m)
	}
}

// The client trigger (FW2: triggers client qname; ecs; default ttl and origin): a listed client gets no
// answer from the upstream whatever it asks; an allowed client is never filtered; the ip and cname
// triggers are off there.
func testFirewallClientTrigger(t *testing.T, e *fwEnv) {
	local := rewriteWant{rcode: dns.RcodeNameError, policy: "local", list: "custom", category: "custom", soa: "local.rpz.threatstop.local.", ttl: 60}
	demo := rewriteWant{rcode: dns.RcodeNameError, policy: "demo", list: "spam", category: "spam", soa: "demo.rpz.threatstop.local.", ttl: 60}
	for _, network := range []string{"udp", "tcp"} {
		for _, edns := range []bool{false, true} {
			q := fwQuery("www.fw.test.", dns.TypeA, edns, false)
			r := e.ask(t, network, "127.0.0.10", e.fw2, q)
			checkRewrite(t, fmt.Sprintf("%s listed client 127.0.0.10 edns=%v", network, edns), q, r, local)
		}
		q := fwQuery("spam-name.fw.test.", dns.TypeA, true, false)
		r := e.ask(t, network, "127.0.0.9", e.fw2, q)
		e.checkUntouched(t, network+" allowed client 127.0.0.9, listed qname", network, q, r, "192.0.2.50")

		q = fwQuery("spam-name.fw.test.", dns.TypeA, true, false)
		r = e.ask(t, network, "127.0.0.1", e.fw2, q)
		checkRewrite(t, network+" FW2 qname trigger, default ttl and origin", q, r, demo)

		q = fwQuery("spamip.fw.test.", dns.TypeA, true, false)
		r = e.ask(t, network, "127.0.0.1", e.fw2, q)
		e.checkUntouched(t, network+" FW2 without the ip trigger", network, q, r, "1.10.16.5")

		q = fwQuery("tospam.fw.test.", dns.TypeA, true, false)
		r = e.ask(t, network, "127.0.0.1", e.fw2, q)
		e.checkUntouched(t, network+" FW2 without the cname trigger", network, q, r, "192.0.2.50")

		// ECS: the subnet stands for the client, for the policy and for the client trigger.
		q = fwQuery("www.fw.test.", dns.TypeA, true, false)
		q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("1.10.16.77").To4()})
		r = e.ask(t, network, "127.0.0.1", e.fw2, q)
		checkRewrite(t, network+" FW2 client trigger by ECS 1.10.16.77/24", q, r, demo)
	}
	e.fw.WaitLog(t, decisionRE("client=127.0.0.10 qname=www.fw.test. qtype=A policy=local trigger=client value=127.0.0.10 entry=127.0.0.8/29 list=custom category=custom action=nxdomain"), 5*time.Second)
	e.fw.WaitLog(t, decisionRE("client=1.10.16.0 qname=www.fw.test. qtype=A policy=demo trigger=client value=1.10.16.0 entry=1.10.16.0/20 list=spam category=spam action=nxdomain"), 5*time.Second)
}

// ECS on the FW block: the subnet's address picks the client rule; an address no rule holds is not
// filtered.
func testFirewallECS(t *testing.T, e *fwEnv) {
	withECS := func(name, addr string, bits uint8) *dns.Msg {
		q := fwQuery(name, dns.TypeA, true, false)
		ip := net.ParseIP(addr)
		family := uint16(2)
		if v4 := ip.To4(); v4 != nil {
			ip, family = v4, 1
		}
		q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: bits, Address: ip})
		return q
	}
	base := rewriteWant{rcode: dns.RcodeNameError, policy: "base", list: "malware", category: "malware", soa: "base.rpz." + fwOrigin, ttl: fwTTL}
	for _, network := range []string{"udp", "tcp"} {
		// Control: 127.0.0.1 uses demo.
		q := fwQuery("ecsip.fw.test.", dns.TypeA, true, false)
		checkRewrite(t, network+" ecsip without ECS", q, e.ask(t, network, "127.0.0.1", e.fwPort, q), demoWant("spam"))

		// base blocks 198.51.100.0/24 itself, which does not matter here: FW has no client trigger.
		q = withECS("ecsip.fw.test.", "198.51.100.77", 24)
		e.checkUntouched(t, network+" ecsip with ECS 198.51.100.77/24 (base)", network, q, e.ask(t, network, "127.0.0.1", e.fwPort, q), "1.10.16.23")
		q = withECS("malware-name.fw.test.", "198.51.100.77", 24)
		checkRewrite(t, network+" malware-name with ECS 198.51.100.77/24 (base)", q, e.ask(t, network, "127.0.0.1", e.fwPort, q), base)

		q = withECS("ecsip.fw.test.", "127.0.0.9", 32)
		checkRewrite(t, network+" ecsip from 127.0.0.2 with ECS 127.0.0.9/32 (demo)", q, e.ask(t, network, "127.0.0.2", e.fwPort, q), demoWant("spam"))

		q = withECS("spam-name.fw.test.", "8.8.8.0", 24)
		e.checkUntouched(t, network+" spam-name with ECS 8.8.8.0/24: no rule, not filtered", network, q, e.ask(t, network, "127.0.0.1", e.fwPort, q), "192.0.2.50")
	}
	e.fw.WaitLog(t, decisionRE("client=127.0.0.9 qname=ecsip.fw.test. qtype=A policy=demo trigger=ip value=1.10.16.23 entry=1.10.16.0/20 list=spam category=spam action=nxdomain"), 5*time.Second)
	e.fw.WaitLog(t, decisionRE("client=198.51.100.0 qname=malware-name.fw.test. qtype=A policy=base trigger=qname value=malware-name.fw.test entry=malware-name.fw.test list=malware category=malware action=nxdomain"), 5*time.Second)
}

// TSIG: a query signed with a key named in a key rule (and verified by the tsig plugin of the block) uses
// that key's policy, before any client rule; a key without a rule changes nothing.
func testFirewallTSIG(t *testing.T, e *fwEnv) {
	signed := func(name, key string) *dns.Msg {
		q := fwQuery(name, dns.TypeA, false, false)
		if key != "" {
			q.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		}
		return q
	}
	ask := func(network, src, name, key string) *dns.Msg {
		t.Helper()
		r, err := exchangeFrom(network, src, e.addr(e.fwPort), signed(name, key), queryTimeout, e.tsig)
		if err != nil {
			t.Fatalf("%s from %s %s signed with %q: %v", network, src, name, key, err)
		}
		if key != "" && r.IsTsig() == nil {
			t.Errorf("%s from %s %s signed with %q: the answer is not signed", network, src, name, key)
		}
		return r
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range []struct {
			src, key string
			blocked  bool
			desc     string
		}{
			{"127.0.0.1", "", true, "unsigned from 127.0.0.1: demo by client"},
			{"127.0.0.1", "fwkey.", false, "fwkey. from 127.0.0.1: base by key"},
			{"127.0.0.2", "", false, "unsigned from 127.0.0.2: base by client"},
			{"127.0.0.2", "demokey.", true, "demokey. from 127.0.0.2: demo by key"},
			{"127.0.0.2", "otherkey.", false, "otherkey. (no key rule) from 127.0.0.2: base by client"},
		} {
			r := ask(network, c.src, "tsigip.fw.test.", c.key)
			got := r.Rcode == dns.RcodeNameError
			if got != c.blocked || (!got && !slices.Equal(aRecords(r), []string{"1.10.16.24"})) {
				want := "NOERROR with A 1.10.16.24 (policy base does not list it)"
				if c.blocked {
					want = "NXDOMAIN (policy demo lists 1.10.16.0/20)"
				}
				t.Errorf("%s %s: tsigip.fw.test %s %v, want %s", network, c.desc, rcode(r), aRecords(r), want)
			}
		}
	}
}

// A feed change applies on the next query although the upstream's answer is still in the cache, both
// ways.
func testFirewallFeedReload(t *testing.T, e *fwEnv) {
	dyn := filepath.Join(e.dir, "dyn.txt")
	q := fwQuery("dynip.fw.test.", dns.TypeA, true, false)
	e.checkUntouched(t, "dynip before", "udp", q, e.ask(t, "udp", "127.0.0.1", e.fwPort, q), "77.88.99.10")

	replaceFile(t, dyn, []byte(fwFeeds["dyn"]+"77.88.99.10\n"))
	want := demoWant("dyn")
	eventually(t, reloadTimeout, func() string {
		r := e.ask(t, "udp", "127.0.0.1", e.fwPort, q)
		if r.Rcode != dns.RcodeNameError {
			return fmt.Sprintf("dynip.fw.test after listing 77.88.99.10: %s %v, want NXDOMAIN", rcode(r), aRecords(r))
		}
		return ""
	})
	for _, network := range []string{"udp", "tcp"} {
		checkRewrite(t, network+" dynip listed", q, e.ask(t, network, "127.0.0.1", e.fwPort, q), want)
	}
	if n := e.upstreamQueries(t, "dynip.fw.test.", "A"); n != 1 {
		t.Errorf("upstream asked %d times for dynip.fw.test, want once: the decision changed on the cached answer", n)
	}

	replaceFile(t, dyn, []byte(fwFeeds["dyn"]))
	eventually(t, reloadTimeout, func() string {
		r := e.ask(t, "udp", "127.0.0.1", e.fwPort, q)
		if r.Rcode != dns.RcodeSuccess || !slices.Equal(aRecords(r), []string{"77.88.99.10"}) {
			return fmt.Sprintf("dynip.fw.test after unlisting 77.88.99.10: %s %v, want NOERROR with 77.88.99.10", rcode(r), aRecords(r))
		}
		return ""
	})
	for _, network := range []string{"udp", "tcp"} {
		e.checkUntouched(t, network+" dynip unlisted", network, q, e.ask(t, network, "127.0.0.1", e.fwPort, q), "77.88.99.10")
	}
	if n := e.upstreamQueries(t, "dynip.fw.test.", "A"); n != 1 {
		t.Errorf("upstream asked %d times for dynip.fw.test, want once", n)
	}
}

// TestFirewallStartupErrors: a firewall rule naming a policy that no threatstop block before it defines
// stops the binary with an error naming the rule's Corefile line.
func TestFirewallStartupErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		corefile string // %[1]d DNS port, %[2]d second port, %[3]s feed file
		line     string
		message  string
	}{
		{"unknown client policy", `.:%[1]d {
    bind 127.0.0.1
    threatfeed {
        feed spam {
            file %[3]s
            format plain
            category spam
        }
    }
    threatstop {
        policy demo {
            lists spam
        }
        firewall {
            client 127.0.0.0/8 demo
            client 127.0.0.2 no-such-policy
        }
    }
    forward . 127.0.0.1:9
}
`, "client 127.0.0.2 no-such-policy", `firewall: unknown policy "no-such-policy"`},
		{"unknown key policy", `.:%[1]d {
    bind 127.0.0.1
    threatfeed {
        feed spam {
            file %[3]s
            format plain
            category spam
        }
    }
    threatstop {
        policy demo {
            lists spam
        }
        firewall {
            client 127.0.0.0/8 demo
            key fwkey. nokey
        }
    }
    forward . 127.0.0.1:9
}
`, "key fwkey. nokey", `firewall: unknown policy "nokey"`},
		{"policy of a later server block", `.:%[1]d {
    bind 127.0.0.1
    threatfeed {
        feed spam {
            file %[3]s
            format plain
            category spam
        }
    }
    threatstop {
        firewall {
            client 0.0.0.0/0 later
        }
    }
    forward . 127.0.0.1:9
}

threatstop.test:%[2]d {
    bind 127.0.0.1
    threatstop {
        policy later {
            lists spam
        }
    }
}
`, "client 0.0.0.0/0 later", `firewall: unknown policy "later"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			feed := filepath.Join(dir, "spam.txt")
			writeFile(t, feed, fwFeeds["spam"])
			corefile := fmt.Sprintf(c.corefile, freePort(t, true), freePort(t, true), feed)
			path := filepath.Join(dir, "Corefile")
			writeFile(t, path, corefile)
			code, out := runCorefileToExit(t, dir, path)
			if code == 0 {
				t.Fatalf("exit status 0, want non-zero\n--- output ---\n%s", out)
			}
			want := lineOf(t, corefile, c.line)
			m := regexp.MustCompile(`Corefile:(\d+) - Error during parsing: (.*)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("output does not name a Corefile line (Corefile:N - Error during parsing: ...)\n--- output ---\n%s", out)
			}
			if m[1] != strconv.Itoa(want) {
				t.Errorf("error names Corefile line %s, want %d (%q)\n%s", m[1], want, c.line, out)
			}
			if !strings.Contains(m[2], c.message) {
				t.Errorf("error %q does not say %s", m[2], c.message)
			}
		})
	}
}
