package threatlog_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/pkg/logstore"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatlog"
)

const (
	demoSecret  = "HiUB9+Qa1ZWjcu4PtXG6NF4mRNdtRwfHN3mniH/VTHY="
	otherSecret = "MdNw0zZxd/rtbfgsQZ316cLIu0OZ99u1XzxlS6XZImw="
	otherToken  = "other-gw-token-0123456789"
)

// now is the test's clock: the fixtures' events are on 2026-11-23, the uploads a day later.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

var fixtures = []string{"netfilter.log", "threatstop-sync.log", "pflog.txt", "threatstop-decisions.log", "bind-rpz.log", "unbound-rpz.log", "asa.log"}

func root(t testing.TB) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func freePort(t testing.TB) string { return coretest.FreeAddr(t) }

// corefile: two customers (policies demo and other) over real feeds, threatlog listening on addr.
func corefile(t testing.TB, dir, addr, extra string) string {
	feeds := filepath.Join(root(t), "testdata", "feeds")
	return fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    tsig {
        secret demo.key. %[4]s
        secret other.key. %[5]s
    }
    threatfeed {
        feed spamhaus-drop {
            file %[1]s/spamhaus_drop.txt
            format spamhaus
            category spam
        }
        feed spamhaus-dropv6 {
            file %[1]s/spamhaus_dropv6.txt
            format spamhaus
            category spam
        }
        feed tor-exits {
            file %[1]s/tor_exit_nodes.lst
            format plain
            category tor
        }
        feed cobalt {
            file %[1]s/alienvault-cobalt-strike.domains.txt
            format plain
            category c2
        }
        feed hagezi-fake {
            file %[1]s/hagezi_fake.wildcard.txt
            format wildcard
            category fraud
        }
    }
    threatlog {
        listen %[3]s
        db %[2]s/threatlog.db
        infected 3
        token other gw-other %[6]s
%[7]s
    }
    threatstop {
        policy demo {
            lists spamhaus-drop spamhaus-dropv6 cobalt hagezi-fake
            categories tor
            block 203.0.113.0/24 evil.example
            keys demo.key.
        }
        policy other {
            lists tor-exits
            block 198.51.100.0/24
            keys other.key.
        }
    }
}
`, feeds, dir, addr, demoSecret, otherSecret, otherToken, extra)
}

type env struct {
	t    *testing.T
	dir  string
	addr string
	srv  *coretest.Server
}

func setup(t *testing.T, extra string) *env {
	t.Helper()
	restore := threatlog.SetClock(func() time.Time { return now })
	t.Cleanup(restore)
	e := &env{t: t, dir: t.TempDir(), addr: freePort(t)}
	e.start(extra)
	return e
}

func (e *env) start(extra string) {
	e.t.Helper()
	s, err := coretest.StartErr(corefile(e.t, e.dir, e.addr, extra))
	if err != nil {
		e.t.Fatalf("start: %v", err)
	}
	e.srv = s
	e.t.Cleanup(func() {
		if e.srv == s {
			s.Stop()
			e.srv = nil
		}
	})
}

func (e *env) stop() {
	e.t.Helper()
	if errs := e.srv.Inst.ShutdownCallbacks(); len(errs) > 0 {
		e.t.Fatal(errs)
	}
	if err := e.srv.Inst.Stop(); err != nil {
		e.t.Fatal(err)
	}
	e.srv = nil
}

// cred signs or authorises one request.
type cred func(r *http.Request, body []byte)

func hmacCred(key, secret, device string) cred {
	return func(r *http.Request, body []byte) {
		sec, _ := base64.StdEncoding.DecodeString(secret)
		date := strconv.FormatInt(clockNow().Unix(), 10)
		r.Header.Set(threatlog.HeaderKey, key)
		r.Header.Set(threatlog.HeaderDate, date)
		if device != "" {
			r.Header.Set(threatlog.HeaderDevice, device)
		}
		r.Header.Set(threatlog.HeaderSignature, threatlog.Sign(sec, r.Method, r.URL.RequestURI(), date, device, r.Header.Get(threatlog.HeaderBatch), body))
	}
}

var clockNow = func() time.Time { return now }

func tokenCred(tok string) cred {
	return func(r *http.Request, _ []byte) { r.Header.Set("Authorization", "Bearer "+tok) }
}

var demo = hmacCred("demo.key.", demoSecret, "gw")

func (e *env) do(method, path string, body []byte, headers map[string]string, c cred) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+e.addr+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if c != nil {
		c(req, body)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) upload(body []byte, headers map[string]string, c cred) (int, threatlog.UploadResult) {
	e.t.Helper()
	code, b := e.do(http.MethodPost, "/upload", body, headers, c)
	var res threatlog.UploadResult
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &res); err != nil {
			e.t.Fatalf("upload answer %s: %v", b, err)
		}
	}
	return code, res
}

const period = "?from=2026-11-23&to=2026-11-25"

func (e *env) report(c cred) *threatlog.Report {
	e.t.Helper()
	code, b := e.do(http.MethodGet, "/report"+period, nil, nil, c)
	if code != http.StatusOK {
		e.t.Fatalf("report: %d %s", code, b)
	}
	var rep threatlog.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		e.t.Fatal(err)
	}
	return &rep
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "testdata", "logs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// uploadAll uploads every fixture as demo's device gw and checks each answer.
func (e *env) uploadAll() {
	e.t.Helper()
	want := map[string][3]int{ // events, unknown lines, listed
		"netfilter.log": {6, 3, 5}, "threatstop-sync.log": {5, 1, 5}, "pflog.txt": {7, 1, 6},
		"threatstop-decisions.log": {5, 2, 5}, "bind-rpz.log": {5, 2, 5}, "unbound-rpz.log": {5, 2, 4}, "asa.log": {7, 2, 7},
	}
	for _, f := range fixtures {
		body := fixture(e.t, f)
		headers := map[string]string{}
		if f == "pflog.txt" || f == "asa.log" { // some of them compressed
			body = gz(body)
			headers["Content-Encoding"] = "gzip"
		}
		code, res := e.upload(body, headers, demo)
		w := want[f]
		if code != http.StatusOK || res.Duplicate || res.Stored != w[0] || res.Events != w[0] || res.Unknown != w[1] || res.Listed != w[2] || res.Policy != "demo" || res.Device != "gw" {
			e.t.Errorf("upload %s: %d %+v, want events %d, unknown %d, listed %d", f, code, res, w[0], w[1], w[2])
		}
	}
}

func counts(cs []threatlog.Count) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		m[c.Name] = c.Hits
	}
	return m
}

func eq(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkFullReport checks demo's report of all seven fixtures.
func checkFullReport(t *testing.T, rep *threatlog.Report) {
	t.Helper()
	if rep.Policy != "demo" || rep.Events != 40 || rep.Listed != 37 || rep.Blocked != 33 || rep.Passed != 4 || rep.Inbound != 13 || rep.Outbound != 24 {
		t.Errorf("totals: %+v", *rep)
	}
	if want := map[string]int{"spamhaus-drop": 13, "spamhaus-dropv6": 6, "tor-exits": 4, "custom": 8, "cobalt": 3, "hagezi-fake": 3}; !eq(counts(rep.Lists), want) {
		t.Errorf("lists %v, want %v", counts(rep.Lists), want)
	}
	if want := map[string]int{"spam": 19, "tor": 4, "custom": 8, "c2": 3, "fraud": 3}; !eq(counts(rep.Categories), want) {
		t.Errorf("categories %v, want %v", counts(rep.Categories), want)
	}
	if len(rep.Top) < 3 || rep.Top[0].Remote != "1.10.16.5" || rep.Top[0].Hits != 6 || rep.Top[1].Remote != "2001:678:6c4::1" || rep.Top[1].Hits != 5 || rep.Top[2].Remote != "203.0.113.7" || rep.Top[2].Hits != 5 {
		t.Errorf("top remotes %+v", rep.Top)
	}
	want := []threatlog.Infected{{Inside: "192.168.1.20", Contacts: 12, Destinations: 5}, {Inside: "192.168.1.21", Contacts: 7, Destinations: 3}, {Inside: "192.168.1.30", Contacts: 3, Destinations: 1}}
	if len(rep.Infected) != len(want) {
		t.Fatalf("likely infected %+v, want %+v", rep.Infected, want)
	}
	for i, w := range want {
		if g := rep.Infected[i]; g.Inside != w.Inside || g.Contacts != w.Contacts || g.Destinations != w.Destinations {
			t.Errorf("likely infected %d: %+v, want %+v", i, g, w)
		}
	}
	// Per hour over two days: 39 events in 2026-11-23 15:00, one (pflog's delta time) at the upload.
	if len(rep.Series) != 48 || rep.Step != "hour" {
		t.Fatalf("series of %d %s steps", len(rep.Series), rep.Step)
	}
	for i, b := range rep.Series {
		switch wantE, wantL := 0, 0; {
		case i == 15:
			wantE, wantL = 39, 36
			fallthrough
		case i == 36:
			if i == 36 {
				wantE, wantL = 1, 1
			}
			fallthrough
		default:
			if b.Events != wantE || b.Listed != wantL {
				t.Errorf("series %s: %d events, %d listed; want %d, %d", b.Start, b.Events, b.Listed, wantE, wantL)
			}
		}
	}
}

func TestUploadReportRestart(t *testing.T) {
	e := setup(t, "")
	hits0 := coretest.Counter(t, "coredns_threatlog_hits_total", map[string]string{"policy": "demo", "list": "spamhaus-drop"})
	e.uploadAll()
	checkFullReport(t, e.report(demo))
	if d := coretest.Counter(t, "coredns_threatlog_hits_total", map[string]string{"policy": "demo", "list": "spamhaus-drop"}) - hits0; d != 13 {
		t.Errorf("hits_total{demo,spamhaus-drop} grew by %v, want 13", d)
	}

	// Re-uploads never count twice: the same bytes, the same log compressed, the same batch ID.
	nf := fixture(t, "netfilter.log")
	if code, res := e.upload(nf, nil, demo); code != http.StatusOK || !res.Duplicate || res.Stored != 0 {
		t.Errorf("re-upload: %d %+v", code, res)
	}
	if code, res := e.upload(gz(nf), map[string]string{"Content-Encoding": "gzip"}, demo); code != http.StatusOK || !res.Duplicate {
		t.Errorf("re-upload compressed: %d %+v", code, res)
	}
	b := map[string]string{threatlog.HeaderBatch: "batch-42"}
	if code, res := e.upload(fixture(t, "asa.log"), b, demo); code != http.StatusOK || res.Duplicate || res.Stored != 7 {
		t.Errorf("batch-42: %d %+v", code, res)
	}
	if code, res := e.upload(fixture(t, "asa.log"), b, demo); code != http.StatusOK || !res.Duplicate {
		t.Errorf("batch-42 again: %d %+v", code, res)
	}
	if rep := e.report(demo); rep.Events != 47 {
		t.Errorf("after re-uploads: %d events, want 47", rep.Events)
	}

	// A restart keeps everything, duplicates included.
	e.stop()
	e.start("")
	rep := e.report(demo)
	if rep.Events != 47 || rep.Listed != 44 {
		t.Errorf("after restart: %d events, %d listed; want 47, 44", rep.Events, rep.Listed)
	}
	if code, res := e.upload(fixture(t, "asa.log"), b, demo); code != http.StatusOK || !res.Duplicate {
		t.Errorf("batch-42 after restart: %d %+v", code, res)
	}

	// CSV: a header and one row per event.
	code, csv := e.do(http.MethodGet, "/report.csv"+period, nil, nil, demo)
	rows := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if code != http.StatusOK || len(rows) != 48 || rows[0] != strings.Join(threatlog.CSVHeader, ",") {
		t.Errorf("CSV: %d, %d rows: %.200s", code, len(rows), csv)
	}
	if !strings.Contains(string(csv), ",gw,netfilter,in,drop,tcp,192.168.1.20,1.10.16.5,443,,spamhaus-drop,spam,false") {
		t.Errorf("CSV lacks netfilter's first line: %.600s", csv)
	}
	// HTML: self-contained, with the chart and the tables.
	code, html := e.do(http.MethodGet, "/report.html"+period, nil, nil, demo)
	for _, want := range []string{"<svg", "<rect class=\"listed\"", "spamhaus-drop", "192.168.1.20", "Likely infected"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(string(html), `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("HTML report has %q", bad)
		}
	}
	if code != http.StatusOK {
		t.Errorf("HTML: %d", code)
	}
}

