package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// runToExit starts the binary on testdata/<tmpl> and waits for it to exit by itself; it returns the exit
// code and the output. A process still running after the timeout fails the test.
func runToExit(t *testing.T, tmpl string, feeds ...string) (code int, output, corefile string) {
	t.Helper()
	s := newServer(t, feeds...)
	v := corefileVars{Dir: s.Dir, Port: freePort(t, true), ReadyPort: freePort(t, false), MetricsPort: freePort(t, false), Refresh: testRefresh}
	corefile = renderCorefile(t, tmpl, v)
	path := filepath.Join(s.Dir, "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-conf", path)
	cmd.Dir = s.Dir
	cmd.WaitDelay = stopTimeout
	orphanGuard(cmd)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("threatstop with a broken Corefile did not exit within %s\n--- output ---\n%s", startTimeout, out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out), corefile
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out), corefile
	default:
		t.Fatalf("run %s: %v", binary, err)
	}
	return
}

// TestStartupFailures: a Corefile with an unknown feed in a policy's lists, an unknown feed format, or
// transfer_clients that tsig's require would make useless, makes the binary exit non-zero, naming the
// Corefile line and the problem.
func TestStartupFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tmpl    string
		line    string // the text of the offending line
		message string // what the error must say
	}{
		{"unknown_feed.corefile", "lists spamhaus-drop no-such-feed", `unknown feed "no-such-feed"`},
		{"unknown_format.corefile", "format no-such-format", `unknown format "no-such-format"`},
		// tsig's require would refuse every unsigned transfer before threatstop sees it.
		{"require_transfer_clients.corefile", "transfer_clients 127.0.0.2/32", "transfer_clients: the tsig plugin of this server block refuses an unsigned AXFR"},
	} {
		t.Run(strings.TrimSuffix(c.tmpl, ".corefile"), func(t *testing.T) {
			t.Parallel()
			code, out, corefile := runToExit(t, c.tmpl, "spamhaus_drop.txt")
			if code == 0 {
				t.Fatalf("exit status 0, want non-zero\n--- output ---\n%s", out)
			}
			want := lineOf(t, corefile, c.line)
			m := regexp.MustCompile(`Corefile:(\d+) - Error during parsing: (.*)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("output does not name a Corefile line (Corefile:N - Error during parsing: ...)\n--- output ---\n%s", out)
			}
			if m[1] != fmt.Sprint(want) {
				t.Errorf("error names Corefile line %s, want %d (%q)\n%s", m[1], want, c.line, out)
			}
			if !strings.Contains(m[2], c.message) {
				t.Errorf("error %q does not say %s", m[2], c.message)
			}
		})
	}
}

// TestCorefileExample serves the repository's Corefile.example from the repository root, on its own fixed
// ports, and asks the README's queries with dig.
func TestCorefileExample(t *testing.T) {
	t.Parallel()
	digPath(t)
	if portInUse(1053) {
		t.Skip("127.0.0.1:1053 is already in use (UDP or TCP); Corefile.example binds it, so this test cannot run here")
	}
	// Its DNS over TLS takes the test certificate that `make run` and `make test` make.
	if out, err := exec.Command("make", "-C", repoRoot, "bin/tls/cert.pem").CombinedOutput(); err != nil {
		t.Fatalf("make bin/tls/cert.pem (openssl): %v\n%s", err, out)
	}
	s := &Server{
		t:          t,
		Dir:        repoRoot,
		Corefile:   filepath.Join(repoRoot, "Corefile.example"),
		Port:       1053,
		Addr:       net.JoinHostPort("127.0.0.1", "1053"),
		ReadyURL:   "http://127.0.0.1:8181/ready",
		MetricsURL: "http://127.0.0.1:9153/metrics",
	}
	s.launch(repoRoot, "-conf", "Corefile.example")
	if err := s.waitUp(true); err != nil {
		t.Fatalf("Corefile.example did not come up: %v\n--- output ---\n%s", err, s.Output())
	}

	out := dig(t, 1053, "+noall", "+answer", "+comments", "2.0.0.127.demo.threatstop.local", "A")
	if st := digStatus(t, out); st != "NOERROR" {
		t.Errorf("2.0.0.127.demo.threatstop.local A: status %s, want NOERROR\n%s", st, out)
	}
	if rrs := digRRs(t, out); len(rrs) != 1 || rrs[0].Header().Rrtype != dns.TypeA || rrs[0].(*dns.A).A.String() != "127.0.0.2" {
		t.Errorf("2.0.0.127.demo.threatstop.local A: %v, want A 127.0.0.2\n%s", rrs, out)
	}

	out = dig(t, 1053, "+noall", "+answer", "+comments", "1.16.10.1.demo.threatstop.local", "TXT")
	if st := digStatus(t, out); st != "NOERROR" {
		t.Errorf("1.16.10.1.demo.threatstop.local TXT: status %s, want NOERROR\n%s", st, out)
	}
	var txt []string
	for _, rr := range digRRs(t, out) {
		if r, ok := rr.(*dns.TXT); ok {
			txt = append(txt, strings.Join(r.Txt, ""))
		}
	}
	if !slices.Contains(txt, "list=spamhaus-drop category=spam") {
		t.Errorf("1.16.10.1.demo.threatstop.local TXT: %q, want list=spamhaus-drop category=spam among them\n%s", txt, out)
	}
	if got := digShort(dig(t, 1053, "+short", "1.16.10.1.demo.threatstop.local", "TXT")); !slices.Contains(got, `"list=spamhaus-drop category=spam"`) {
		t.Errorf("dig +short 1.16.10.1.demo.threatstop.local TXT: %q", got)
	}

	for _, c := range []struct {
		name   string
		status string
		a      []string
	}{
		{"1.16.10.1.demo.threatstop.local", "NOERROR", []string{"127.0.0.2"}},
		{"1.0.0.127.demo.threatstop.local", "NXDOMAIN", nil},                       // RFC 5782 test point: not listed
		{"8.8.8.8.demo.threatstop.local", "NXDOMAIN", nil},                         // clean
		{"179.92.99.101.demo.threatstop.local", "NOERROR", []string{"127.0.0.3"}},  // tor
		{"1.0.19.1.demo.threatstop.local", "NXDOMAIN", nil},                        // allow 1.19.0.1 wins over Spamhaus DROP
		{"2.0.19.1.demo.threatstop.local", "NOERROR", []string{"127.0.0.2"}},       // its neighbour in 1.19.0.0/16 is listed
		{"1.2.0.192.demo.threatstop.local", "NXDOMAIN", nil},                       // FireHOL's TEST-NET-1 entry is guarded
		{"evil.example.demo.threatstop.local", "NOERROR", []string{"127.0.0.10"}},  // own block entry
		{"102.124.239.77.mail.threatstop.local", "NOERROR", []string{"127.0.0.5"}}, // ipsum, score 10
		{"179.92.99.101.mail.threatstop.local", "NXDOMAIN", nil},                   // tor is not in mail
		{"test.mail.threatstop.local", "NOERROR", []string{"127.0.0.2"}},
	} {
		out := dig(t, 1053, "+noall", "+answer", "+comments", c.name, "A")
		if st := digStatus(t, out); st != c.status {
			t.Errorf("%s A: status %s, want %s\n%s", c.name, st, c.status, out)
			continue
		}
		a := aRecords(&dns.Msg{Answer: digRRs(t, out)})
		if !slices.Equal(a, c.a) {
			t.Errorf("%s A: %v, want %v\n%s", c.name, a, c.a, out)
		}
	}
	// The README's in-line firewall examples: the resolver on 1054 in front of the demo zone on 1055.
	for _, c := range []struct {
		name, status, ede string
		a                 []string
	}{
		{"www.demo.example", "NOERROR", "", []string{"192.0.2.10"}},
		{"alias.demo.example", "NOERROR", "", []string{"192.0.2.10"}},
		{"evil.example", "NXDOMAIN", "; EDE: 17 (Filtered): (threatstop policy=demo list=custom category=custom)", nil},
		{"c2.demo.example", "NXDOMAIN", "; EDE: 15 (Blocked): (threatstop policy=demo list=spamhaus-drop category=spam)", nil},
		{"c2-alias.demo.example", "NXDOMAIN", "; EDE: 15 (Blocked): (threatstop policy=demo list=spamhaus-drop category=spam)", nil},
		{"shop.demo.example", "NOERROR", "; EDE: 15 (Blocked): (threatstop policy=demo list=urlhaus category=malware)", []string{"192.0.2.80"}},
		{"printer.demo.example", "NXDOMAIN", "; EDE: 17 (Filtered): (threatstop policy=demo list=custom category=custom)", nil},
	} {
		out := dig(t, 1054, "+noall", "+answer", "+comments", c.name, "A")
		if st := digStatus(t, out); st != c.status {
			t.Errorf("firewall %s A: status %s, want %s\n%s", c.name, st, c.status, out)
			continue
		}
		if c.ede != "" && !strings.Contains(out, c.ede) {
			t.Errorf("firewall %s A: no %q\n%s", c.name, c.ede, out)
		}
		if c.ede == "" && strings.Contains(out, "EDE") {
			t.Errorf("firewall %s A: an EDE on a clean answer\n%s", c.name, out)
		}
		a := aRecords(&dns.Msg{Answer: digRRs(t, out)})
		if !slices.Equal(a, c.a) {
			t.Errorf("firewall %s A: %v, want %v\n%s", c.name, a, c.a, out)
		}
	}
	// The README's RPZ transfer: signed with demo's key it is the whole policy; unsigned it fails.
	out = dig(t, 1053, "-y", "hmac-sha256:demo.key.:HiUB9+Qa1ZWjcu4PtXG6NF4mRNdtRwfHN3mniH/VTHY=", "demo.rpz.threatstop.local", "AXFR")
	for _, want := range []string{
		"20.0.16.10.1.rpz-ip.demo.rpz.threatstop.local. 300 IN CNAME .",
		"32.1.0.19.1.rpz-ip.demo.rpz.threatstop.local. 300 IN CNAME rpz-passthru.",
		"*.eoutlet.2023shoponline.com.demo.rpz.threatstop.local.\t300 IN CNAME .",
		"evil.example.demo.rpz.threatstop.local.\t300 IN CNAME .",
		";; XFR size: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("signed AXFR of demo.rpz.threatstop.local: no %q in\n%s", want, lastLines(out, 5))
		}
	}
	if out := dig(t, 1053, "demo.rpz.threatstop.local", "AXFR"); !strings.Contains(out, "; Transfer failed.") {
		t.Errorf("unsigned AXFR of demo.rpz.threatstop.local did not fail:\n%s", lastLines(out, 5))
	}
	checkListPages(t, s)
	// The README's Check IoC: which feeds hold 1.10.16.5, over DNS and HTTP, and its score: DROP at
	// confidence 90 and FireHOL at 70 hold the same /20.
	if got := dig(t, 1053, "+short", "1.10.16.5._check.threatstop.local", "TXT"); !strings.Contains(got, `"list=spamhaus-drop category=spam entry=1.10.16.0/20 relation=covers score=97 since=`) ||
		!strings.HasPrefix(got, `"score=97 sources=2 sensors=0 first_seen=`) {
		t.Errorf("dig 1.10.16.5._check.threatstop.local TXT:\n%s", got)
	}
	if code, body, err := httpGet(&http.Client{Timeout: 5 * time.Second}, "http://127.0.0.1:9155/check?ioc=1.10.16.5"); err != nil || code != 200 || !strings.Contains(body, `"entry": "1.10.16.0/20"`) || !strings.Contains(body, `"severity": "high"`) {
		t.Errorf("GET /check?ioc=1.10.16.5: %d %v\n%s", code, err, body)
	}
	checkEDL(t)
	checkDoT(t)
	checkUpload(t)
	checkDashboards(t, s.MetricsURL)
	checkAdminContract(t)
	s.CheckAlive(t, "1.16.10.1.demo.threatstop.local.", dns.TypeA, dns.RcodeSuccess)
}

// checkUpload runs the README's upload: the demo device's netfilter log, stored once (the same batch
// again is a duplicate, so the repository's database does not grow with each run).
func checkUpload(t *testing.T) {
	t.Helper()
	out, err := exec.Command("curl", "-sS", "-H", "Authorization: Bearer 7c0d0c4e1b9a4f0e8d1b2a3c", "--data-binary", "@"+filepath.Join(repoRoot, "testdata/logs/netfilter.log"), "http://127.0.0.1:9155/upload").Output()
	if err != nil || !strings.Contains(string(out), `"policy": "demo"`) || !strings.Contains(string(out), `"listed": 5`) {
		t.Errorf("the README's upload: %v\n%s", err, out)
	}
}

// checkDashboards: every metric that the Grafana dashboard and the alert rules of deploy/ name is one
// the server exports by now (after the test's lookups, transfers and lists), but for those of edges.
func checkDashboards(t *testing.T, metricsURL string) {
	t.Helper()
	code, body, err := httpGet(&http.Client{Timeout: 5 * time.Second}, metricsURL)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v", metricsURL, code, err)
	}
	have := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(body, -1) {
		have[m[1]] = true
	}
	elsewhere := map[string]string{
		"coredns_threatstop_follow_serial":       "an edge's (follow)",
		"coredns_threatstop_follow_errors_total": "an edge's (follow)",
		// Once an upload stores events on listed addresses: the README's upload here is a duplicate
		// from the second run on (the repository's database keeps it).
		"coredns_threatlog_hits_total": "after an upload",
	}
	for _, f := range []string{"deploy/grafana/threatstop.json", "deploy/prometheus/threatstop.rules.yml"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, m := range regexp.MustCompile(`coredns_[a-z_]+`).FindAllString(string(data), -1) {
			name := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if n, ok := strings.CutSuffix(m, suffix); ok && have[n] {
					name = n
				}
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			if !have[name] && elsewhere[name] == "" {
				t.Errorf("%s names %s, which the server does not export", f, name)
			}
		}
	}
}

// checkDoT asks Corefile.example's DNS over TLS on 8853 with kdig, verifying the test certificate: a
// DNSBL lookup, demo's RPZ zone by TSIG-signed AXFR and IXFR (RFC 9103), and an unsigned AXFR refused.
func checkDoT(t *testing.T) {
	t.Helper()
	tls := []string{"-p", "8853", "@127.0.0.1", "+tls-ca=" + filepath.Join(repoRoot, "bin/tls/cert.pem"), "+tls-hostname=localhost", "+time=5", "+retry=0"}
	key := "hmac-sha256:demo.key.:HiUB9+Qa1ZWjcu4PtXG6NF4mRNdtRwfHN3mniH/VTHY="
	kdig := func(args ...string) string {
		out, err := exec.Command(kdigPath(t), append(append([]string{}, tls...), args...)...).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "REFUSED") && !strings.Contains(string(out), "NOTAUTH") {
			t.Errorf("kdig %v: %v\n%s", args, err, lastLines(string(out), 5))
		}
		return string(out)
	}
	if out := kdig("1.16.10.1.demo.threatstop.local", "TXT"); !strings.Contains(out, ";; TLS session") || !strings.Contains(out, `"list=spamhaus-drop category=spam"`) {
		t.Errorf("DNSBL lookup over TLS:\n%s", lastLines(out, 8))
	}
	out := kdig("-y", key, "demo.rpz.threatstop.local", "AXFR")
	m := regexp.MustCompile(`Received \d+ B \((\d+) messages, (\d+) records\)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "NOERROR") {
		t.Fatalf("signed AXFR over TLS:\n%s", lastLines(out, 5))
	}
	if n, _ := strconv.Atoi(m[2]); n < 1000 {
		t.Errorf("signed AXFR over TLS: %s records", m[2])
	}
	soa := regexp.MustCompile(`demo\.rpz\.threatstop\.local\.\s+\d+\s+IN\s+SOA\s+\S+\s+\S+\s+(\d+)`).FindStringSubmatch(out)
	if soa == nil {
		t.Fatalf("no SOA in the AXFR over TLS:\n%s", lastLines(out, 5))
	}
	if out := kdig("-y", key, "demo.rpz.threatstop.local", "IXFR="+soa[1]); !strings.Contains(out, "Received") || !strings.Contains(out, "(1 messages, 1 records)") {
		t.Errorf("signed IXFR over TLS from the current serial %s (up to date: the SOA alone):\n%s", soa[1], lastLines(out, 5))
	}
	if out := kdig("demo.rpz.threatstop.local", "AXFR"); !strings.Contains(out, "replied with error 'REFUSED'") || !strings.Contains(out, "Received 0 B") {
		t.Errorf("unsigned AXFR over TLS was not refused:\n%s", lastLines(out, 5))
	}
}

// checkEDL runs the README's external dynamic list command with curl: demo's IPv4 list, with the demo
// device's token as a firewall sends it, holds DROP's 1.10.16.0/20; the same request with the ETag curl
// saved answers 304.
func checkEDL(t *testing.T) {
	t.Helper()
	etag := filepath.Join(t.TempDir(), "etag")
	out, err := exec.Command("curl", "-sS", "-u", "demo:7c0d0c4e1b9a4f0e8d1b2a3c", "--etag-save", etag, "http://127.0.0.1:9155/edl/demo/ipv4.txt").Output()
	if err != nil || !slices.Contains(strings.Split(string(out), "\n"), "1.10.16.0/20") {
		t.Errorf("curl -u demo:TOKEN http://127.0.0.1:9155/edl/demo/ipv4.txt: %v, no line 1.10.16.0/20 in %d bytes", err, len(out))
	}
	code, err := exec.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", "demo:7c0d0c4e1b9a4f0e8d1b2a3c", "--etag-compare", etag, "http://127.0.0.1:9155/edl/demo/ipv4.txt").Output()
	if err != nil || string(code) != "304" {
		t.Errorf("conditional GET of the EDL: %s %v, want 304", code, err)
	}
}

// checkAdminContract runs the README's management API commands with curl: a block entry added with demo's
// token is listed with the custom answer within 2 s and unlisted by its DELETE; an allow entry unlists a
// DROP address until it is deleted. The edits are undone, so bin/threatadmin.db keeps nothing of them.
func checkAdminContract(t *testing.T) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not installed (.ci/run installs it)")
		}
		t.Log("no curl: the management API contract is not checked")
		return
	}
	const auth = "Authorization: Bearer demo-api-7f3c9a1e5b2d4c6e"
	api := func(method, path, body string) string {
		args := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "-H", auth}
		if body != "" {
			args = append(args, "-d", body)
		}
		out, err := exec.Command(curl, append(args, "http://127.0.0.1:9156"+path)...).Output()
		if err != nil {
			t.Fatalf("curl %s %s: %v", method, path, err)
		}
		return string(out)
	}
	answer := func(name string) string {
		out := dig(t, 1053, "+noall", "+answer", "+comments", name, "A")
		if a := aRecords(&dns.Msg{Answer: digRRs(t, out)}); len(a) > 0 {
			return digStatus(t, out) + " " + strings.Join(a, " ")
		}
		return digStatus(t, out)
	}
	within := func(name, want string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for got := answer(name); got != want; got = answer(name) {
			if time.Now().After(deadline) {
				t.Errorf("%s: %s, want %s within 2 s of the API call", name, got, want)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	const added, dropped = "7.100.51.198.demo.threatstop.local", "1.16.10.1.demo.threatstop.local"
	api("DELETE", "/api/v1/policies/demo/block/198.51.100.7", "") // what an earlier run may have left
	api("DELETE", "/api/v1/policies/demo/allow/1.10.16.1", "")
	within(added, "NXDOMAIN")
	if code := api("POST", "/api/v1/policies/demo/block", `{"value":"198.51.100.7"}`); code != "201" {
		t.Errorf("POST block: %s, want 201", code)
	}
	within(added, "NOERROR 127.0.0.10")
	if code := api("DELETE", "/api/v1/policies/demo/block/198.51.100.7", ""); code != "204" {
		t.Errorf("DELETE block: %s, want 204", code)
	}
	within(added, "NXDOMAIN")
	within(dropped, "NOERROR 127.0.0.2")
	if code := api("POST", "/api/v1/policies/demo/allow", `{"value":"1.10.16.1"}`); code != "201" {
		t.Errorf("POST allow: %s, want 201", code)
	}
	within(dropped, "NXDOMAIN")
	if code := api("DELETE", "/api/v1/policies/demo/allow/1.10.16.1", ""); code != "204" {
		t.Errorf("DELETE allow: %s, want 204", code)
	}
	within(dropped, "NOERROR 127.0.0.2")
	checkPortalSignIn(t)
}

// checkPortalSignIn signs in to the portal of Corefile.example as the README says (user demo, password
// demo-portal-7f3c9a1e) and reads the policies page; a wrong password is refused.
func checkPortalSignIn(t *testing.T) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	signIn := func(pw string) (int, string) {
		resp, err := c.Get("http://127.0.0.1:9156/ui/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("the sign-in page has no CSRF token:\n%s", page)
		}
		resp, err = c.PostForm("http://127.0.0.1:9156/ui/login", url.Values{"csrf": {string(m[1])}, "user": {"demo"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := signIn("not the password"); code != http.StatusUnauthorized {
		t.Errorf("portal sign-in with a wrong password: %d, want 401", code)
	}
	if code, body := signIn("demo-portal-7f3c9a1e"); code != http.StatusOK || !strings.Contains(body, `href="/ui/policies/demo"`) || !strings.Contains(body, `href="/ui/policies/mail"`) {
		t.Errorf("portal sign-in as the README says: %d\n%s", code, body)
	}
}

// TestCorefileExampleClients: every policy of Corefile.example names its clients, so that the example
// people copy answers, and shows its own entries and list pages, only to the networks it names.
func TestCorefileExampleClients(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(filepath.Join(repoRoot, "Corefile.example"))
	if err != nil {
		t.Fatal(err)
	}
	policyRE := regexp.MustCompile(`(?m)^(\s*)policy (\S+) \{\n((?:.*\n)*?)(\s*)\}`)
	matches := policyRE.FindAllStringSubmatch(string(text), -1)
	if len(matches) == 0 {
		t.Fatal("Corefile.example has no policy")
	}
	for _, m := range matches {
		if !regexp.MustCompile(`(?m)^\s*clients \S`).MatchString(m[3]) {
			t.Errorf("policy %s of Corefile.example has no clients line", m[2])
		}
	}
}

// checkListPages reads the README's list pages of policy demo with dig over TCP: every entry once, in
// order and disjoint, the allow carve-out left out, and each entry listed by the DNSBL lookup too.
func checkListPages(t *testing.T, s *Server) {
	t.Helper()
	sum := map[string]int{}
	for _, kv := range strings.Fields(strings.ReplaceAll(dig(t, 1053, "+short", "_list.demo.threatstop.local", "TXT"), `"`, "")) {
		k, v, _ := strings.Cut(kv, "=")
		sum[k], _ = strconv.Atoi(v)
	}
	if sum["pages"] < 2 || sum["entries"] < 1000 || sum["page_size"] != 4000 {
		t.Fatalf("_list.demo.threatstop.local TXT: %v", sum)
	}
	var all []netip.Prefix
	for i := range sum["pages"] {
		name := fmt.Sprintf("%d._list.demo.threatstop.local", i)
		out := dig(t, 1053, "+tcp", "+short", name, "TXT")
		n := 0
		for _, f := range strings.Fields(strings.ReplaceAll(out, `"`, "")) {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				t.Fatalf("%s TXT: %q is not a prefix", name, f)
			}
			all = append(all, p)
			n++
		}
		if n == 0 || n > 4000 {
			t.Errorf("%s TXT: %d entries", name, n)
		}
		if i == 0 {
			a := digShort(dig(t, 1053, "+tcp", "+short", name, "A"))
			if len(a) == 0 || !slices.Contains(a, "1.19.0.0") {
				t.Errorf("dig +tcp %s A: %d addresses, want 1.19.0.0 (next to the allowed 1.19.0.1) among them", name, len(a))
			}
		}
	}
	if len(all) != sum["entries"] {
		t.Errorf("the pages hold %d entries, _list says %d", len(all), sum["entries"])
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.Addr().Is4() == b.Addr().Is4() && (a.Overlaps(b) || !a.Addr().Less(b.Addr())) {
			t.Fatalf("entries %v and %v overlap or are out of order", a, b)
		}
	}
	if !slices.Contains(all, netip.MustParsePrefix("1.10.16.0/20")) {
		t.Errorf("1.10.16.0/20 (Spamhaus DROP) is not in the list pages")
	}
	allowed := netip.MustParseAddr("1.19.0.1")
	for i, p := range all {
		if p.Contains(allowed) {
			t.Errorf("%v holds the allowed %v", p, allowed)
		}
		if i%97 != 0 {
			continue
		}
		if r := s.Query(t, addrName(t, p.Addr().String(), "demo.threatstop.local."), dns.TypeA); r.Rcode != dns.RcodeSuccess {
			t.Errorf("list entry %v: its first address is %s by the DNSBL lookup", p, dns.RcodeToString[r.Rcode])
		}
	}
}
