package test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The management API end to end: an edit through threatadmin reaches a BIND secondary by NOTIFY and an
// incremental transfer, and a reload of the Corefile keeps the edit and the policy's serial.

const adminToken = "a-api-token-0123456789abcdef"

// adminCorefile is threatstop with policy a (key a.key., clients 127.0.0.1), policy b when withB,
// threatadmin on api with its database in dir, and NOTIFY to notify.
func adminCorefile(feed, dir, api string, withB bool, notify int) func(port, ready, metrics int) string {
	return func(port, ready, metrics int) string {
		b := ""
		if withB {
			b = "        policy b {\n            lists f\n            keys " + secKeyA + "\n        }\n"
		}
		return fmt.Sprintf(`threatstop.test:%[1]d {
    bind 127.0.0.1
    ready 127.0.0.1:%[2]d
    prometheus 127.0.0.1:%[3]d
    tsig {
        secret %[4]s %[5]s
        require AXFR IXFR
    }
    transfer {
        to * 127.0.0.1:%[6]d
    }
    threatfeed {
        refresh 200ms
        feed f {
            file %[7]s
            format plain
            category spam
        }
    }
    threatstop {
        policy a {
            lists f
            keys %[4]s
            clients 127.0.0.1
        }
%[8]s    }
    threatadmin {
        listen %[9]s
        db %[10]s
        customer acme {
            policies a
            token %[11]s
        }
    }
}
`, port, ready, metrics, secKeyA, secSecretA, notify, feed, b, api, filepath.Join(dir, "admin.db"), adminToken)
	}
}

func adminCall(t *testing.T, method, url, body string) int {
	t.Helper()
	return bearerCall(t, adminToken, method, url, body)
}

// bearerCall calls threatadmin's API with token and returns the status.
func bearerCall(t *testing.T, token, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminEditReachesBIND: BIND holds policy a's zone; an API edit moves a's serial, BIND is told by
// NOTIFY and transfers the change incrementally; a reload that adds policy b keeps the edit and a's serial.
func TestAdminEditReachesBIND(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, namedDir := prepareNamed(t, dir)
	feed := filepath.Join(dir, "f.txt")
	writeFile(t, feed, "1.2.3.4\n45.9.8.0/24\nbad.example.com\n")
	namedPort, apiPort := freePort(t, true), freePort(t, false)
	api := fmt.Sprintf("127.0.0.1:%d", apiPort)
	var ready, metrics int
	ts := startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		port := freePort(t, true)
		ready, metrics = freePort(t, false), freePort(t, false)
		return adminCorefile(feed, dir, api, false, namedPort)(port, ready, metrics), port, ready, metrics
	})
	named := runNamed(t, path, namedDir, namedSecondaryA(namedDir, namedPort, ts.Port), namedPort)
	xfr := xfrSuccess("a.rpz.threatstop.test")
	named.waitLog(t, 0, xfr, 10*time.Second)
	apex := "a.rpz.threatstop.test."
	before := soaSerial(t, ts, apex)

	// The edit: listed at once, and in BIND's copy by an incremental transfer.
	from := len(named.Output())
	if code := adminCall(t, "POST", "http://"+api+"/api/v1/policies/a/block", `{"value":"198.51.100.7"}`); code != http.StatusCreated {
		t.Fatalf("POST block: %d", code)
	}
	if r := ts.Query(t, "7.100.51.198.a.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("the edited entry is not listed: %s", rcode(r))
	}
	named.waitLog(t, from, xfr, 10*time.Second)
	out := named.Output()[from:]
	if len(linesWith(out, "transfer of 'a.rpz.threatstop.test/IN'", "got incremental response")) == 0 ||
		len(linesWith(out, "transfer of 'a.rpz.threatstop.test/IN'", "got nonincremental response")) > 0 {
		t.Errorf("named's transfer after the API edit was not incremental:\n%s", strings.Join(linesWith(out, "a.rpz.threatstop.test"), "\n"))
	}
	m := new(dns.Msg)
	m.SetQuestion("32.7.100.51.198.rpz-ip."+apex, dns.TypeCNAME)
	if r, _, err := (&dns.Client{Timeout: queryTimeout}).Exchange(m, named.addr); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("named's copy lacks the edited entry's trigger: %v %v", r, err)
	}
	edited := soaSerial(t, ts, apex)
	if !serialAfter(edited, before) {
		t.Fatalf("a's serial %d -> %d on an edit", before, edited)
	}

	// A reload adding policy b keeps the edit and a's serial: the IXFR from it is the SOA alone.
	time.Sleep(1100 * time.Millisecond)
	writeFile(t, ts.Corefile, adminCorefile(feed, dir, api, true, namedPort)(ts.Port, ready, metrics))
	if err := ts.p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	eventually(t, reloadTimeout, func() string {
		if r := ts.Query(t, "b.rpz.threatstop.test.", dns.TypeSOA); r.Rcode != dns.RcodeSuccess {
			return "policy b not served after the reload: " + rcode(r)
		}
		return ""
	})
	if r := ts.Query(t, "7.100.51.198.a.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("the edit is lost on the reload: %s", rcode(r))
	}
	if got := soaSerial(t, ts, apex); got != edited {
		t.Errorf("a's serial %d -> %d on a reload", edited, got)
	}
	wantSOAAlone(t, "IXFR of a from its serial after the reload", ixfrFrom(t, ts, apex, edited), edited)
	// The API still answers after the reload, on the new configuration.
	if code := adminCall(t, "DELETE", "http://"+api+"/api/v1/policies/a/block/198.51.100.7", ""); code != http.StatusNoContent {
		t.Errorf("DELETE after the reload: %d", code)
	}
	if r := ts.Query(t, "7.100.51.198.a.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("after DELETE: %s", rcode(r))
	}
}