func TestAuthAndSeparation(t *testing.T) {
	e := setup(t, "")
	body := fixture(t, "netfilter.log")
	bad := hmacCred("demo.key.", otherSecret, "gw") // the right key name, another secret
	for name, c := range map[string]cred{
		"no credentials": nil,
		"wrong secret":   bad,
		"unknown key":    hmacCred("nobody.key.", demoSecret, "gw"),
		"wrong token":    tokenCred("not-the-token-0123456789"),
		"skewed date": func(r *http.Request, b []byte) {
			clockNow = func() time.Time { return now.Add(-6 * time.Minute) }
			demo(r, b)
			clockNow = func() time.Time { return now }
		},
		"tampered device": func(r *http.Request, b []byte) { demo(r, b); r.Header.Set(threatlog.HeaderDevice, "fw") },
		"tampered batch":  func(r *http.Request, b []byte) { demo(r, b); r.Header.Set(threatlog.HeaderBatch, "x") },
		"tampered body":   func(r *http.Request, b []byte) { demo(r, append(b, '\n')) },
		"token, device": func(r *http.Request, b []byte) {
			tokenCred(otherToken)(r, b)
			r.Header.Set(threatlog.HeaderDevice, "fw")
		},
	} {
		if code, _ := e.upload(body, nil, c); code != http.StatusUnauthorized {
			t.Errorf("%s: upload %d, want 401", name, code)
		}
		if code, _ := e.do(http.MethodGet, "/report"+period, nil, nil, c); code != http.StatusUnauthorized {
			t.Errorf("%s: report %d, want 401", name, code)
		}
	}
	if code, _ := e.do(http.MethodGet, "/report"+period, nil, nil, bad); code != http.StatusUnauthorized {
		t.Errorf("report with a wrong secret: %d", code)
	}
	if rep := e.report(demo); rep.Events != 0 {
		t.Fatalf("refused uploads stored %d events", rep.Events)
	}

	// Each customer sees only its own: demo by HMAC, other by its device token.
	e.upload(body, nil, demo)
	code, res := e.upload(fixture(t, "pflog.txt"), nil, tokenCred(otherToken))
	if code != http.StatusOK || res.Policy != "other" || res.Device != "gw-other" || res.Stored != 7 {
		t.Fatalf("other's upload: %d %+v", code, res)
	}
	// pflog for policy other (tor-exits, own 198.51.100.0/24): only the Tor exit is listed.
	if res.Listed != 1 {
		t.Errorf("other's pflog: %d listed, want 1", res.Listed)
	}
	rd, ro := e.report(demo), e.report(tokenCred(otherToken))
	if rd.Events != 6 || len(rd.Devices) != 1 || rd.Devices[0].Name != "gw" {
		t.Errorf("demo's report: %d events, devices %+v", rd.Events, rd.Devices)
	}
	if ro.Policy != "other" || ro.Events != 7 || ro.Listed != 1 || len(ro.Lists) != 1 || ro.Lists[0].Name != "tor-exits" {
		t.Errorf("other's report: %+v", ro)
	}
	// The other key signs as policy other, whatever it asks for.
	if r := e.report(hmacCred("other.key.", otherSecret, "")); r.Policy != "other" || r.Events != 7 {
		t.Errorf("other by HMAC: %s %d", r.Policy, r.Events)
	}
	// Basic authentication (a browser) with the token as password.
	if code, _ := e.do(http.MethodGet, "/report.html"+period, nil, nil, func(r *http.Request, _ []byte) { r.SetBasicAuth("other", otherToken) }); code != http.StatusOK {
		t.Errorf("HTML with basic auth: %d", code)
	}
}

