package test

import (
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A real BIND 9 as the secondary of a policy's RPZ zone, end to end. threatstop serves threatstop.test.
// with feeds written by the test, and policy p (key p.key.) plus two more policies, q and r, whose zones
// BIND asks for with the wrong key. named (run in the foreground, in a temporary directory, as whoever
// runs the test) is a recursive resolver that
//
//   - transfers p.rpz.threatstop.test from threatstop with p.key. (and is told of changes by NOTIFY, from
//     transfer { to }) and uses it as its response-policy zone, recursive-only no, so that the policy
//     rewrites the answers of its own authoritative zone site.test. (no network is needed);
//   - asks for q.rpz.threatstop.test with p.key. (a valid key of another policy: REFUSED) and for
//     r.rpz.threatstop.test with r.key. and a wrong secret (BADSIG): neither zone may load.
//
// The checks: every kind of record that threatstop writes into an RPZ zone (rpz-ip triggers of IPv4 and
// IPv6 prefixes, QNAME triggers of names and wildcards, the actions nxdomain, nodata, drop, redirect and
// the passthru of allow entries) is accepted by BIND without a warning and rewrites the answers as the
// policy says; BIND's copy of the zone is the zone that threatstop serves; a feed change reaches BIND's
// answers through NOTIFY and a new transfer within seconds.
//
// named comes from the bind9 package (.ci/run installs it). Without it the test is skipped, or fails when
// the environment variable CI is set.

const (
	bindApexP   = "p.rpz." + zone
	bindApexQ   = "q.rpz." + zone
	bindApexR   = "r.rpz." + zone
	bindSecretP = "cC1rZXktb2YtdGhlLWJpbmQtcGVlci0zMi1ieXRlcyE="
	bindSecretQ = "cS1rZXktb2YtdGhlLWJpbmQtcGVlci0zMi1ieXRlcyE="
	bindSecretR = "ci1rZXktb2YtdGhlLWJpbmQtcGVlci0zMi1ieXRlcyE="
	// bindSecretRWrong is what named holds for r.key.: not threatstop's secret.
	bindSecretRWrong = "d3Jvbmctc2VjcmV0LW9mLXRoZS1iaW5kLXBlZXIteHg="

	bindStartTimeout = 10 * time.Second // named up, and its first transfers done
	bindDropWait     = 700 * time.Millisecond
)

// bindFeeds are the feed files of threatstop. Every address is a public one (threatfeed drops private and
// reserved ones).
var bindFeeds = []struct{ name, format, category, data string }{
	{"v4", "plain", "spam", "45.9.8.7\n81.2.69.0/24\n44.55.0.0/16\n"},
	// Two runs of two zero groups (2a00:1450:0:0:1:0:0:1): the canonical rpz-ip name compresses the first.
	{"v6", "plain", "spam", "2a06:e480::/32\n2a00:1450:4001::1\n2a00:1450:0:0:1:0:0:1\n"},
	{"names", "plain", "malware", "bad.site.test\n"},
	{"wild", "wildcard", "phishing", "*.phish.site.test\n"},
	{"ads", "plain", "adware", "ads.site.test\n"},
	{"track", "plain", "tracking", "track.site.test\n"},
	{"botnet", "plain", "botnet", "c2.site.test\n"},
}

// bindPolicies: p has every feed, allow entries that carve exceptions out of a listed prefix and a listed
// wildcard, and one action of each kind; q and r list v4 for keys that named does not hold.
const bindPolicies = `        policy p {
            lists v4 v6 names wild ads track botnet
            allow 44.55.66.77 ok.phish.site.test
            action adware redirect 192.0.2.80 2001:db8::80
            action tracking nodata
            action botnet drop
            keys p.key.
        }
        policy q {
            lists v4
            keys q.key.
        }
        policy r {
            lists v4
            keys r.key.
        }
`

// bindWantP is p's zone without SOA and NS, as "OWNER TYPE DATA" with the owner relative to the apex.
var bindWantP = []string{
	"32.7.8.9.45.rpz-ip CNAME .",
	"24.0.69.2.81.rpz-ip CNAME .",
	"16.0.0.55.44.rpz-ip CNAME .",
	"32.77.66.55.44.rpz-ip CNAME rpz-passthru.",
	"32.zz.e480.2a06.rpz-ip CNAME .",
	"128.1.zz.4001.1450.2a00.rpz-ip CNAME .",
	"128.1.0.0.1.zz.1450.2a00.rpz-ip CNAME .",
	"bad.site.test CNAME .",
	"phish.site.test CNAME .",
	"*.phish.site.test CNAME .",
	"ok.phish.site.test CNAME rpz-passthru.",
	"*.ok.phish.site.test CNAME .",
	"ads.site.test A 192.0.2.80",
	"ads.site.test AAAA 2001:db8::80",
	"track.site.test CNAME *.",
	"c2.site.test CNAME rpz-drop.",
}

// bindAdded is the entry that the feed change adds to v4 (clean.site.test's address), and its trigger.
const (
	bindAdded        = "93.184.216.35"
	bindAddedTrigger = "32.35.216.184.93.rpz-ip"
)

// bindSiteZone is named's own zone: names whose answers the policy rewrites, and clean ones.
const bindSiteZone = `$TTL 300
@             IN SOA   ns.site.test. hostmaster.site.test. 1 3600 600 604800 300
@             IN NS    ns
ns            IN A     93.184.216.53
listed        IN A     81.2.69.10          ; in 81.2.69.0/24
exact         IN A     45.9.8.7            ; the /32
wide          IN A     44.55.1.1           ; in 44.55.0.0/16
allowed       IN A     44.55.66.77         ; in 44.55.0.0/16, allowed
v6            IN AAAA  2a06:e480::53       ; in 2a06:e480::/32
v6host        IN AAAA  2a00:1450:4001::1
v6runs        IN AAAA  2a00:1450:0:0:1:0:0:1
bad           IN A     93.184.216.34       ; listed by name
alias         IN CNAME bad
phish         IN A     93.184.216.36       ; the wildcard entry's own name
login.phish   IN A     93.184.216.37
ok.phish      IN A     93.184.216.38       ; allowed
deep.ok.phish IN A     93.184.216.39       ; under the allowed name: still listed
ads           IN A     93.184.216.40       ; redirect
track         IN A     93.184.216.41       ; nodata
c2            IN A     93.184.216.42       ; drop
clean         IN A     93.184.216.35       ; clean until the feed change
clean2        IN A     93.184.216.43
`

// namedPath returns the named executable: a missing one fails the test under CI (which installs it) and
// skips it elsewhere. Debian installs named in /usr/sbin, which is not in every user's PATH.
func namedPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("named")
	if err != nil {
		for _, c := range []string{"/usr/sbin/named", "/usr/local/sbin/named"} {
			if st, e := os.Stat(c); e == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return c
			}
		}
		msg := fmt.Sprintf("named (BIND 9) not found in PATH, /usr/sbin or /usr/local/sbin (%v): install the bind9 package (apt-get install bind9) to run the BIND end-to-end test", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// unconfinedNamed returns a path to run named from. Where AppArmor is enabled, Debian's and Ubuntu's
// profile for /usr/sbin/named (enforced once bind9 is installed) keeps named out of every directory but
// /etc/bind, /var/cache/bind and a few others, so it could not read its configuration in the test's
// temporary directory. The profile attaches to the path: a copy of the binary runs unconfined.
func unconfinedNamed(t *testing.T, path, dir string) string {
	t.Helper()
	enabled, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if err != nil || strings.TrimSpace(string(enabled)) != "Y" {
		return path
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil || resolved != "/usr/sbin/named" {
		return path
	}
	if _, err := os.Stat("/etc/apparmor.d/usr.sbin.named"); err != nil {
		return path
	}
	src, err := os.Open(resolved)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cp := filepath.Join(dir, "named")
	dst, err := os.OpenFile(cp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("AppArmor is enabled and has a profile for %s: running a copy of it, %s, which the profile does not confine", resolved, cp)
	return cp
}

// namedProc is one named process.
type namedProc struct {
	t    *testing.T
	port int
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
	dead bool // its exit has been reported
}

func (n *namedProc) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Output is what named wrote so far (its log: the logging statement sends every category to stderr).
func (n *namedProc) Output() string { return n.out.String() }

// startNamed runs `named -f` on conf (in dir) and waits until it answers site.test SOA on port.
func startNamed(t *testing.T, path, dir, conf string, port int) *namedProc {
	t.Helper()
	n := &namedProc{t: t, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		out: &syncBuffer{}, done: make(chan struct{})}
	// -f: foreground, with the logging statement of conf (-g would ignore it and log at one severity for
	// every category); -n 1: one worker thread; -4: IPv4 only.
	n.cmd = exec.Command(path, "-f", "-4", "-n", "1", "-c", conf)
	n.cmd.Dir = dir
	n.cmd.Stdout = n.out
	n.cmd.Stderr = n.out
	orphanGuard(n.cmd)
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(n.stop)

	m := new(dns.Msg)
	m.SetQuestion("site.test.", dns.TypeSOA)
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(bindStartTimeout)
	for {
		if n.exited() {
			n.dead = true
			t.Fatalf("named exited at start-up (%v)\n--- output ---\n%s%s", n.err, n.Output(), namedDiagnostics(path, dir, conf))
		}
		if strings.Contains(n.Output(), "address in use") {
			t.Fatalf("named could not listen on 127.0.0.1:%d (taken since it was found free; run the test again)\n--- output ---\n%s", port, n.Output())
		}
		if r, _, err := c.Exchange(m, n.addr); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("named did not answer site.test SOA on %s within %s\n--- output ---\n%s", n.addr, bindStartTimeout, n.Output())
		}
		time.Sleep(pollInterval)
	}
}

// namedDiagnostics runs named -g on conf for a moment: with -f, errors before the logging statement is
// read (a bad configuration) go to syslog only; -g writes them to stderr.
func namedDiagnostics(path, dir, conf string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-g", "-4", "-n", "1", "-c", conf)
	cmd.Dir = dir
	orphanGuard(cmd)
	out, _ := cmd.CombinedOutput()
	return "--- named -g on the same configuration, for the errors that -f sends to syslog ---\n" + lastLines(string(out), 20)
}

// stop ends named: SIGTERM, then a bounded wait. named having exited on its own is a failure.
func (n *namedProc) stop() {
	t := n.t
	select {
	case <-n.done:
		if n.dead {
			return
		}
		t.Errorf("named exited on its own during the test (%v)\n--- output (last 60 lines) ---\n%s", n.err, lastLines(n.Output(), 60))
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(stopTimeout):
		_ = n.cmd.Process.Kill()
		<-n.done
		t.Errorf("named did not exit within %s of SIGTERM; killed", stopTimeout)
	}
	if t.Failed() {
		t.Logf("--- named output (last 80 lines) ---\n%s", lastLines(n.Output(), 80))
	}
}

// waitLog waits until named's output from offset from on matches re and returns the match.
func (n *namedProc) waitLog(t testing.TB, from int, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindString(n.Output()[from:]); m != "" {
			return m
		}
		if n.exited() {
			t.Fatalf("named exited (%v) before logging %q\n--- output ---\n%s", n.err, re, n.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("named logged nothing matching %q within %s\n--- output (last 40 lines) ---\n%s", re, timeout, lastLines(n.Output(), 40))
		}
		time.Sleep(pollInterval)
	}
}

// linesWith returns the lines of text that contain every one of subs.
func linesWith(text string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		ok := l != ""
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// namedConf is named's configuration: recursive resolver on 127.0.0.1:port with p's zone as its response
// policy, site.test as its own zone, and the zones of q and r with the wrong keys.
func namedConf(dir string, port, tsPort int) string {
	return fmt.Sprintf(`options {
    directory %[1]q;
    pid-file %[2]q;
    session-keyfile %[3]q;
    managed-keys-directory %[1]q;
    listen-on port %[4]d { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion yes;
    allow-query { any; };
    allow-transfer { none; };
    dnssec-validation no;
    notify no;                      // the secondary zones' NS is not reachable: no NOTIFY from named
    masterfile-format text;
    // recursive-only no: site.test is named's own, so its answers are authoritative, not recursive.
    // min-update-interval 0: use a new version of the policy zone at once (the default waits 60s).
    response-policy { zone "%[6]s"; } recursive-only no qname-wait-recurse no min-update-interval 0;
};
controls { };
logging {
    channel out { stderr; severity info; print-time yes; print-category yes; print-severity yes; };
    channel xfr { stderr; severity debug 3; print-time yes; print-category yes; print-severity yes; };
    category default { out; };
    category xfer-in { xfr; };
    category notify { xfr; };
};
key "p.key." { algorithm hmac-sha256; secret "%[9]s"; };
key "r.key." { algorithm hmac-sha256; secret "%[10]s"; };
zone "site.test" { type primary; file "site.test.db"; };
zone "%[6]s" {
    type secondary;
    primaries port %[5]d { 127.0.0.1 key "p.key."; };
    file "p.rpz.db";
    allow-transfer { 127.0.0.1; };
};
// A valid key, but another policy's: threatstop refuses the transfer.
zone "%[7]s" { type secondary; primaries port %[5]d { 127.0.0.1 key "p.key."; }; file "q.rpz.db"; };
// r's key with the wrong secret: BADSIG.
zone "%[8]s" { type secondary; primaries port %[5]d { 127.0.0.1 key "r.key."; }; file "r.rpz.db"; };
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), port, tsPort,
		strings.TrimSuffix(bindApexP, "."), strings.TrimSuffix(bindApexQ, "."), strings.TrimSuffix(bindApexR, "."),
		bindSecretP, bindSecretRWrong)
}

// bindEnv is threatstop and named.
type bindEnv struct {
	dir   string
	ts    *Server
	named *namedProc
}

// startBIND writes the feeds, starts threatstop (which sends NOTIFY to named's port) and then named.
func startBIND(t *testing.T) *bindEnv {
	t.Helper()
	path := namedPath(t)
	digPath(t)
	e := &bindEnv{dir: t.TempDir()}
	namedDir := filepath.Join(e.dir, "named")
	if err := os.Mkdir(namedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path = unconfinedNamed(t, path, namedDir)

	var feeds strings.Builder
	for _, f := range bindFeeds {
		p := filepath.Join(e.dir, f.name+".txt")
		writeFile(t, p, f.data)
		fmt.Fprintf(&feeds, "        feed %s {\n            file %s\n            format %s\n            category %s\n        }\n",
			f.name, p, f.format, f.category)
	}
	namedPort := freePort(t, true)
	e.ts = startCorefile(t, e.dir, "Corefile", func() (string, int, int, int) {
		port, ready, metrics := freePort(t, true), freePort(t, false), freePort(t, false)
		text := fmt.Sprintf(`threatstop.test:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    tsig {
        secret p.key. %[5]s
        secret q.key. %[6]s
        secret r.key. %[7]s
        require AXFR IXFR
    }
    transfer {
        to 127.0.0.1:%[4]d
    }
    threatfeed {
        refresh 1s
%[8]s    }
    threatstop {
%[9]s    }
}
`, port, ready, metrics, namedPort, bindSecretP, bindSecretQ, bindSecretR, feeds.String(), bindPolicies)
		return text, port, ready, metrics
	})

	writeFile(t, filepath.Join(namedDir, "site.test.db"), bindSiteZone)
	conf := filepath.Join(namedDir, "named.conf")
	writeFile(t, conf, namedConf(namedDir, namedPort, e.ts.Port))
	e.named = startNamed(t, path, namedDir, conf, namedPort)
	return e
}

// xfrRE matches named's log line for the end of a transfer of apex from threatstop with status.
func (e *bindEnv) xfrRE(apex, status string) *regexp.Regexp {
	return regexp.MustCompile(`transfer of '` + regexp.QuoteMeta(strings.TrimSuffix(apex, ".")) + `/IN' from 127\.0\.0\.1#` +
		strconv.Itoa(e.ts.Port) + `: Transfer status: ` + regexp.QuoteMeta(status))
}

// rpzReloadRE matches named's log line for the policy zone put to use.
var rpzReloadRE = regexp.MustCompile(`rpz: ` + regexp.QuoteMeta(strings.TrimSuffix(bindApexP, ".")) + `: reload done: success`)

// rpzWarnings returns named's complaints about the policy zone: the rpz category at warning or worse
// (invalid triggers, non-canonical rpz-ip names, unsupported policy data, which BIND ignores), and any
// warning or error naming p's zone.
func rpzWarnings(out string) []string {
	var bad []string
	for _, l := range strings.Split(out, "\n") {
		if rpzWarnRE.MatchString(l) || strings.Contains(l, strings.TrimSuffix(bindApexP, ".")) && warnRE.MatchString(l) {
			bad = append(bad, l)
		}
	}
	return bad
}

var (
	rpzWarnRE = regexp.MustCompile(`\brpz(-passthru)?: (warning|error|critical):`)
	warnRE    = regexp.MustCompile(`: (warning|error|critical):`)
)

// namedZone transfers apex from named (which allows it to 127.0.0.1) and checks it as zoneOf does.
func (e *bindEnv) namedZone(t testing.TB, apex string) (*dns.SOA, []string) {
	t.Helper()
	rrs, _, err := xfrIn(e.named.addr, "", xfrMsg(apex, dns.TypeAXFR, 0), nil)
	if err != nil {
		t.Fatalf("AXFR of %s from named: %v", apex, err)
	}
	soa, _, body := zoneOf(t, "AXFR of "+apex+" from named", rrs, apex)
	return soa, body
}

// tsZone transfers apex from threatstop with p.key.
func (e *bindEnv) tsZone(t testing.TB, apex string) (*dns.SOA, []string) {
	t.Helper()
	secrets := map[string]string{"p.key.": bindSecretP}
	rrs, _, err := xfrIn(e.ts.Addr, "", signed(xfrMsg(apex, dns.TypeAXFR, 0), "p.key.", time.Time{}), secrets)
	if err != nil {
		e.ts.failQuery(t, "AXFR of "+apex+" from threatstop", err)
	}
	soa, _, body := zoneOf(t, "AXFR of "+apex+" from threatstop", rrs, apex)
	return soa, body
}

// sameZone checks that named holds exactly the zone that threatstop serves now, and returns its serial.
func (e *bindEnv) sameZone(t testing.TB, what string) uint32 {
	t.Helper()
	nsoa, nbody := e.namedZone(t, bindApexP)
	tsoa, tbody := e.tsZone(t, bindApexP)
	if nsoa.Serial != tsoa.Serial || !slices.Equal(nbody, tbody) {
		t.Errorf("%s: named holds serial %d with %q\nthreatstop serves serial %d with %q", what, nsoa.Serial, nbody, tsoa.Serial, tbody)
	}
	return nsoa.Serial
}

// namedAsk is a recursive query to named.
func (e *bindEnv) namedAsk(network, name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return exchangeFrom(network, "", e.named.addr, m, timeout, nil)
}

// TestBINDRPZ: BIND loads the policy's RPZ zone by zone transfer, accepts every record of it, rewrites
// answers by it, picks up a feed change by NOTIFY, and gets no zone for a key that is not the policy's.
func TestBINDRPZ(t *testing.T) {
	t.Parallel()
	began := time.Now()
	e := startBIND(t)
	up := time.Since(began)

	// The initial transfer of p's zone, signed with p.key., and BIND's rpz reload of it.
	n := e.named
	n.waitLog(t, 0, e.xfrRE(bindApexP, "success"), bindStartTimeout)
	n.waitLog(t, 0, rpzReloadRE, bindStartTimeout)
	t.Logf("threatstop and named up in %s; p's zone transferred and in use %s after start", up.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	for _, l := range linesWith(n.Output(), strings.TrimSuffix(bindApexP, "."), "info:") {
		t.Logf("named: %s", l)
	}

	t.Run("Zone", func(t *testing.T) { testBINDZone(t, e) })
	t.Run("Rewrites", func(t *testing.T) { testBINDRewrites(t, e) })
	t.Run("WrongKeys", func(t *testing.T) { testBINDWrongKeys(t, e) })
	t.Run("Notify", func(t *testing.T) { testBINDNotify(t, e) })

	if w := rpzWarnings(n.Output()); len(w) > 0 {
		t.Errorf("named complained about the policy zone:\n%s", strings.Join(w, "\n"))
	}
	e.ts.CheckAlive(t, bindApexP, dns.TypeSOA, dns.RcodeSuccess)
	t.Logf("TestBINDRPZ took %s", time.Since(began).Round(time.Millisecond))
}

// testBINDZone: named's copy of the zone is threatstop's, record for record, and holds what the policy
// says; named logged no complaint about any record of it.
func testBINDZone(t *testing.T, e *bindEnv) {
	e.sameZone(t, "after the first transfer")
	_, body := e.namedZone(t, bindApexP)
	wantRecords(t, "named's copy of "+bindApexP, body, bindWantP)
	if w := rpzWarnings(e.named.Output()); len(w) > 0 {
		t.Errorf("named complained about records of the policy zone (BIND ignores such triggers):\n%s", strings.Join(w, "\n"))
	}
}

// bindRewrite is a query through named and what the policy makes of it: the rcode, the answer records
// ("TYPE DATA", empty for none) and the rewrite that named logs ("" for none).
type bindRewrite struct {
	name    string
	qtype   uint16
	rcode   string
	answer  []string
	rewrite string // "rpz TYPE POLICY rewrite NAME/QTYPE/IN via TRIGGER" without the zone suffix of TRIGGER
}

var bindRewrites = []bindRewrite{
	// rpz-ip triggers: the /24, the /32, the /16, the allow carve-out in the /16, IPv6 prefixes
	{"listed.site.test", dns.TypeA, "NXDOMAIN", nil, "rpz IP NXDOMAIN rewrite listed.site.test/A/IN via 24.0.69.2.81.rpz-ip"},
	{"exact.site.test", dns.TypeA, "NXDOMAIN", nil, "rpz IP NXDOMAIN rewrite exact.site.test/A/IN via 32.7.8.9.45.rpz-ip"},
	{"wide.site.test", dns.TypeA, "NXDOMAIN", nil, "rpz IP NXDOMAIN rewrite wide.site.test/A/IN via 16.0.0.55.44.rpz-ip"},
	{"allowed.site.test", dns.TypeA, "NOERROR", []string{"A 44.55.66.77"}, "rpz IP PASSTHRU rewrite allowed.site.test/A/IN via 32.77.66.55.44.rpz-ip"},
	{"v6.site.test", dns.TypeAAAA, "NXDOMAIN", nil, "rpz IP NXDOMAIN rewrite v6.site.test/AAAA/IN via 32.zz.e480.2a06.rpz-ip"},
	{"v6host.site.test", dns.TypeAAAA, "NXDOMAIN", nil, "rpz IP NXDOMAIN rewrite v6host.site.test/AAAA/IN via 128.1.zz.4001.1450.2a00.rpz-ip"},
	{"v6runs.site.test", dns.TypeAAAA, "NXDOMAIN", nil, "rpz IP NXDOMAIN rewrite v6runs.site.test/AAAA/IN via 128.1.0.0.1.zz.1450.2a00.rpz-ip"},
	// QNAME triggers: a name, a CNAME to it, a wildcard entry's name and subdomain, an allowed name under
	// the wildcard and a name under that
	{"bad.site.test", dns.TypeA, "NXDOMAIN", nil, "rpz QNAME NXDOMAIN rewrite bad.site.test/A/IN via bad.site.test"},
	{"alias.site.test", dns.TypeA, "NXDOMAIN", []string{"CNAME bad.site.test."}, "rpz QNAME NXDOMAIN rewrite bad.site.test/A/IN via bad.site.test"},
	{"phish.site.test", dns.TypeA, "NXDOMAIN", nil, "rpz QNAME NXDOMAIN rewrite phish.site.test/A/IN via phish.site.test"},
	{"login.phish.site.test", dns.TypeA, "NXDOMAIN", nil, "rpz QNAME NXDOMAIN rewrite login.phish.site.test/A/IN via login.phish.site.test"},
	{"ok.phish.site.test", dns.TypeA, "NOERROR", []string{"A 93.184.216.38"}, "rpz QNAME PASSTHRU rewrite ok.phish.site.test/A/IN via ok.phish.site.test"},
	{"deep.ok.phish.site.test", dns.TypeA, "NXDOMAIN", nil, "rpz QNAME NXDOMAIN rewrite deep.ok.phish.site.test/A/IN via deep.ok.phish.site.test"},
	// actions: redirect (local data), nodata
	{"ads.site.test", dns.TypeA, "NOERROR", []string{"A 192.0.2.80"}, "rpz QNAME Local-Data rewrite ads.site.test/A/IN via ads.site.test"},
	{"ads.site.test", dns.TypeAAAA, "NOERROR", []string{"AAAA 2001:db8::80"}, "rpz QNAME Local-Data rewrite ads.site.test/AAAA/IN via ads.site.test"},
	{"track.site.test", dns.TypeA, "NOERROR", nil, "rpz QNAME NODATA rewrite track.site.test/A/IN via track.site.test"},
	// clean
	{"clean.site.test", dns.TypeA, "NOERROR", []string{"A 93.184.216.35"}, ""},
	{"clean2.site.test", dns.TypeA, "NOERROR", []string{"A 93.184.216.43"}, ""},
}

// digAnswer is the answer section that dig printed, as "TYPE DATA" (owner and TTL left out).
func digAnswer(t testing.TB, out string) []string {
	t.Helper()
	var ans []string
	section := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, ";; ") && strings.HasSuffix(l, " SECTION:") {
			section = l
			continue
		}
		if section != ";; ANSWER SECTION:" || strings.TrimSpace(l) == "" || strings.HasPrefix(l, ";") {
			continue
		}
		rr, err := dns.NewRR(l)
		if err != nil || rr == nil {
			t.Fatalf("dig printed %q in the answer section: %v\n%s", l, err, out)
		}
		f := strings.Fields(rr.String())
		ans = append(ans, strings.Join(f[3:], " "))
	}
	return ans
}

// testBINDRewrites: named's answers, with dig, for every kind of trigger and action, and the rewrite that
// named logs for each; clean names are answered untouched and not logged.
func testBINDRewrites(t *testing.T, e *bindEnv) {
	n := e.named
	suffix := "." + strings.TrimSuffix(bindApexP, ".")
	for i, c := range bindRewrites {
		qt := dns.TypeToString[c.qtype]
		from := len(n.Output())
		args := []string{c.name, qt}
		if i == 0 {
			args = append(args, "+norec") // recursive-only no: the policy applies without RD too
		}
		out := dig(t, n.port, args...)
		what := fmt.Sprintf("dig %s %s via named", c.name, qt)
		if got := digStatus(t, out); got != c.rcode {
			t.Errorf("%s: %s, want %s\n%s", what, got, c.rcode, out)
		}
		if got := digAnswer(t, out); !slices.Equal(got, c.answer) {
			t.Errorf("%s: answer %q, want %q\n%s", what, got, c.answer, out)
		}
		if c.rewrite != "" {
			n.waitLog(t, from, regexp.MustCompile(regexp.QuoteMeta(c.rewrite+suffix)), reloadTimeout)
		} else if l := linesWith(n.Output()[from:], "rewrite "+c.name+"/"); len(l) > 0 {
			t.Errorf("%s: named rewrote a clean name: %q", what, l)
		}
	}

	// drop: no answer at all (over UDP).
	from := len(n.Output())
	if r, err := e.namedAsk("udp", "c2.site.test", dns.TypeA, bindDropWait); err == nil {
		t.Errorf("c2.site.test A (drop) via named: answered %s %v, want no answer", rcode(r), r.Answer)
	}
	n.waitLog(t, from, regexp.MustCompile(regexp.QuoteMeta("rpz QNAME DROP rewrite c2.site.test/A/IN via c2.site.test"+suffix)), reloadTimeout)
}

// testBINDWrongKeys: q's zone asked with p.key. (valid, another policy's) and r's with a wrong secret:
// named gets neither and says why; threatstop counted the refusal.
func testBINDWrongKeys(t *testing.T, e *bindEnv) {
	n := e.named
	refusedRE := regexp.MustCompile(`transfer of '` + regexp.QuoteMeta(strings.TrimSuffix(bindApexQ, ".")) + `/IN' from 127\.0\.0\.1#` +
		strconv.Itoa(e.ts.Port) + `: failed while receiving responses: REFUSED`)
	t.Logf("named: %s", n.waitLog(t, 0, refusedRE, bindStartTimeout))
	n.waitLog(t, 0, e.xfrRE(bindApexQ, "REFUSED"), bindStartTimeout)

	// BADSIG on the SOA query: named does not go on to a transfer. The reason that named logs is not
	// checked: it says "clocks are unsynchronized", because the unsigned BADSIG answer (written by CoreDNS's
	// tsig plugin) carries Time Signed 0 and BIND checks the time window before the TSIG error.
	badRE := regexp.MustCompile(`zone ` + regexp.QuoteMeta(strings.TrimSuffix(bindApexR, ".")) + `/IN: refresh: failure trying primary 127\.0\.0\.1#` +
		strconv.Itoa(e.ts.Port) + ` \(source [^)]*\): [^\n]*`)
	t.Logf("named: %s", n.waitLog(t, 0, badRE, bindStartTimeout))
	if l := linesWith(n.Output(), "transfer of '"+strings.TrimSuffix(bindApexR, ".")+"/IN'", "Transfer status: success"); len(l) > 0 {
		t.Errorf("named transferred %s with a wrong secret: %q", bindApexR, l)
	}

	// Neither zone is loaded: named answers SERVFAIL inside them.
	for _, apex := range []string{bindApexQ, bindApexR} {
		out := dig(t, n.port, apex, "SOA")
		if st := digStatus(t, out); st != "SERVFAIL" {
			t.Errorf("dig %s SOA via named: %s, want SERVFAIL (zone not loaded)\n%s", apex, st, out)
		}
		if l := linesWith(n.Output(), "zone "+strings.TrimSuffix(apex, ".")+"/IN: transferred serial"); len(l) > 0 {
			t.Errorf("named loaded %s: %q", apex, l)
		}
	}
	if v, _ := e.ts.Metric(`coredns_threatstop_transfers_refused_total{policy="q"}`); v < 1 {
		t.Errorf("transfers_refused_total{policy=\"q\"} = %v after named's refused transfer, want at least 1", v)
	}
	if v, _ := e.ts.Metric(`coredns_threatstop_transfers_refused_total{policy="p"}`); v != 0 {
		t.Errorf("transfers_refused_total{policy=\"p\"} = %v, want 0", v)
	}
}

// testBINDNotify: a new entry in a feed reaches named's answers by NOTIFY and an incremental transfer:
// threatstop's journal answers named's IXFR with the difference, and named logs it as incremental.
func testBINDNotify(t *testing.T, e *bindEnv) {
	n := e.named
	before := e.sameZone(t, "before the change")
	from := len(n.Output())
	notifyRE := regexp.MustCompile(`received notify for zone '` + regexp.QuoteMeta(strings.TrimSuffix(bindApexP, ".")) + `'`)
	xfrRE := regexp.MustCompile(regexp.QuoteMeta("zone "+strings.TrimSuffix(bindApexP, ".")+"/IN: transferred serial ") + `\d+`)

	tsFrom := len(e.ts.Output())
	reloadRE := regexp.MustCompile(`feed v4 \(file [^)]*\): version 2,`)

	// Each step is stamped when the poll first sees it (so no later than it happened, give or take
	// pollInterval): threatstop's reload of the feed (it polls the file every second), named's receipt
	// of the NOTIFY, the end of the transfer, and the first rewritten answer.
	changed := time.Now()
	replaceFile(t, filepath.Join(e.dir, "v4.txt"), []byte(bindFeeds[0].data+bindAdded+"\n"))
	var reloaded, notified, transferred, blocked time.Duration
	deadline := changed.Add(reloadTimeout)
	for {
		r, err := e.namedAsk("udp", "clean.site.test", dns.TypeA, queryTimeout)
		now := time.Since(changed)
		if err == nil && r.Rcode == dns.RcodeNameError {
			blocked = now
		}
		for _, s := range []struct {
			at  *time.Duration
			re  *regexp.Regexp
			out string
		}{{&reloaded, reloadRE, e.ts.Output()[tsFrom:]}, {&notified, notifyRE, n.Output()[from:]}, {&transferred, xfrRE, n.Output()[from:]}} {
			if *s.at == 0 && s.re.MatchString(s.out) {
				*s.at = now
			}
		}
		if blocked != 0 {
			break
		}
		if n.exited() {
			t.Fatalf("named exited (%v)\n--- output ---\n%s", n.err, n.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("clean.site.test still answered by named %s after %s was added to feed v4 (notify seen: %v, transfer seen: %v)\n--- named output since the change ---\n%s",
				reloadTimeout, bindAdded, notified != 0, transferred != 0, n.Output()[from:])
		}
		time.Sleep(pollInterval)
	}
	t.Logf("after the feed file changed: threatstop reloaded it by %s (refresh 1s), named had the NOTIFY by %s and the new zone by %s, clean.site.test NXDOMAIN through named at %s",
		reloaded.Round(time.Millisecond), notified.Round(time.Millisecond), transferred.Round(time.Millisecond), blocked.Round(time.Millisecond))
	for _, l := range linesWith(n.Output()[from:], strings.TrimSuffix(bindApexP, ".")) {
		if !strings.Contains(l, "client @") {
			t.Logf("named: %s", l)
		}
	}

	out := dig(t, n.port, "clean.site.test", "A")
	if st := digStatus(t, out); st != "NXDOMAIN" {
		t.Errorf("dig clean.site.test A via named after the change: %s, want NXDOMAIN\n%s", st, out)
	}
	n.waitLog(t, from, regexp.MustCompile(regexp.QuoteMeta("rpz IP NXDOMAIN rewrite clean.site.test/A/IN via "+bindAddedTrigger+"."+strings.TrimSuffix(bindApexP, "."))), reloadTimeout)
	out = dig(t, n.port, "clean2.site.test", "A")
	if st, ans := digStatus(t, out), digAnswer(t, out); st != "NOERROR" || !slices.Equal(ans, []string{"A 93.184.216.43"}) {
		t.Errorf("dig clean2.site.test A via named after the change: %s %q, want the A record\n%s", st, ans, out)
	}

	after := e.sameZone(t, "after the change")
	if !serialAfter(after, before) {
		t.Errorf("serial of named's copy: %d after the change, %d before", after, before)
	}
	_, body := e.namedZone(t, bindApexP)
	wantRecords(t, "named's copy after the change", body, append(slices.Clone(bindWantP), bindAddedTrigger+" CNAME ."))
	if lines := linesWith(n.Output()[from:], "transfer of '"+strings.TrimSuffix(bindApexP, ".")+"/IN'", "Transfer status: success"); len(lines) == 0 {
		t.Errorf("named logged no successful transfer of %s after the change", bindApexP)
	}
	if w := rpzWarnings(n.Output()[from:]); len(w) > 0 {
		t.Errorf("named complained about the new version of the policy zone:\n%s", strings.Join(w, "\n"))
	}
	apexP := strings.TrimSuffix(bindApexP, ".")
	if lines := linesWith(n.Output()[from:], "transfer of '"+apexP+"/IN'", "got incremental response"); len(lines) == 0 ||
		len(linesWith(n.Output()[from:], "transfer of '"+apexP+"/IN'", "got nonincremental response")) > 0 {
		t.Errorf("named did not log the transfer after the change as incremental (IXFR):\n%s", strings.Join(linesWith(n.Output()[from:], apexP), "\n"))
	}
}
