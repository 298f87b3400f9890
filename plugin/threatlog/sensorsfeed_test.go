package threatlog_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/threatlog"
)

// TestSensorsFeed, end to end in one server: customers a and b share, c does not. An address that a and
// b both blocked inbound is served by the built-in sensors feed (min_reporters 2) within one refresh, to
// every policy that takes the feed, and Check IoC explains it (sensors=2, its score); one that a and c
// reported never is (c's report is not shared), nor is a's one report of it told. When a deletes its logs, the address leaves within one
// refresh.
func TestSensorsFeed(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	tokens := map[string]string{"a": "token-a-0123456789ab", "b": "token-b-0123456789ab", "c": "token-c-0123456789ab"}
	const secret = "c2Vuc29ycy10ZXN0LWtleS0wMTIzNDU2Nzg5YWJjZGVm"
	srv := startCorefile(t, `threatstop.local:0 {
    bind 127.0.0.1
    tsig {
        secret a.key. `+secret+`
        secret b.key. `+secret+`
    }
    threatfeed {
        feed sensors {
            sensors
            min_reporters 2
            window 1h
            refresh 100ms
            category scanner
            confidence 60
        }
    }
    threatlog {
        listen `+addr+`
        db `+dir+`/threatlog.db
        token a gw-a `+tokens["a"]+`
        token b gw-b `+tokens["b"]+`
        token c gw-c `+tokens["c"]+`
        share a
        share b
    }
    threatstop {
        policy a {
            lists sensors
            keys a.key.
        }
        policy b {
            lists sensors
            keys b.key.
        }
        policy c {
            lists sensors
        }
    }
}
`)
	// Public addresses no other test reports (the process's table is shared by the tests).
	const attacker, once = "45.155.205.3", "45.155.205.99"
	call := func(method, path, who, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[who])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	upload := func(who string, srcs ...string) {
		t.Helper()
		var log strings.Builder
		ts := time.Now().Add(-time.Minute).Format(time.Stamp)
		for i, src := range srcs {
			fmt.Fprintf(&log, "%s gw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=%s DST=192.168.1.20 PROTO=TCP SPT=%d DPT=22\n", ts, src, 40000+i)
		}
		if code, body := call("POST", "/upload", who, log.String()); code != http.StatusOK {
			t.Fatalf("upload of %s: %d %s", who, code, body)
		}
	}
	listed := func(pol, a string) bool { return dnsblListed(t, srv, pol, a) }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for start := time.Now(); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("%s: not within 2 s (the feed refreshes every 100 ms)", what)
			}
		}
	}
	upload("a", attacker, once)
	upload("c", once, once)
	upload("b", attacker)
	waitFor("the attacker listed", func() bool { return listed("c", attacker) })
	for _, pol := range []string{"a", "b"} {
		if !listed(pol, attacker) {
			t.Errorf("policy %s does not list %s", pol, attacker)
		}
	}
	time.Sleep(300 * time.Millisecond) // three refreshes more
	if listed("a", once) {
		t.Errorf("%s listed: one sharing reporter (c does not share)", once)
	}
	// One sharing reporter, below min_reporters: its count is not told (it would say a saw it).
	if code, body := call("GET", "/check?ioc="+once, "c", ""); code != http.StatusOK || strings.Contains(string(body), `"sensors":1`) || strings.Contains(string(body), "first_seen") {
		t.Errorf("check of an address one customer reported: %d %s", code, body)
	}
	code, body := call("GET", "/check?ioc="+attacker, "c", "")
	var res threatlog.CheckResult
	if err := json.Unmarshal(body, &res); code != http.StatusOK || err != nil || res.Explain == nil {
		t.Fatalf("check: %d %v %s", code, err, body)
	}
	// Two reporters at min_reporters 2 vouch as one source of the feed's 60.
	if e := res.Explain; e.Sensors != 2 || e.Sources != 1 || e.Score != 60 || e.LastSeen == nil || e.FirstSeen == nil {
		t.Errorf("explain: %+v", e)
	}
	if r := srv.Query(t, attacker+"._check.threatstop.local.", dns.TypeTXT); len(r.Answer) == 0 || !strings.HasPrefix(r.Answer[0].(*dns.TXT).Txt[0], "score=60 sources=1 sensors=2 first_seen=") {
		t.Errorf("check over DNS: %v", r.Answer)
	}
	if code, body := call("DELETE", "/logs", "a", ""); code != http.StatusForbidden {
		t.Fatalf("delete with a's device token: %d %s, want 403", code, body)
	}
	del := func(who string) {
		t.Helper()
		req, _ := http.NewRequest("DELETE", "http://"+addr+"/logs", nil)
		sec, _ := base64.StdEncoding.DecodeString(secret)
		date := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(threatlog.HeaderKey, who+".key.")
		req.Header.Set(threatlog.HeaderDate, date)
		req.Header.Set(threatlog.HeaderSignature, threatlog.Sign(sec, "DELETE", "/logs", date, "", "", nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("signed delete of %s: %d", who, resp.StatusCode)
		}
	}
	del("a")
	waitFor("the attacker gone after a's delete", func() bool { return !listed("c", attacker) })
	del("b")
}