func TestBadUploads(t *testing.T) {
	e := setup(t, "        max_size 64KiB")
	big := bytes.Repeat(fixture(t, "netfilter.log"), 70)                                                                                      // 84 KB
	zeros := gz(bytes.Repeat([]byte("Nov 23 15:20:01 gw kernel: IN=eth0 OUT= SRC=1.10.16.5 DST=192.168.1.20 PROTO=TCP SPT=1 DPT=2\n"), 2000)) // 190 KB inflated, 1 KB sent
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/13)
	}
	for name, c := range map[string]struct {
		body    []byte
		headers map[string]string
		code    int
	}{
		"too large":       {big, nil, http.StatusRequestEntityTooLarge},
		"gzip bomb":       {zeros, map[string]string{"Content-Encoding": "gzip"}, http.StatusRequestEntityTooLarge},
		"not gzip":        {[]byte("plain text"), map[string]string{"Content-Encoding": "gzip"}, http.StatusBadRequest},
		"binary garbage":  {garbage, nil, http.StatusUnprocessableEntity},
		"no known format": {[]byte("hello\nworld\n"), nil, http.StatusUnprocessableEntity},
		"empty":           {nil, nil, http.StatusBadRequest},
		"brotli":          {[]byte("x"), map[string]string{"Content-Encoding": "br"}, http.StatusUnsupportedMediaType},
		"no device":       {fixture(t, "asa.log"), nil, http.StatusBadRequest},
	} {
		cr := demo
		if name == "no device" {
			cr = hmacCred("demo.key.", demoSecret, "")
		}
		if code, _ := e.upload(c.body, c.headers, cr); code != c.code {
			t.Errorf("%s: %d, want %d", name, code, c.code)
		}
	}
	if code, _ := e.do(http.MethodGet, "/upload", nil, nil, demo); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /upload: %d", code)
	}
	if rep := e.report(demo); rep.Events != 0 {
		t.Fatalf("refused uploads stored %d events", rep.Events)
	}
	// Exactly at the limit is fine.
	if code, res := e.upload(big[:64<<10-int(64<<10)%len(fixture(t, "netfilter.log"))], nil, demo); code != http.StatusOK || res.Stored == 0 {
		t.Errorf("upload within the limit: %d %+v", code, res)
	}
}

