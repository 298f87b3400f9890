package threatlog_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/alert"
	"github.com/threatstop/threatstop/plugin/threatlog"
)

const alertSecret = "alert-webhook-secret-0123456789"

// smtpServer runs Python's SMTP server (smtpd's DebuggingServer, which prints each message it receives)
// on a free port and returns the port and what it printed so far.
func smtpServer(t *testing.T) (string, func() string) {
	t.Helper()
	py := ""
	for _, c := range []string{"python3", "/usr/bin/python3"} { // smtpd left Python in 3.12; Debian 12's has it
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-W", "ignore", "-c", "import smtpd").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Fatal("no python3 with its smtpd module (the test's SMTP server; .ci/run installs Debian's python3)")
	}
	addr := freePort(t)
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(py, "-u", "-W", "ignore", "-m", "smtpd", "-n", "-c", "DebuggingServer", host+":"+port)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var mu sync.Mutex
	var got strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			got.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) { // listening?
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the SMTP server did not listen within 5 s")
		}
	}
	return addr, func() string { mu.Lock(); defer mu.Unlock(); return got.String() }
}

// TestAlerts: policy demo's rules against a real HTTP receiver (which fails the first delivery, so it
// is retried) and a real SMTP server: tor hits of an upload, a likely infected inside host, each once
// (the same upload again alerts nothing), the rate limit (max 5 an hour) holding back the rest, and a
// device silent for an hour, whose alert, in the next hour, says how many were held back. Every webhook
// request is signed with the secret; every alert is also one email.
func TestAlerts(t *testing.T) {
	var clockAt atomic.Pointer[time.Time]
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clockAt.Store(&start)
	t.Cleanup(threatlog.SetAlertTiming(50*time.Millisecond, 0, 10*time.Millisecond))

	var mu sync.Mutex
	var got []alert.Alert
	var requests atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(alert.HeaderSignature) != alert.Sign([]byte(alertSecret), r.Header.Get(alert.HeaderTimestamp), body) {
			t.Errorf("webhook request with a bad signature: %s", body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first delivery fails: retried
			return
		}
		var a alert.Alert
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer hook.Close()
	smtpAddr, mails := smtpServer(t)

	e := setup(t, fmt.Sprintf(`        token demo gw2 alert-token-0123456789ab
        smtp %s alerts@threatstop.test
        alert demo {
            hit tor
            infected
            silent 1h
            webhook %s %s
            email soc@demo.test
            max 5
        }`, smtpAddr, hook.URL, alertSecret))
	t.Cleanup(threatlog.SetClock(func() time.Time { return *clockAt.Load() }))
	upload := func(batch string, lines ...string) {
		t.Helper()
		ts := clockAt.Load().Add(-time.Minute).Format(time.Stamp)
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(ts + " gw kernel: " + l + "\n")
		}
		req, _ := http.NewRequest("POST", "http://"+e.addr+"/upload", strings.NewReader(b.String()))
		req.Header.Set("Authorization", "Bearer alert-token-0123456789ab")
		req.Header.Set(threatlog.HeaderBatch, batch)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %s: %v %v", batch, err, resp)
		}
		resp.Body.Close()
	}
	in := func(src string) string {
		return "IPTABLES-DROP: IN=eth0 OUT= SRC=" + src + " DST=192.168.1.20 LEN=60 PROTO=TCP SPT=443 DPT=22"
	}
	out := func(dst string) string {
		return "IPTABLES-DROP: IN= OUT=eth0 SRC=192.168.1.66 DST=" + dst + " LEN=60 PROTO=TCP SPT=50000 DPT=443"
	}
	waitFor := func(n int) []alert.Alert {
		t.Helper()
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			cp := append([]alert.Alert(nil), got...)
			mu.Unlock()
			if len(cp) >= n {
				return cp
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%d alerts, want %d: %+v", len(cp), n, cp)
			}
		}
	}
	first := []string{in("101.99.92.179"), in("101.99.92.182"), in("101.99.92.194"), out("1.10.16.5"), out("1.10.16.6"), out("1.10.16.7")}
	upload("a", first...)
	as := waitFor(4)
	rules := map[string]int{}
	for _, a := range as {
		rules[a.Rule]++
		if a.Policy != "demo" {
			t.Errorf("alert of policy %q", a.Policy)
		}
		if a.Rule == "infected" && a.Key != "192.168.1.66" {
			t.Errorf("infected alert about %q, want 192.168.1.66", a.Key)
		}
	}
	if rules["hit"] != 3 || rules["infected"] != 1 {
		t.Fatalf("alerts by rule %v, want 3 hits and 1 infected: %+v", rules, as)
	}
	// The same events again (another batch): nothing new.
	upload("b", first...)
	time.Sleep(300 * time.Millisecond)
	if n := len(waitFor(4)); n != 4 {
		t.Errorf("the same events again: %d alerts, want still 4", n)
	}
	// Three new tor sources: the fifth alert of the hour goes, two are held back.
	upload("c", in("101.99.92.198"), in("102.130.113.9"), in("102.130.127.117"))
	time.Sleep(300 * time.Millisecond)
	if n := len(waitFor(5)); n != 5 {
		t.Errorf("over the rate limit: %d alerts, want 5", n)
	}
	// Two hours on: device gw2 is silent; its alert, in a new hour, says two were held back.
	later := clockAt.Load().Add(2 * time.Hour)
	clockAt.Store(&later)
	as = waitFor(6)
	if s := as[5]; s.Rule != "silent" || s.Key != "gw2" || s.Suppressed != 2 || !strings.Contains(s.Summary, "device gw2 has not uploaded since") {
		t.Errorf("the silent alert: %+v", s)
	}
	time.Sleep(200 * time.Millisecond) // more ticks: the same silence is not told again
	if n := len(waitFor(6)); n != 6 {
		t.Errorf("a silence told %d times", n-5)
	}
	// Every alert by email too.
	for start := time.Now(); strings.Count(mails(), "Subject: [threatstop] demo:") < 6; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d emails, want 6:\n%s", strings.Count(mails(), "Subject: [threatstop] demo:"), mails())
		}
	}
	for _, want := range []string{"From: alerts@threatstop.test", "To: soc@demo.test", "Subject: [threatstop] demo: tor: 192.168.1.20 was contacted by 101.99.92.179 (tor-exits), drop by gw2",
		"Subject: [threatstop] demo: 192.168.1.66 is likely infected: 3 contacts with 3 listed destinations in 24 hours", "2 more alerts of this policy were held back"} {
		if !strings.Contains(mails(), want) {
			t.Errorf("no %q in the emails:\n%s", want, mails())
		}
	}
}