// TestAdminPolicyReachesBINDByCatalog: named follows the catalog zone only; a policy a customer creates
// through the API joins the catalog, whose NOTIFY brings named to transfer the new zone, with no edit of
// named.conf and no reload of threatstop.
func TestAdminPolicyReachesBINDByCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, namedDir := prepareNamed(t, dir)
	feed := filepath.Join(dir, "f.txt")
	writeFile(t, feed, "1.2.3.4\nbad.example.com\n")
	namedPort, apiPort := freePort(t, true), freePort(t, false)
	api := fmt.Sprintf("127.0.0.1:%d", apiPort)
	admin := fmt.Sprintf("    threatadmin {\n        listen %s\n        db %s\n        customer acme {\n            policies a\n            token %s\n        }\n    }\n}\n",
		api, filepath.Join(dir, "admin.db"), adminToken)
	ts := startCorefile(t, dir, "Corefile", func() (string, int, int, int) {
		port, ready, metrics := freePort(t, true), freePort(t, false), freePort(t, false)
		text := secCorefile(feed, false, namedPort)(port, ready, metrics)
		return strings.TrimSuffix(text, "}\n") + admin, port, ready, metrics
	})
	named := runNamed(t, path, namedDir, namedCatalog(namedDir, namedPort, ts.Port), namedPort)
	named.waitLog(t, 0, xfrSuccess("a.rpz.threatstop.test"), 10*time.Second)

	from := len(named.Output())
	if code := adminCall(t, "POST", "http://"+api+"/api/v1/policies", `{"name":"branch","block":["198.51.100.7"]}`); code != http.StatusCreated {
		t.Fatalf("POST policies: %d", code)
	}
	named.waitLog(t, from, xfrSuccess("branch.rpz.threatstop.test"), 15*time.Second)
	m := new(dns.Msg)
	m.SetQuestion("32.7.100.51.198.rpz-ip.branch.rpz.threatstop.test.", dns.TypeCNAME)
	if r, _, err := (&dns.Client{Timeout: queryTimeout}).Exchange(m, named.addr); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("named's copy of the new policy lacks its entry: %v %v", r, err)
	}
	if r := ts.Query(t, "7.100.51.198.branch.threatstop.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("the new policy's DNSBL name: %s", rcode(r))
	}
}