func TestRetention(t *testing.T) {
	e := setup(t, "        retention 35d")
	e.uploadAll()
	purged0 := coretest.Counter(t, "coredns_threatlog_purged_total", nil)
	e.stop()
	// 35 days after 2026-11-23 15:23:00: everything logged before 15:23:00 that day goes (netfilter,
	// threatstop-sync and all of pflog but its delta-time line: 17 events), the rest stays.
	later := time.Date(2026, 12, 28, 15, 23, 0, 0, time.UTC)
	threatlog.SetClock(func() time.Time { return later })
	clockNow = func() time.Time { return later }
	t.Cleanup(func() { clockNow = func() time.Time { return now } })
	e.start("        retention 35d")
	deadline := time.Now().Add(5 * time.Second)
	var rep *threatlog.Report
	var grew float64
	for {
		// The purge commits, then counts: the report can see the events gone a moment before the counter.
		rep = e.report(demo)
		grew = coretest.Counter(t, "coredns_threatlog_purged_total", nil) - purged0
		if rep.Events == 23 && grew == 17 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rep.Events != 23 {
		t.Fatalf("after retention: %d events, want 23", rep.Events)
	}
	if grew != 17 {
		t.Errorf("purged_total grew by %v, want 17", grew)
	}
	for _, b := range rep.Series {
		if b.Events > 0 && b.Start.Before(time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)) {
			t.Errorf("events left at %s", b.Start)
		}
	}
}

