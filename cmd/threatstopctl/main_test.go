package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/bcrypt"

	"github.com/threatstop/threatstop/internal/coretest"
)

const (
	demoToken  = "demo-api-7f3c9a1e5b2d4c6e"
	readToken  = "demo-read-0123456789abcdef"
	otherToken = "other-api-fedcba9876543210"
)

// server is a threatstop server with its API, for the command to talk to.
type server struct {
	*coretest.Server
	api string // the API's URL
}

// start serves policies demo (customer demo) and other (customer other) over feed drop
// (5.188.10.0/24), as plugin/threatadmin's tests do, with the API on a free port.
func start(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	feed := filepath.Join(dir, "drop.txt")
	if err := os.WriteFile(feed, []byte("5.188.10.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	api := coretest.FreeAddr(t)
	s := coretest.Start(t, fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    tsig {
        secret unused.key. dW51c2VkLWtleS1vZi10aGUtdGVzdC14eHh4eHh4eHg=
    }
    threatfeed {
        feed drop {
            file %[1]s
            format plain
            category spam
        }
    }
    threatstop {
        policy demo {
            lists drop
            block evil.example
            answer custom 127.0.0.10
            clients 127.0.0.1
        }
        policy other {
            lists drop
            block other.example
        }
    }
    transfer {
        to *
    }
    threatlog {
        listen %[7]s
        db %[8]s
    }
    threatadmin {
        listen %[2]s
        db %[3]s
        customer demo {
            policies demo
            token %[4]s
            token %[5]s read
        }
        customer other {
            policies other
            token %[6]s
        }
    }
}
`, feed, api, filepath.Join(dir, "admin.db"), demoToken, readToken, otherToken, coretest.FreeAddr(t), filepath.Join(dir, "log.db")))
	return &server{s, "http://" + api}
}

// ctl runs the command line with the server's URL and token (none when token is ""), and returns
// stdout, stderr and the exit status.
func (s *server) ctl(t *testing.T, token string, args ...string) (string, string, int) {
	t.Helper()
	pre := []string{"-server", s.api}
	if token != "" {
		pre = append(pre, "-token", token)
	}
	return ctl(t, append(pre, args...)...)
}

func ctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errs bytes.Buffer
	code := run(args, &out, &errs)
	return out.String(), errs.String(), code
}

// rcode asks the server a DNSBL name.
func (s *server) rcode(t *testing.T, name string) string {
	t.Helper()
	return dns.RcodeToString[s.Query(t, name, dns.TypeA).Rcode]
}

// demo is the policy demo as the API shows it.
func (s *server) demo(t *testing.T) policy {
	t.Helper()
	out, errs, code := s.ctl(t, demoToken, "show", "-json", "demo")
	var p policy
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil {
		t.Fatalf("show -json demo: %d %v %s", code, err, errs)
	}
	return p
}

func want(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %q, want %q", what, got, want)
	}
}

// TestBlockAllow: block makes an address listed at once, unblock unlists it, a prefix is removed by its
// path with the slash escaped; allow wins over the feed until unallow; a bad entry among good ones is
// reported with the server's reason and exits 1 while the others are added.
func TestBlockAllow(t *testing.T) {
	s := start(t)
	const name = "7.100.51.198.demo.threatstop.local."
	want(t, "before", s.rcode(t, name), "NXDOMAIN")
	out, errs, code := s.ctl(t, demoToken, "block", "demo", "198.51.100.7")
	if code != 0 || out != "added 198.51.100.7\n" || errs != "" {
		t.Fatalf("block: %d %q %q", code, out, errs)
	}
	want(t, "after block", s.rcode(t, name), "NOERROR")
	out, _, code = s.ctl(t, demoToken, "block", "demo", "198.51.100.7")
	want(t, "block again", fmt.Sprint(code, " ", out), "0 present 198.51.100.7\n")
	out, _, code = s.ctl(t, demoToken, "unblock", "demo", "198.51.100.7")
	want(t, "unblock", fmt.Sprint(code, " ", out), "0 removed 198.51.100.7\n")
	want(t, "after unblock", s.rcode(t, name), "NXDOMAIN")
	_, errs, code = s.ctl(t, demoToken, "unblock", "demo", "198.51.100.7")
	want(t, "unblock again", fmt.Sprint(code, " ", errs), "1 threatstopctl: unblock demo 198.51.100.7: no such entry\n")

	// A prefix, kept in canonical form; unblock sends it as 203.0.113.0%2F24.
	out, _, code = s.ctl(t, demoToken, "block", "demo", "203.0.113.9/24")
	want(t, "block prefix", fmt.Sprint(code, " ", out), "0 added 203.0.113.9/24 as 203.0.113.0/24\n")
	want(t, "in the prefix", s.rcode(t, "1.113.0.203.demo.threatstop.local."), "NOERROR")
	out, _, code = s.ctl(t, demoToken, "unblock", "demo", "203.0.113.0/24")
	want(t, "unblock prefix", fmt.Sprint(code, " ", out), "0 removed 203.0.113.0/24\n")
	want(t, "after unblock prefix", s.rcode(t, "1.113.0.203.demo.threatstop.local."), "NXDOMAIN")

	out, errs, code = s.ctl(t, demoToken, "block", "demo", "192.0.2.1", "not an entry!", "*.bad.example")
	want(t, "mixed block", fmt.Sprint(code, " ", out), "1 added 192.0.2.1\nadded *.bad.example\n")
	want(t, "mixed block stderr", errs, `threatstopctl: block demo not an entry!: "not an entry!" is not an address, a prefix, a domain name or *.domain`+"\n")
	want(t, "under *.bad.example", s.rcode(t, "www.bad.example.demo.threatstop.local."), "NOERROR")
	out, _, code = s.ctl(t, demoToken, "unblock", "demo", "*.bad.example", "192.0.2.1")
	want(t, "unblock *.name", fmt.Sprint(code, " ", out), "0 removed *.bad.example\nremoved 192.0.2.1\n")
	want(t, "after unblock *.name", s.rcode(t, "www.bad.example.demo.threatstop.local."), "NXDOMAIN")

	const dropped = "9.10.188.5.demo.threatstop.local."
	want(t, "in the feed", s.rcode(t, dropped), "NOERROR")
	out, _, code = s.ctl(t, demoToken, "allow", "demo", "5.188.10.9")
	want(t, "allow", fmt.Sprint(code, " ", out), "0 added 5.188.10.9\n")
	want(t, "allowed", s.rcode(t, dropped), "NXDOMAIN")
	out, _, code = s.ctl(t, demoToken, "unallow", "demo", "5.188.10.9")
	want(t, "unallow", fmt.Sprint(code, " ", out), "0 removed 5.188.10.9\n")
	want(t, "after unallow", s.rcode(t, dropped), "NOERROR")
}

// TestPoliciesShowAudit: what the reading commands print, and that -json is the server's JSON.
func TestPoliciesShowAudit(t *testing.T) {
	s := start(t)
	if _, errs, code := s.ctl(t, demoToken, "allow", "demo", "good.example"); code != 0 {
		t.Fatal(errs)
	}
	p := s.demo(t)
	out, _, code := s.ctl(t, demoToken, "policies")
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	want(t, "policies", fmt.Sprint(code, " ", rows), fmt.Sprintf("0 [POLICY SERIAL LISTS BLOCK ALLOW demo %d 1 1 1]", p.Serial))
	out, _, code = s.ctl(t, otherToken, "policies", "-json")
	var ps []policy
	if err := json.Unmarshal([]byte(out), &ps); code != 0 || err != nil || len(ps) != 1 || ps[0].Name != "other" {
		t.Errorf("policies -json of other: %d %v %s", code, err, out)
	}
	out, _, code = s.ctl(t, readToken, "show", "demo")
	want(t, "show", fmt.Sprint(code, "\n", out),
		fmt.Sprintf("0\npolicy demo\nserial %d\nlist   drop\nblock  evil.example\nallow  good.example\n", p.Serial))

	s.ctl(t, demoToken, "unallow", "demo", "good.example")
	out, _, code = s.ctl(t, demoToken, "audit")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], " demo 127.0.0.1 add demo allow good.example") ||
		!strings.HasSuffix(lines[1], " demo 127.0.0.1 remove demo allow good.example") {
		t.Errorf("audit: %d\n%s", code, out)
	}
	out, _, code = s.ctl(t, demoToken, "audit", "-limit", "1")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, " remove ") {
		t.Errorf("audit -limit 1: %d %q", code, out)
	}
}

// TestIsolation: another customer's token cannot read or change demo, a read token cannot change it,
// a wrong token is refused; none of them shows in the output.
func TestIsolation(t *testing.T) {
	s := start(t)
	for _, args := range [][]string{
		{"block", "demo", "192.0.2.9"}, {"unblock", "demo", "evil.example"}, {"allow", "demo", "192.0.2.9"},
		{"show", "demo"},
	} {
		out, errs, code := s.ctl(t, otherToken, args...)
		if code != 1 || out != "" || !strings.HasSuffix(errs, ": no such policy\n") || strings.Contains(errs, otherToken) {
			t.Errorf("%v with other's token: %d %q %q", args, code, out, errs)
		}
	}
	_, errs, code := s.ctl(t, readToken, "block", "demo", "192.0.2.9")
	want(t, "read token", fmt.Sprint(code, " ", errs), "1 threatstopctl: block demo 192.0.2.9: this token may only read\n")
	const wrong = "wrong-token-0123456789"
	_, errs, code = s.ctl(t, wrong, "policies")
	want(t, "wrong token", fmt.Sprint(code, " ", errs), "1 threatstopctl: a valid Bearer token is needed\n")
	want(t, "evil.example", s.rcode(t, "evil.example.demo.threatstop.local."), "NOERROR")
	want(t, "192.0.2.9", s.rcode(t, "9.2.0.192.demo.threatstop.local."), "NXDOMAIN")
}

// TestToken: the token from -token-file or the environment; none, or two, is a usage error (exit 2)
// before any request.
func TestToken(t *testing.T) {
	s := start(t)
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte(demoToken+"\n"), 0o600)
	t.Setenv(tokenEnv, "")
	if out, errs, code := s.ctl(t, "", "-token-file", file, "policies"); code != 0 || !strings.Contains(out, "demo") {
		t.Errorf("-token-file: %d %q %q", code, out, errs)
	}
	// The common flags after the command too.
	if out, errs, code := ctl(t, "policies", "-server", s.api, "-token-file", file); code != 0 || !strings.Contains(out, "demo") {
		t.Errorf("flags after the command: %d %q %q", code, out, errs)
	}
	_, errs, code := s.ctl(t, "", "block", "demo", "192.0.2.9")
	want(t, "no token", fmt.Sprint(code, " ", errs),
		"2 threatstopctl: no API token: give -token-file FILE, set $THREATSTOP_TOKEN, or give -token TOKEN\n")
	_, errs, code = s.ctl(t, demoToken, "-token-file", file, "policies")
	want(t, "two tokens", fmt.Sprint(code, " ", errs), "2 threatstopctl: -token and -token-file: give one\n")
	t.Setenv(tokenEnv, demoToken)
	if out, errs, code := s.ctl(t, "", "policies"); code != 0 || !strings.Contains(out, "demo") {
		t.Errorf("$%s: %d %q %q", tokenEnv, code, out, errs)
	}
	want(t, "192.0.2.9", s.rcode(t, "9.2.0.192.demo.threatstop.local."), "NXDOMAIN")
}

// TestUsage: bad command lines exit 2 and say why; -h exits 0.
func TestUsage(t *testing.T) {
	t.Setenv(tokenEnv, demoToken)
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "usage: threatstopctl"},
		{[]string{"frobnicate"}, 2, `no command "frobnicate"`},
		{[]string{"block", "demo"}, 2, "usage: threatstopctl block POLICY ENTRY..."},
		{[]string{"show"}, 2, "usage: threatstopctl show [-json] POLICY"},
		{[]string{"import", "demo", "deny", "-"}, 2, `the list is block or allow, not "deny"`},
		{[]string{"audit", "-limit", "-3"}, 2, "-limit: 1 to 10000"},
		{[]string{"policies", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"-server", "ftp://x", "policies"}, 2, `-server "ftp://x": not an http or https URL`},
		{[]string{"-h"}, 0, "usage: threatstopctl"},
		{[]string{"import", "-h"}, 0, "-replace"},
	} {
		_, errs, code := ctl(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.err) || strings.Contains(errs, demoToken) {
			t.Errorf("%q: %d %q, want %d and %q", c.args, code, errs, c.code, c.err)
		}
	}
	// No server there: a failed operation, exit 1, naming the URL but not the token.
	_, errs, code := ctl(t, "-server", "127.0.0.1:1", "-token", demoToken, "policies")
	if code != 1 || !strings.Contains(errs, "http://127.0.0.1:1/api/v1/policies") || strings.Contains(errs, demoToken) {
		t.Errorf("no server: %d %q", code, errs)
	}
}

// TestDevicesReport: device-create prints the key, its secret and the upload token once (or a
// configuration with them), devices lists the device without them, the token uploads a log that report
// -device then counts, rotate changes the secrets, revoke ends the device; passwd makes a bcrypt hash.
func TestDevicesReport(t *testing.T) {
	s := start(t)
	out, errs, code := s.ctl(t, demoToken, "device-create", "demo", "fw1")
	fields := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, " ")
		fields[k] = v
	}
	if code != 0 || fields["key"] != "fw1.demo.device." || fields["algorithm"] != "hmac-sha256" || len(fields["secret"]) != 44 || !strings.HasPrefix(fields["upload-token"], "tsd_") {
		t.Fatalf("device-create: %d %q %s", code, out, errs)
	}
	out, _, code = s.ctl(t, readToken, "devices", "demo")
	if code != 0 || !strings.Contains(out, "fw1") || !strings.Contains(out, "fw1.demo.device.") || strings.Contains(out, fields["secret"]) {
		t.Errorf("devices demo: %d %q", code, out)
	}
	if _, errs, code := s.ctl(t, otherToken, "devices", "demo"); code != 1 || !strings.Contains(errs, "no such policy") {
		t.Errorf("another customer's devices: %d %s", code, errs)
	}
	if _, _, code := s.ctl(t, readToken, "device-create", "demo", "fw2"); code != 1 {
		t.Errorf("device-create with a read token: %d", code)
	}

	// The upload configuration of a second device names threatlog's address and its token.
	up, _, code := s.ctl(t, demoToken, "device-create", "-config", "upload", "demo", "fw2")
	url := regexp.MustCompile(`http://\S+/upload`).FindString(up)
	tok := regexp.MustCompile(`Bearer (tsd_\S+)'`).FindStringSubmatch(up)
	if code != 0 || url == "" || tok == nil {
		t.Fatalf("device-create -config upload: %d %q", code, up)
	}
	line := "[INFO] plugin/threatstop: decision time=" + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano) +
		" client=192.168.1.20 qname=x.example. qtype=A policy=demo trigger=ip value=5.188.10.7 entry=5.188.10.0/24 list=drop category=spam action=nxdomain\n"
	req, _ := http.NewRequest("POST", url, strings.NewReader(line+line))
	req.Header.Set("Authorization", "Bearer "+tok[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
	out, errs, code = s.ctl(t, readToken, "report", "-device", "fw2", "demo")
	if code != 0 || !strings.Contains(out, "events 2\n") || !strings.Contains(out, "remote 5.188.10.7 2 drop") {
		t.Errorf("report -device fw2: %d %q %s", code, out, errs)
	}
	if out, _, _ := s.ctl(t, readToken, "report", "-device", "fw1", "demo"); !strings.Contains(out, "events 0\n") {
		t.Errorf("report -device fw1: %q", out)
	}

	out, _, code = s.ctl(t, demoToken, "device-rotate", "demo", "fw1")
	if code != 0 || !strings.Contains(out, "secret ") || strings.Contains(out, fields["secret"]) {
		t.Errorf("device-rotate: %d %q", code, out)
	}
	if out, _, code := s.ctl(t, demoToken, "device-revoke", "demo", "fw1"); code != 0 || out != "revoked fw1\n" {
		t.Errorf("device-revoke: %d %q", code, out)
	}
	if out, _, _ := s.ctl(t, readToken, "devices", "demo"); strings.Contains(out, "fw1") {
		t.Errorf("after revoke: %q", out)
	}

	stdin = strings.NewReader("a long portal password\n")
	defer func() { stdin = os.Stdin }()
	out, errs, code = ctl(t, "passwd")
	if code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte("a long portal password")) != nil {
		t.Errorf("passwd: %d %q %s", code, out, errs)
	}
}