func TestTruncateListedOnly(t *testing.T) {
	e := setup(t, "        truncate 24 56\n        listed_only")
	// netfilter.log: 6 events, of which 5 listed; listed_only stores those 5.
	if code, res := e.upload(fixture(t, "netfilter.log"), nil, demo); code != http.StatusOK || res.Events != 6 || res.Stored != 5 {
		t.Fatalf("listed_only upload: %d %+v", code, res)
	}
	if code, _ := e.upload(fixture(t, "threatstop-sync.log"), nil, demo); code != http.StatusOK {
		t.Fatal(code)
	}
	_, csv := e.do(http.MethodGet, "/report.csv"+period, nil, nil, demo)
	if rows := strings.Count(string(csv), "\n"); rows != 1+5+5 {
		t.Errorf("CSV has %d lines, want 11", rows)
	}
	if strings.Contains(string(csv), "8.8.8.8") || strings.Contains(string(csv), "192.168.1.2") || !strings.Contains(string(csv), ",192.168.1.0/24,1.10.16.5,") || !strings.Contains(string(csv), ",2001:db8::/56,2001:678:6c4::1,") {
		t.Errorf("inside addresses not truncated:\n%s", csv)
	}
}

func (e *env) check(q string, c cred) (int, threatlog.CheckResult) {
	e.t.Helper()
	code, b := e.do(http.MethodGet, "/check?"+q, nil, nil, c)
	var res threatlog.CheckResult
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &res); err != nil {
			e.t.Fatal(err)
		}
	}
	return code, res
}

func TestCheckHTTP(t *testing.T) {
	e := setup(t, "")
	// First-seen times are recorded in the background after start-up.
	deadline := time.Now().Add(5 * time.Second)
	var res threatlog.CheckResult
	for {
		_, res = e.check("ioc=1.10.16.5", nil)
		if len(res.Matches) == 1 && res.Matches[0].SinceSource == "first_seen" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(res.Matches) != 1 {
		t.Fatalf("1.10.16.5: %+v", res)
	}
	if m := res.Matches[0]; m.List != "spamhaus-drop" || m.Category != "spam" || m.Entry != "1.10.16.0/20" || m.Relation != "covers" || m.SinceSource != "first_seen" || !m.Since.Equal(now) || res.Policy != nil {
		t.Errorf("1.10.16.5: %+v", m)
	}
	for q, want := range map[string]string{
		"ioc=1.10.16.0/24":                      "spamhaus-drop 1.10.16.0/20 covers 0",
		"ioc=1.10.0.0/16":                       "spamhaus-drop 1.10.16.0/20 within 1",
		"ioc=2001:678:6c4::1":                   "spamhaus-dropv6 2001:678:6c4::/48 covers 0",
		"ioc=185.220.101.1":                     "tor-exits 185.220.101.1 covers 0",
		"ioc=login.eoutlet.2023shoponline.com.": "hagezi-fake *.eoutlet.2023shoponline.com covers 0",
		"ioc=A1.songlaoban.top":                 "cobalt a1.songlaoban.top covers 0",
		"ioc=203.0.113.7":                       "", // demo's own block entry: nobody else's business
		"ioc=evil.example":                      "",
		"ioc=8.8.8.8":                           "",
	} {
		code, res := e.check(q, nil)
		var got []string
		for _, m := range res.Matches {
			got = append(got, fmt.Sprintf("%s %s %s %d", m.List, m.Entry, m.Relation, m.Count))
		}
		if code != http.StatusOK || strings.Join(got, "; ") != want || res.Policy != nil {
			t.Errorf("%s: %d %q, want %q", q, code, got, want)
		}
	}
	// With credentials: the policy's verdict, its own entries included.
	for q, want := range map[string]string{
		"ioc=203.0.113.7":           "blocked [custom]",
		"ioc=1.10.16.5&policy=demo": "blocked [spamhaus-drop]",
		"ioc=evil.example":          "blocked [custom]",
		"ioc=8.8.8.8":               "not-listed []",
	} {
		code, res := e.check(q, demo)
		if code != http.StatusOK || res.Policy == nil || fmt.Sprintf("%s %v", res.Policy.Verdict, res.Policy.Lists) != want {
			t.Errorf("%s as demo: %d %+v, want %s", q, code, res.Policy, want)
		}
	}
	if _, res := e.check("ioc=203.0.113.7", tokenCred(otherToken)); res.Policy == nil || res.Policy.Name != "other" || res.Policy.Verdict != "not-listed" {
		t.Errorf("203.0.113.7 as other: %+v", res.Policy)
	}
	if code, _ := e.check("ioc=1.10.16.5&policy=demo", nil); code != http.StatusUnauthorized {
		t.Errorf("policy=demo without credentials: %d", code)
	}
	if code, _ := e.check("ioc=1.10.16.5&policy=demo", tokenCred(otherToken)); code != http.StatusForbidden {
		t.Errorf("policy=demo as other: %d", code)
	}
	if code, _ := e.check("ioc=not_a..name", nil); code != http.StatusBadRequest {
		t.Errorf("bad ioc: %d", code)
	}
	// An IPv4-mapped prefix shorter than /96 holds more than IPv4 addresses: refused, saying why.
	for _, q := range []string{"ioc=::ffff:0:0/80", "ioc=::ffff:1.10.16.0/95"} {
		code, b := e.do(http.MethodGet, "/check?"+q, nil, nil, nil)
		if code != http.StatusBadRequest || !strings.Contains(string(b), "IPv4-mapped prefix") || strings.Contains(string(b), "invalid Prefix") {
			t.Errorf("%s: %d %s, want 400 naming the IPv4-mapped prefix", q, code, b)
		}
	}
	if code, res := e.check("ioc=::ffff:1.10.16.0/120", nil); code != http.StatusOK || res.IOC != "1.10.16.0/24" || len(res.Matches) != 1 {
		t.Errorf("::ffff:1.10.16.0/120: %d %+v, want 1.10.16.0/24 covered", code, res)
	}
}

func txts(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

func signed(e *env, name, key, secret string) *dns.Msg {
	e.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, TsigSecret: map[string]string{key: secret}}
	r, _, err := c.Exchange(m, e.srv.UDP)
	if err == nil && r.Truncated { // as resolvers do
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		c.Net = "tcp"
		r, _, err = c.Exchange(m, e.srv.TCP)
	}
	if err != nil {
		e.t.Fatalf("signed query %s: %v", name, err)
	}
	return r
}

func TestCheckDNS(t *testing.T) {
	e := setup(t, "")
	for name, want := range map[string]string{
		"1.10.16.5._check.threatstop.local.":                    "list=spamhaus-drop category=spam entry=1.10.16.0/20 relation=covers score=50 since=",
		"2001-678-6c4--1._check.threatstop.local.":              "list=spamhaus-dropv6 category=spam entry=2001:678:6c4::/48 relation=covers score=50 since=",
		"a1.songlaoban.top._check.threatstop.local.":            "list=cobalt category=c2 entry=a1.songlaoban.top relation=covers score=50 since=",
		"x.eoutlet.2023shoponline.com._check.threatstop.local.": "list=hagezi-fake category=fraud entry=*.eoutlet.2023shoponline.com relation=covers score=50 since=",
	} {
		r := e.srv.Query(t, name, dns.TypeTXT)
		// The explanation first: one feed of the default confidence, no sensor report.
		if got := txts(r); r.Rcode != dns.RcodeSuccess || len(got) != 2 || !strings.HasPrefix(got[0], "score=50 sources=1 sensors=0 first_seen=") || !strings.HasPrefix(got[1], want) {
			t.Errorf("%s: %s %q, want %q...", name, dns.RcodeToString[r.Rcode], got, want)
		}
	}
	// Own entries stay private unless the query is signed with the policy's key.
	if r := e.srv.Query(t, "203.0.113.7._check.threatstop.local.", dns.TypeTXT); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
		t.Errorf("203.0.113.7 unsigned: %s %v", dns.RcodeToString[r.Rcode], r.Answer)
	}
	r := signed(e, "203.0.113.7._check.threatstop.local.", "demo.key.", demoSecret)
	if got := txts(r); r.Rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != "policy=demo verdict=blocked lists=custom" || r.Answer[0].Header().Ttl != 0 {
		t.Errorf("203.0.113.7 signed by demo: %s %q", dns.RcodeToString[r.Rcode], got)
	}
	r = signed(e, "203.0.113.7._check.threatstop.local.", "other.key.", otherSecret)
	if got := txts(r); len(got) != 1 || got[0] != "policy=other verdict=not-listed" {
		t.Errorf("203.0.113.7 signed by other: %q", got)
	}
	r = signed(e, "185.220.101.1._check.threatstop.local.", "other.key.", otherSecret)
	if got := txts(r); len(got) != 3 || !strings.HasPrefix(got[1], "list=tor-exits ") || got[2] != "policy=other verdict=blocked lists=tor-exits" {
		t.Errorf("185.220.101.1 signed by other: %q", got)
	}
	if r := e.srv.Query(t, "8.8.8.8._check.threatstop.local.", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Errorf("8.8.8.8: %s", dns.RcodeToString[r.Rcode])
	}
	if r := e.srv.Query(t, "1.10.16.5._check.threatstop.local.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("A of a _check name: %s %v", dns.RcodeToString[r.Rcode], r.Answer)
	}
	// Everything else goes on to threatstop.
	if r := e.srv.Query(t, "2.0.0.127.demo.threatstop.local.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.2" {
		t.Errorf("DNSBL test point through threatlog: %v", r)
	}
	if r := e.srv.Query(t, "5.16.10.1.demo.threatstop.local.", dns.TypeTXT); len(txts(r)) != 1 || txts(r)[0] != "list=spamhaus-drop category=spam" {
		t.Errorf("DNSBL lookup through threatlog: %q", txts(r))
	}
}

func TestSetupErrors(t *testing.T) {
	dir := t.TempDir()
	for extra, want := range map[string]string{
		"        listen":                             "Corefile:39 - Error during parsing: Wrong argument count",
		"        retention soon":                     "Corefile:39 - Error during parsing: retention needs a duration",
		"        max_size 10":                        "Corefile:39 - Error during parsing: max_size needs a size",
		"        truncate 33 56":                     "Corefile:39 - Error during parsing: truncate needs prefix lengths",
		"        token demo gw short":                "Corefile:39 - Error during parsing: token for demo/gw: a token needs at least 16 characters",
		"        colour blue":                        "Corefile:39 - Error during parsing: unknown property \"colour\"",
		"        token nobody gw 0123456789abcdefgh": "token for unknown policy \"nobody\"",
	} {
		_, err := coretest.StartErr(corefile(t, dir, freePort(t), extra))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", extra, err, want)
		}
	}
}

// A TSIG key of two policies would make its signatures one customer's or the other's depending on the
// order of the Corefile: start-up refuses it, naming the key and both policies.
func TestSetupKeyOfTwoPolicies(t *testing.T) {
	cf := corefile(t, t.TempDir(), freePort(t), "")
	cf = strings.Replace(cf, "keys other.key.", "keys other.key. demo.key.", 1)
	s, err := coretest.StartErr(cf)
	if err == nil {
		s.Stop()
		t.Fatal("started with demo.key. in policies demo and other")
	}
	for _, want := range []string{`"demo.key."`, `"demo"`, `"other"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

type corefileInput string

func (i corefileInput) Body() []byte       { return []byte(i) }
func (i corefileInput) Path() string       { return "Corefile" }
func (i corefileInput) ServerType() string { return "dns" }

// A Corefile reload (the reload plugin's restart) keeps the database and the listener: the new instance
// opens both before the old one lets them go.
func TestReload(t *testing.T) {
	e := setup(t, "")
	if code, _ := e.upload(fixture(t, "asa.log"), nil, demo); code != http.StatusOK {
		t.Fatal(code)
	}
	inst, err := e.srv.Inst.Restart(corefileInput(corefile(t, e.dir, e.addr, "        infected 1")))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	e.srv.Inst = inst
	rep := e.report(demo)
	if rep.Events != 7 || rep.Threshold != 1 {
		t.Errorf("after reload: %d events, infected threshold %d; want 7, 1", rep.Events, rep.Threshold)
	}
	if code, res := e.upload(fixture(t, "asa.log"), nil, demo); code != http.StatusOK || !res.Duplicate {
		t.Errorf("re-upload after reload: %d %+v", code, res)
	}
}

// slowUpload starts a signed-looking upload (a known key, a good date, no valid signature) and sends only
// part of its body.
func slowUpload(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: threatlog\r\n%s: demo.key.\r\n%s: %d\r\n%s: gw\r\n%s: %064d\r\nContent-Length: 100000\r\n\r\nNov 23 15:20:01 gw kernel: ",
		threatlog.HeaderKey, threatlog.HeaderDate, now.Unix(), threatlog.HeaderDevice, threatlog.HeaderSignature, 0)
	return c
}

// Clients that start uploads and send their bodies slowly (or never) hold no processing slot: a valid
// upload goes through meanwhile, and they are dropped after read_timeout.
func TestSlowUploadsHoldNoSlot(t *testing.T) {
	e := setup(t, "        read_timeout 2s")
	const n = 6 // more than the four upload slots
	var conns []net.Conn
	for i := 0; i < n; i++ {
		conns = append(conns, slowUpload(t, e.addr))
	}
	for deadline := time.Now().Add(10 * time.Second); threatlog.UploadsReceiving() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d slow uploads reached the server", threatlog.UploadsReceiving(), n)
		}
	}
	done := make(chan int, 1)
	go func() {
		code, _ := e.upload(fixture(t, "asa.log"), nil, demo)
		done <- code
	}()
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Fatalf("valid upload beside slow ones: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a valid upload waited behind slow unauthenticated ones")
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 408 ") {
			t.Errorf("slow upload %d after read_timeout: %q %v, want 408", i, line, err)
		}
	}
}

// A client that asks for a CSV export and stops reading it must not hold up another customer's upload,
// even one that grows the database file past what bbolt maps (it then waits for every open read
// transaction; a small mapping here makes that happen early). The CSV is larger than loopback socket
// buffers hold (4 MiB at most by default), so the server's writes block.
func TestStalledCSVDownload(t *testing.T) {
	defer func(n int) { logstore.InitialMmap = n }(logstore.InitialMmap)
	logstore.InitialMmap = 0
	e := setup(t, "")
	big, _ := maxSizeLog(t, 12<<20, fixtures, false) // about 60,000 events, a CSV of 8 MB: more than socket buffers hold
	if code, res := e.upload(big, nil, tokenCred(otherToken)); code != http.StatusOK || res.Stored < 10000 {
		t.Fatalf("other's upload: %d %+v", code, res)
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096) // a small window: the server's writes block soon
	fmt.Fprintf(c, "GET /report.csv%s HTTP/1.1\r\nHost: threatlog\r\nAuthorization: Bearer %s\r\n\r\n", period, otherToken)
	head := make([]byte, 12)
	if _, err := io.ReadFull(c, head); err != nil || string(head) != "HTTP/1.1 200" {
		t.Fatalf("CSV download: %q %v", head, err)
	}
	// It reads nothing more. Meanwhile demo uploads as much again, which grows the file.
	done := make(chan int, 1)
	go func() {
		code, _ := e.upload(big, nil, demo)
		done <- code
	}()
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Fatalf("demo's upload beside a stalled CSV download: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo's upload waited for another customer's stalled CSV download")
	}
}

// TestCheckAfterEdit: Check IoC gives the policy's verdict as the State defines it now: an own entry
// added while serving (state.Store.Edit, what the management API calls) is blocked, an allow entry allows.
func TestCheckAfterEdit(t *testing.T) {
	e := setup(t, "")
	st := state.FromInstance(e.srv.Inst)
	if _, res := e.check("ioc=198.51.100.7", demo); res.Policy == nil || res.Policy.Verdict != "not-listed" {
		t.Fatalf("before: %+v", res.Policy)
	}
	if _, err := st.Edit(0, "demo", func(c *policy.Config) error {
		c.Blocked = append(c.Blocked, "198.51.100.7")
		c.Allowed = append(c.Allowed, "1.10.16.5")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{"ioc=198.51.100.7": "blocked [custom]", "ioc=1.10.16.5": "allowed []"} {
		if _, res := e.check(q, demo); res.Policy == nil || fmt.Sprintf("%s %v", res.Policy.Verdict, res.Policy.Lists) != want {
			t.Errorf("%s after the edit: %+v, want %s", q, res.Policy, want)
		}
	}
}

// TestDeviceTokens: upload tokens made at run time (threatadmin's devices) upload as their device, come
// and go without a reload, and the report filters by device.
func TestDeviceTokens(t *testing.T) {
	e := setup(t, "")
	e.uploadAll() // as device gw
	e.srv.Inst.StorageMu.RLock()
	tl := e.srv.Inst.Storage[threatlog.BlockKey(0)].(*threatlog.Threatlog)
	e.srv.Inst.StorageMu.RUnlock()
	const tok = "device-token-fw1-0123456789abcdef"
	tl.SetDeviceTokens(map[[sha256.Size]byte]threatlog.DeviceToken{sha256.Sum256([]byte(tok)): {Policy: "demo", Device: "fw1"}})
	code, res := e.upload(fixture(t, "asa.log"), nil, tokenCred(tok))
	if code != http.StatusOK || res.Policy != "demo" || res.Device != "fw1" || res.Stored != 7 {
		t.Fatalf("upload with the device token: %d %+v", code, res)
	}
	if code, _ := e.upload(fixture(t, "netfilter.log"), map[string]string{threatlog.HeaderDevice: "gw"}, tokenCred(tok)); code != http.StatusUnauthorized {
		t.Errorf("the device token naming another device: %d, want 401", code)
	}
	basic := func(user string) cred {
		return func(r *http.Request, _ []byte) { r.SetBasicAuth(user, tok) }
	}
	if code, _ := e.do(http.MethodGet, "/report"+period, nil, nil, basic("other")); code != http.StatusUnauthorized {
		t.Errorf("the device token as Basic for policy other: %d, want 401", code)
	}
	code, b := e.do(http.MethodGet, "/report"+period+"&device=fw1", nil, nil, basic("demo"))
	var rep threatlog.Report
	if code != http.StatusOK || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report of fw1: %d %s", code, b)
	}
	if rep.Device != "fw1" || rep.Events != 7 || counts(rep.Devices)["gw"] == 0 || counts(rep.Devices)["fw1"] != 7 {
		t.Errorf("report of fw1: device %q, %d events, devices %v; want fw1, 7, and gw still offered", rep.Device, rep.Events, rep.Devices)
	}
	if all := e.report(demo); all.Events != 40+7 || all.Device != "" {
		t.Errorf("the report of all devices: %d events (device %q), want gw's 40 and fw1's 7", all.Events, all.Device)
	}
	tl.SetDeviceTokens(nil) // revoked
	if code, _ := e.upload(fixture(t, "pflog.txt"), nil, tokenCred(tok)); code != http.StatusUnauthorized {
		t.Errorf("a revoked device token: %d, want 401", code)
	}
}
