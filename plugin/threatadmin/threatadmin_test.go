package threatadmin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"golang.org/x/crypto/bcrypt"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/threatadmin"
)

const (
	demoToken  = "demo-api-7f3c9a1e5b2d4c6e"
	readToken  = "demo-read-0123456789abcdef"
	otherToken = "other-api-fedcba9876543210"
	opsToken   = "ops-api-00112233445566778899"
	demoSecret = "ZGVtby1rZXktb2YtdGhlLWFkbWluLXRlc3QteHh4eHg="
)

// password is every portal user's of the test Corefile; passwordHash its bcrypt hash (the lowest cost:
// the tests sign in often).
const password = "correct horse battery staple"

var passwordHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// startCorefile, when set, takes startWith's Corefile instead of a server being started with it.
var startCorefile func(string)

// extraPolicies are more policies for startWith's Corefile.
var extraPolicies string

func freeAddr(t testing.TB) string { return coretest.FreeAddr(t) }

// start serves policies demo (customer demo) and other (customer other) over feed drop, with the API on
// api and its database in dir.
func start(t *testing.T, dir, api string, extra ...string) *coretest.Server {
	t.Helper()
	return startWith(t, dir, api, "evil.example", extra...)
}

// startWith is start with demo's own block entries in the Corefile.
func startWith(t *testing.T, dir, api, demoBlock string, extra ...string) *coretest.Server {
	t.Helper()
	feed := filepath.Join(dir, "drop.txt")
	if _, err := os.Stat(feed); err != nil {
		if err := os.WriteFile(feed, []byte("5.188.10.0/24\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := fmt.Sprintf(`threatstop.local:0 {
    bind 127.0.0.1
    tsig {
        secret demo.key. %[11]s
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
            block %[9]s
            answer custom 127.0.0.10
            clients 127.0.0.1
            transfer_clients 127.0.0.1
            keys demo.key.
        }
        policy other {
            lists drop
            block other.example
        }
        policy nobody {
            lists drop
            clients 127.0.0.1
        }
%[10]s
    }
    transfer {
        to *
    }
    threatlog {
        listen %[12]s
        db %[13]s
    }
    threatadmin {
        %[8]s
        listen %[2]s
        db %[3]s
        customer demo {
            policies demo
            token %[4]s
            token %[5]s read
            user alice %[14]s
            user carol %[14]s read
        }
        customer other {
            policies other
            token %[6]s
            user olga %[14]s
        }
        operator ops {
            token %[7]s
            user oscar %[14]s
        }
    }
}
`, feed, api, filepath.Join(dir, "admin.db"), demoToken, readToken, otherToken, opsToken, strings.Join(extra, "\n        "), demoBlock, extraPolicies, demoSecret, freeAddr(t), filepath.Join(dir, "log.db"), passwordHash)
	if startCorefile != nil {
		startCorefile(c)
		return nil
	}
	return coretest.Start(t, c)
}

func call(t testing.TB, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func rcode(t *testing.T, s *coretest.Server, name string) int {
	t.Helper()
	return s.Query(t, name, dns.TypeA).Rcode
}

// TestBlockAllow: the contract of the README. POST .../block makes the address listed at once with the
// policy's custom answer, DELETE unlists it; the same for allow, which wins over a feed; a prefix is
// removed by its path with the slash as is or escaped; an entry is added once.
func TestBlockAllow(t *testing.T) {
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)
	base := "http://" + api + "/api/v1/policies/demo"
	const name = "7.100.51.198.demo.threatstop.local."
	if rc := rcode(t, s, name); rc != dns.RcodeNameError {
		t.Fatalf("before: %s", dns.RcodeToString[rc])
	}
	code, body := call(t, "POST", base+"/block", demoToken, `{"value":"198.51.100.7"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"value": "198.51.100.7"`) {
		t.Fatalf("POST block: %d %s", code, body)
	}
	r := s.Query(t, name, dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.10" {
		t.Errorf("after POST: %v, want the custom answer 127.0.0.10", r)
	}
	if code, _ := call(t, "POST", base+"/block", demoToken, `{"value":"198.51.100.7"}`); code != http.StatusOK {
		t.Errorf("the same entry again: %d, want 200", code)
	}
	if code, body := call(t, "DELETE", base+"/block/198.51.100.7", demoToken, ""); code != http.StatusNoContent {
		t.Errorf("DELETE: %d %s", code, body)
	}
	if rc := rcode(t, s, name); rc != dns.RcodeNameError {
		t.Errorf("after DELETE: %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	if code, _ := call(t, "DELETE", base+"/block/198.51.100.7", demoToken, ""); code != http.StatusNotFound {
		t.Errorf("DELETE again: %d, want 404", code)
	}
	// allow wins over the feed.
	const dropped = "9.10.188.5.demo.threatstop.local."
	if code, body := call(t, "POST", base+"/allow", demoToken, `{"value":"5.188.10.9"}`); code != http.StatusCreated {
		t.Fatalf("POST allow: %d %s", code, body)
	}
	if rc := rcode(t, s, dropped); rc != dns.RcodeNameError {
		t.Errorf("allowed address: %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	if rc := rcode(t, s, "9.10.188.5.other.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the other customer's policy lost the address: %s", dns.RcodeToString[rc])
	}
	if code, _ := call(t, "DELETE", base+"/allow/5.188.10.9", demoToken, ""); code != http.StatusNoContent || rcode(t, s, dropped) != dns.RcodeSuccess {
		t.Errorf("DELETE allow: %d, the address not listed again", code)
	}
	// A prefix, and a Corefile entry removed through the API.
	for _, path := range []string{"203.0.113.0/24", "203.0.113.0%2F24"} {
		if code, body := call(t, "POST", base+"/block", demoToken, `{"value":"203.0.113.9/24"}`); code != http.StatusCreated || !strings.Contains(body, "203.0.113.0/24") {
			t.Fatalf("POST prefix: %d %s", code, body)
		}
		if rc := rcode(t, s, "1.113.0.203.demo.threatstop.local."); rc != dns.RcodeSuccess {
			t.Errorf("in the prefix: %s", dns.RcodeToString[rc])
		}
		if code, body := call(t, "DELETE", base+"/block/"+path, demoToken, ""); code != http.StatusNoContent {
			t.Errorf("DELETE %s: %d %s", path, code, body)
		}
	}
	if code, _ := call(t, "DELETE", base+"/block/EVIL.example", demoToken, ""); code != http.StatusNoContent || rcode(t, s, "evil.example.demo.threatstop.local.") != dns.RcodeNameError {
		t.Errorf("removing the Corefile's evil.example: %d", code)
	}
	for _, bad := range []string{`{"value":"not an entry!"}`, `{"value":"10.0.0.1","x":1}`, `nope`, `{"value":""}`} {
		if code, _ := call(t, "POST", base+"/block", demoToken, bad); code != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", bad, code)
		}
	}
}

// TestIsolation walks every operation with another customer's token, a read-only token, a wrong token
// and none: 404, 403 or 401, and never the policy's data.
func TestIsolation(t *testing.T) {
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)
	base := "http://" + api
	if code, _ := call(t, "POST", base+"/api/v1/policies/demo/block", demoToken, `{"value":"192.0.2.77"}`); code != http.StatusCreated {
		t.Fatal("setup edit failed")
	}
	ops := []struct{ method, path, body string }{
		{"GET", "/api/v1/policies/demo", ""},
		{"POST", "/api/v1/policies/demo/block", `{"value":"192.0.2.78"}`},
		{"POST", "/api/v1/policies/demo/allow", `{"value":"192.0.2.79"}`},
		{"DELETE", "/api/v1/policies/demo/block/192.0.2.77", ""},
		{"DELETE", "/api/v1/policies/demo/allow/192.0.2.77", ""},
	}
	for _, op := range ops {
		for _, c := range []struct {
			token string
			want  int
		}{{otherToken, http.StatusNotFound}, {"", http.StatusUnauthorized}, {"wrong-token-0123456789", http.StatusUnauthorized}} {
			code, body := call(t, op.method, base+op.path, c.token, op.body)
			if code != c.want || strings.Contains(body, "192.0.2.77") || strings.Contains(body, "evil.example") {
				t.Errorf("%s %s with %q: %d %s, want %d and nothing of demo", op.method, op.path, c.token, code, body, c.want)
			}
		}
		if op.method != "GET" {
			if code, _ := call(t, op.method, base+op.path, readToken, op.body); code != http.StatusForbidden {
				t.Errorf("%s %s with a read token: %d, want 403", op.method, op.path, code)
			}
		}
	}
	code, body := call(t, "GET", base+"/api/v1/policies", otherToken, "")
	if code != http.StatusOK || strings.Contains(body, "demo") || !strings.Contains(body, "other.example") {
		t.Errorf("other's list: %d %s", code, body)
	}
	code, body = call(t, "GET", base+"/api/v1/audit", otherToken, "")
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("other's audit: %d %s, want []", code, body)
	}
	if rc := rcode(t, s, "77.2.0.192.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("192.0.2.77 was unlisted by a refused request: %s", dns.RcodeToString[rc])
	}
	if code, body := call(t, "GET", base+"/api/v1/policies/demo", readToken, ""); code != http.StatusOK || !strings.Contains(body, "192.0.2.77") {
		t.Errorf("demo with its read token: %d %s", code, body)
	}
}

// TestKeptAcrossRestart: the edits and the audit log are in the database: a new server on it starts the
// policy with them, at the serial it had.
func TestKeptAcrossRestart(t *testing.T) {
	dir, api := t.TempDir(), freeAddr(t)
	s := start(t, dir, api)
	base := "http://" + api + "/api/v1"
	call(t, "POST", base+"/policies/demo/block", demoToken, `{"value":"198.51.100.7"}`)
	call(t, "DELETE", base+"/policies/demo/block/evil.example", demoToken, "")
	_, before := call(t, "GET", base+"/policies/demo", demoToken, "")
	s.Stop()

	s = start(t, dir, api)
	if rc := rcode(t, s, "7.100.51.198.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the added entry after a restart: %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, s, "evil.example.demo.threatstop.local."); rc != dns.RcodeNameError {
		t.Errorf("the removed entry after a restart: %s", dns.RcodeToString[rc])
	}
	_, after := call(t, "GET", base+"/policies/demo", demoToken, "")
	if before != after {
		t.Errorf("the policy before the restart:\n%s\nafter:\n%s", before, after)
	}
	code, body := call(t, "GET", base+"/audit", demoToken, "")
	var recs []struct{ Action, Policy, List, Value, Customer, By, From string }
	if err := json.Unmarshal([]byte(body), &recs); code != http.StatusOK || err != nil {
		t.Fatalf("audit: %d %s %v", code, body, err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Customer+" "+r.By+" "+r.From+" "+r.Action+" "+r.Policy+" "+r.List+" "+r.Value)
	}
	want := []string{"demo customer demo 127.0.0.1 add demo block 198.51.100.7", "demo customer demo 127.0.0.1 remove demo block evil.example"}
	if !slices.Equal(got, want) {
		t.Errorf("audit %q, want %q", got, want)
	}
}

// TestEditIXFR: a secondary at the serial before an API edit gets the edit as an IXFR of the one record
// it adds, and the other customer's zone keeps its serial.
func TestEditIXFR(t *testing.T) {
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)
	soa := func(zone string) uint32 {
		r := s.Query(t, zone, dns.TypeSOA)
		if len(r.Answer) != 1 {
			t.Fatalf("%s SOA: %v", zone, r)
		}
		return r.Answer[0].(*dns.SOA).Serial
	}
	before, other := soa("demo.rpz.threatstop.local."), soa("other.rpz.threatstop.local.")
	if code, body := call(t, "POST", "http://"+api+"/api/v1/policies/demo/block", demoToken, `{"value":"198.51.100.7"}`); code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	after := soa("demo.rpz.threatstop.local.")
	if int32(after-before) <= 0 || soa("other.rpz.threatstop.local.") != other {
		t.Fatalf("serials: demo %d -> %d, other %d -> %d", before, after, other, soa("other.rpz.threatstop.local."))
	}
	m := new(dns.Msg)
	m.SetIxfr("demo.rpz.threatstop.local.", before, "ns.threatstop.local.", "hostmaster.threatstop.local.")
	tr := &dns.Transfer{}
	ch, err := tr.In(m, s.TCP)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		for _, rr := range env.RR {
			if soa, ok := rr.(*dns.SOA); ok {
				got = append(got, fmt.Sprintf("SOA %d", soa.Serial))
			} else {
				got = append(got, rr.Header().Name+" "+dns.TypeToString[rr.Header().Rrtype])
			}
		}
	}
	want := []string{
		fmt.Sprintf("SOA %d", after), fmt.Sprintf("SOA %d", before), fmt.Sprintf("SOA %d", after),
		"32.7.100.51.198.rpz-ip.demo.rpz.threatstop.local. CNAME", fmt.Sprintf("SOA %d", after),
	}
	if !slices.Equal(got, want) {
		t.Errorf("IXFR from %d: %q,\nwant %q", before, got, want)
	}
	// The whole zone has the entry too.
	m = new(dns.Msg)
	m.SetAxfr("demo.rpz.threatstop.local.")
	ch, err = (&dns.Transfer{}).In(m, s.TCP)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		for _, rr := range env.RR {
			found = found || rr.Header().Name == "32.7.100.51.198.rpz-ip.demo.rpz.threatstop.local."
		}
	}
	if !found {
		t.Error("the AXFR after the edit lacks its trigger")
	}
}

// TestImport: a text list and a CSV file are imported as one edit each (one serial step), the lines that
// are not entries are reported with their numbers and left out; replace=true makes the list the file's,
// and refuses a file with errors whole.
func TestImport(t *testing.T) {
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)
	base := "http://" + api + "/api/v1/policies/demo/block"
	serial := func() uint32 { return soaOf(t, s, "demo.threatstop.local.") }
	before := serial()
	text := "# a comment\n198.51.100.7\n\n203.0.113.0/24 ; a prefix\nnot an entry!\nEVIL.example\nbad.test\n*.wild.test\n"
	code, body := call(t, "POST", base+"/import", demoToken, text)
	var res struct {
		Added, Present, Removed int
		Serial                  uint32
		Errors                  []struct {
			Line  int
			Value string
		}
	}
	if err := json.Unmarshal([]byte(body), &res); code != http.StatusOK || err != nil {
		t.Fatalf("import: %d %s %v", code, body, err)
	}
	if res.Added != 4 || res.Present != 1 || res.Removed != 0 || len(res.Errors) != 1 || res.Errors[0].Line != 5 || res.Errors[0].Value != "not an entry!" {
		t.Errorf("import result %+v", res)
	}
	if after := serial(); after != res.Serial || int32(after-before) <= 0 {
		t.Errorf("serial %d -> %d (result %d): want it moved on, to the result's", before, after, res.Serial)
	}
	_, body = call(t, "GET", "http://"+api+"/api/v1/audit", demoToken, "")
	if n := strings.Count(body, `"action": "import"`); n != 1 {
		t.Errorf("%d audit records of the import, want one:\n%s", n, body)
	}
	for _, name := range []string{"7.100.51.198", "1.113.0.203", "bad.test", "x.wild.test"} {
		if rc := rcode(t, s, name+".demo.threatstop.local."); rc != dns.RcodeSuccess {
			t.Errorf("%s not listed after the import: %s", name, dns.RcodeToString[rc])
		}
	}
	// CSV: first column, header skipped, quoted values.
	req, _ := http.NewRequest("POST", base+"/import?replace=true", strings.NewReader("indicator,comment\n\"198.51.100.7\",kept\nnew.test,added\n"))
	req.Header.Set("Authorization", "Bearer "+demoToken)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &res); resp.StatusCode != http.StatusOK || err != nil || res.Added != 1 || res.Present != 1 || res.Removed != 4 || len(res.Errors) != 0 {
		t.Fatalf("CSV replace: %d %s", resp.StatusCode, b)
	}
	_, body = call(t, "GET", "http://"+api+"/api/v1/policies/demo", demoToken, "")
	var v struct{ Block []string }
	json.Unmarshal([]byte(body), &v)
	slices.Sort(v.Block)
	if !slices.Equal(v.Block, []string{"198.51.100.7", "new.test"}) {
		t.Errorf("after replace: block %q", v.Block)
	}
	if rc := rcode(t, s, "bad.test.demo.threatstop.local."); rc != dns.RcodeNameError {
		t.Errorf("bad.test still listed after replace: %s", dns.RcodeToString[rc])
	}
	// replace with an error changes nothing.
	if code, _ := call(t, "POST", base+"/import?replace=true", demoToken, "only.test\nnot an entry!\n"); code != http.StatusUnprocessableEntity {
		t.Errorf("replace with an error: %d, want 422", code)
	}
	if rc := rcode(t, s, "new.test.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Error("a refused replace changed the list")
	}
	if code, _ := call(t, "POST", base+"/import?replace=true", demoToken, "# nothing\n"); code != http.StatusBadRequest {
		t.Errorf("replace with no entry: %d, want 400", code)
	}
	if rc := rcode(t, s, "new.test.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Error("an empty replace emptied the list")
	}
	if code, _ := call(t, "POST", base+"/import", readToken, "x.test\n"); code != http.StatusForbidden {
		t.Errorf("import with a read token: %d", code)
	}
	if code, _ := call(t, "POST", "http://"+api+"/api/v1/policies/other/block/import", demoToken, "x.test\n"); code != http.StatusNotFound {
		t.Errorf("import into another customer's policy: %d", code)
	}
}

func soaOf(t *testing.T, s *coretest.Server, zone string) uint32 {
	t.Helper()
	r := s.Query(t, zone, dns.TypeSOA)
	if len(r.Answer) != 1 {
		t.Fatalf("%s SOA: %v", zone, r)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// TestSelection: a customer chooses the feeds and categories of its policy and their answers; the next
// query answers by the choice, a bad choice changes nothing, and a restart keeps the choice, resolved
// again (a feed of a chosen category added to the Corefile is taken in).
func TestSelection(t *testing.T) {
	dir, api := t.TempDir(), freeAddr(t)
	s := start(t, dir, api)
	base := "http://" + api + "/api/v1/policies/demo/selection"
	const dropped = "9.10.188.5.demo.threatstop.local."
	if rc := rcode(t, s, dropped); rc != dns.RcodeSuccess {
		t.Fatalf("before: %s", dns.RcodeToString[rc])
	}
	// No feed: the own entries alone.
	if code, body := call(t, "PUT", base, demoToken, `{"lists":[]}`); code != http.StatusOK || !strings.Contains(body, `"lists": []`) {
		t.Fatalf("PUT no lists: %d %s", code, body)
	}
	if rc := rcode(t, s, dropped); rc != dns.RcodeNameError {
		t.Errorf("with no feed chosen: %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, s, "evil.example.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the own entry went with the feeds: %s", dns.RcodeToString[rc])
	}
	// The category, with an answer of its own.
	if code, body := call(t, "PUT", base, demoToken, `{"categories":["spam"],"answers":{"spam":"127.0.0.7","custom":"127.0.0.10"}}`); code != http.StatusOK {
		t.Fatalf("PUT category: %d %s", code, body)
	}
	r := s.Query(t, dropped, dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.7" {
		t.Errorf("with category spam answered 127.0.0.7: %v", r)
	}
	for _, bad := range []string{`{"lists":["nope"]}`, `{"categories":["nope"]}`, `{"answers":{"spam":"10.0.0.1"}}`,
		`{"actions":{"spam":"explode"}}`, `{"answers":{"nope":"127.0.0.3"}}`, `{"list":["drop"]}`} {
		if code, _ := call(t, "PUT", base, demoToken, bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, code)
		}
	}
	if r := s.Query(t, dropped, dns.TypeA); r.Rcode != dns.RcodeSuccess || r.Answer[0].(*dns.A).A.String() != "127.0.0.7" {
		t.Errorf("a refused selection changed the policy: %v", r)
	}
	// By score: the feed has the default confidence, 50.
	if code, body := call(t, "PUT", base, demoToken, `{"categories":["spam"],"min_score":60}`); code != http.StatusOK || !strings.Contains(body, `"min_score": 60`) {
		t.Fatalf("PUT min_score: %d %s", code, body)
	}
	if rc := rcode(t, s, dropped); rc != dns.RcodeNameError {
		t.Errorf("scored 50 under min_score 60: %s", dns.RcodeToString[rc])
	}
	if code, body := call(t, "PUT", base, demoToken, `{"categories":["spam"],"answers":{"spam":"127.0.0.7","custom":"127.0.0.10"},"min_score":60,"min_scores":{"spam":50},"max_entries":10}`); code != http.StatusOK || !strings.Contains(body, `"max_entries": 10`) {
		t.Fatalf("PUT min_scores: %d %s", code, body)
	}
	if rc := rcode(t, s, dropped); rc != dns.RcodeSuccess {
		t.Errorf("scored 50 with spam's minimum 50: %s", dns.RcodeToString[rc])
	}
	for _, bad := range []string{`{"min_score":101}`, `{"min_scores":{"nope":1}}`, `{"min_scores":{"spam":-1}}`, `{"max_entries":-1}`} {
		if code, _ := call(t, "PUT", base, demoToken, bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, code)
		}
	}
	if code, _ := call(t, "PUT", "http://"+api+"/api/v1/policies/other/selection", demoToken, `{"lists":[]}`); code != http.StatusNotFound {
		t.Errorf("another customer's policy: %d", code)
	}
	if code, _ := call(t, "PUT", base, readToken, `{"lists":[]}`); code != http.StatusForbidden {
		t.Errorf("a read token: %d", code)
	}
	s.Stop()
	s = start(t, dir, api)
	if r := s.Query(t, dropped, dns.TypeA); r.Rcode != dns.RcodeSuccess || r.Answer[0].(*dns.A).A.String() != "127.0.0.7" {
		t.Errorf("after a restart: %v", r)
	}
	if code, body := call(t, "GET", "http://"+api+"/api/v1/policies/demo", demoToken, ""); code != http.StatusOK || !strings.Contains(body, `"max_entries": 10`) || !strings.Contains(body, `"spam": 50`) {
		t.Errorf("the choice by score after a restart: %d %s", code, body)
	}
}

// TestOperator: an operator reads and edits every customer's policy, lists the customers and the feeds;
// the customer reads the operator's change in its audit log; customers get 403 for the operators' calls.
func TestOperator(t *testing.T) {
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)
	base := "http://" + api + "/api/v1"
	code, body := call(t, "GET", base+"/policies", opsToken, "")
	if code != http.StatusOK || !strings.Contains(body, `"name": "demo"`) || !strings.Contains(body, `"name": "other"`) {
		t.Errorf("operator's policies: %d %s", code, body)
	}
	if code, _ := call(t, "POST", base+"/policies/other/block", opsToken, `{"value":"192.0.2.55"}`); code != http.StatusCreated {
		t.Errorf("operator's edit of other: %d", code)
	}
	if rc := rcode(t, s, "55.2.0.192.other.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the operator's edit is not served: %s", dns.RcodeToString[rc])
	}
	_, body = call(t, "GET", base+"/audit", otherToken, "")
	if !strings.Contains(body, `"by": "operator ops"`) || !strings.Contains(body, `"customer": "other"`) {
		t.Errorf("other's audit lacks the operator's change: %s", body)
	}
	if _, body := call(t, "GET", base+"/audit", demoToken, ""); strings.TrimSpace(body) != "[]" {
		t.Errorf("demo's audit shows other's change: %s", body)
	}
	code, body = call(t, "GET", base+"/customers", opsToken, "")
	if code != http.StatusOK || !strings.Contains(body, `"name": "demo"`) || !strings.Contains(body, `"other"`) {
		t.Errorf("customers: %d %s", code, body)
	}
	code, body = call(t, "GET", base+"/feeds", opsToken, "")
	if code != http.StatusOK || !strings.Contains(body, `"name": "drop"`) || !strings.Contains(body, `"ready": true`) {
		t.Errorf("feeds: %d %s", code, body)
	}
	for _, path := range []string{"/customers", "/feeds"} {
		if code, body := call(t, "GET", base+path, demoToken, ""); code != http.StatusForbidden || strings.Contains(body, "other") || strings.Contains(body, "drop") {
			t.Errorf("GET %s with a customer's token: %d %s", path, code, body)
		}
	}
	if code, _ := call(t, "GET", base+"/policies/nope", opsToken, ""); code != http.StatusNotFound {
		t.Errorf("operator, a policy that does not exist: %d", code)
	}
}

// TestCorefileChangesUnderEdits: the edits are kept against the Corefile's entries as they are at each
// start. An entry the API added and the Corefile then gave too is gone after an API delete; one the API
// removed, that the Corefile then dropped, stays after an API add; an operator's edit of a policy no
// customer owns is kept too.
func TestCorefileChangesUnderEdits(t *testing.T) {
	dir, api := t.TempDir(), freeAddr(t)
	base := "http://" + api + "/api/v1/policies/demo/block"
	listed := func(s *coretest.Server, name string) bool {
		return rcode(t, s, name+".demo.threatstop.local.") == dns.RcodeSuccess
	}

	s := startWith(t, dir, api, "evil.example keep.example")
	call(t, "POST", base, demoToken, `{"value":"added.example"}`)
	call(t, "DELETE", base+"/keep.example", demoToken, "")
	if code, _ := call(t, "POST", "http://"+api+"/api/v1/policies/nobody/block", opsToken, `{"value":"ops.example"}`); code != http.StatusCreated {
		t.Fatalf("operator's edit of an unowned policy: %d", code)
	}
	s.Stop()

	// The Corefile now gives added.example itself, and no longer keep.example.
	s = startWith(t, dir, api, "evil.example added.example")
	if !listed(s, "added.example") || listed(s, "keep.example") {
		t.Fatal("after the Corefile change")
	}
	call(t, "DELETE", base+"/added.example", demoToken, "")
	call(t, "POST", base, demoToken, `{"value":"keep.example"}`)
	s.Stop()

	s = startWith(t, dir, api, "evil.example added.example")
	if listed(s, "added.example") {
		t.Error("an entry deleted through the API is back after a restart (the Corefile gives it)")
	}
	if !listed(s, "keep.example") {
		t.Error("an entry added through the API is lost after a restart (the Corefile dropped it before)")
	}
	if rcode(t, s, "ops.example.nobody.threatstop.local.") != dns.RcodeSuccess {
		t.Error("the operator's edit of an unowned policy is lost after a restart")
	}
}

// TestOneDBPerBlock: two server blocks of one instance may not share a threatadmin database or listener
// (their policies' edits would mix, one block's tokens would shut out the other's).
func TestOneDBPerBlock(t *testing.T) {
	dir := t.TempDir()
	feed := filepath.Join(dir, "drop.txt")
	os.WriteFile(feed, []byte("5.188.10.0/24\n"), 0o644)
	block := func(zone, listen, db string) string {
		return fmt.Sprintf(`%[1]s:0 {
    bind 127.0.0.1
    threatfeed {
        feed drop%[1]s {
            file %[4]s
            format plain
            category spam
        }
    }
    threatstop {
        policy home {
            lists drop%[1]s
        }
    }
    threatadmin {
        listen %[2]s
        db %[3]s
        customer c%[1]s {
            policies home
            token token-of-%[1]s-0123456789
        }
    }
}
`, zone, listen, db, feed)
	}
	for _, c := range []struct{ name, second, want string }{
		{"same db", block("b", freeAddr(t), filepath.Join(dir, "one.db")), "db " + filepath.Join(dir, "one.db") + " is the threatadmin block's of line"},
		{"same listen", block("b", "127.0.0.1:1", filepath.Join(dir, "two.db")), "listen 127.0.0.1:1 is the threatadmin block's of line"},
	} {
		first := block("a", "127.0.0.1:1", filepath.Join(dir, "one.db"))
		if c.name == "same db" {
			first = block("a", freeAddr(t), filepath.Join(dir, "one.db"))
		}
		_, err := coretest.StartErr(first + c.second)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// corefileOf is start's Corefile, for a reload.
func corefileOf(t *testing.T, dir, api string, extra ...string) string {
	t.Helper()
	var got string
	orig := startCorefile
	startCorefile = func(c string) { got = c }
	defer func() { startCorefile = orig }()
	start(t, dir, api, extra...)
	return got
}

// TestReload: a reload hands the API and the database to the new configuration, which serves the edits
// made before it and takes new ones; a reload that fails leaves them with the configuration that still
// serves (not to the configuration caddy dropped, which would take the edits and serve none).
func TestReload(t *testing.T) {
	dir, api := t.TempDir(), freeAddr(t)
	s := start(t, dir, api)
	base := "http://" + api + "/api/v1/policies/demo/block"
	if code, _ := call(t, "POST", base, demoToken, `{"value":"before.example"}`); code != http.StatusCreated {
		t.Fatal("POST before the reload")
	}
	inst, err := s.Inst.Restart(coretest.Input(corefileOf(t, dir, api, "customer late {", "    policies nobody", "    token late-token-0123456789", "}")))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	s.Inst = inst
	if rcode(t, s, "before.example.demo.threatstop.local.") != dns.RcodeSuccess {
		t.Error("an edit of before the reload is not served after it")
	}
	if code, _ := call(t, "POST", base, demoToken, `{"value":"after.example"}`); code != http.StatusCreated || rcode(t, s, "after.example.demo.threatstop.local.") != dns.RcodeSuccess {
		t.Errorf("an edit after the reload: %d, not served", code)
	}
	if code, _ := call(t, "GET", "http://"+api+"/api/v1/policies/nobody", "late-token-0123456789", ""); code != http.StatusOK {
		t.Errorf("the new configuration's customer: %d", code)
	}

	// A reload that fails at start-up after this block's threatadmin has started: a later block's
	// threatlog, which needs a threatstop beside it, fails.
	bad := corefileOf(t, dir, api, "customer bad {", "    policies nobody", "    token bad-token-0123456789", "}") +
		"other.local:0 {\n    bind 127.0.0.1\n    threatlog {\n        listen " + freeAddr(t) + "\n        db " + filepath.Join(dir, "log.db") + "\n    }\n}\n"
	if _, err := s.Inst.Restart(coretest.Input(bad)); err == nil || !strings.Contains(err.Error(), "threatlog needs the threatstop plugin") {
		t.Fatalf("the failing reload: %v", err)
	}
	if code, body := call(t, "POST", base, demoToken, `{"value":"failed.example"}`); code != http.StatusCreated {
		t.Fatalf("POST after a failed reload: %d %s", code, body)
	}
	if rcode(t, s, "failed.example.demo.threatstop.local.") != dns.RcodeSuccess {
		t.Error("after a failed reload, an edit is not served by the configuration that serves")
	}
	if code, _ := call(t, "GET", "http://"+api+"/api/v1/policies/nobody", "bad-token-0123456789", ""); code != http.StatusUnauthorized {
		t.Errorf("the failed configuration's token: %d, want 401", code)
	}
}

// TestCreatePolicy: a customer creates a policy, served at once like its first (clients, feeds, answers)
// with its own entries, listed in the catalog and transferable; nobody else sees it; it survives a
// restart at its serial; removing it unlists its names; Corefile policies cannot be removed, and a
// Corefile that comes to define the same name wins.
func TestCreatePolicy(t *testing.T) {
	dir, api := t.TempDir(), freeAddr(t)
	s := start(t, dir, api)
	base := "http://" + api + "/api/v1/policies"
	code, body := call(t, "POST", base, demoToken, `{"name":"branch","block":["192.0.2.99"]}`)
	if code != http.StatusCreated || !strings.Contains(body, `"name": "branch"`) || !strings.Contains(body, `"drop"`) {
		t.Fatalf("POST policies: %d %s", code, body)
	}
	r := s.Query(t, "99.2.0.192.branch.threatstop.local.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || r.Answer[0].(*dns.A).A.String() != "127.0.0.10" {
		t.Errorf("the new policy's own entry: %v (want demo's custom answer)", r)
	}
	if rc := rcode(t, s, "9.10.188.5.branch.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the new policy lacks demo's feed: %s", dns.RcodeToString[rc])
	}
	serial := soaOf(t, s, "branch.threatstop.local.")
	// Its zone, transferable as demo's is (transfer_clients 127.0.0.1), and in the catalog's answer set.
	m := new(dns.Msg)
	m.SetAxfr("branch.rpz.threatstop.local.")
	ch, err := (&dns.Transfer{}).In(m, s.TCP)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		n += len(env.RR)
	}
	if n < 4 {
		t.Errorf("AXFR of branch.rpz: %d records", n)
	}
	// Isolation, and the names that are taken.
	if code, _ := call(t, "GET", base+"/branch", otherToken, ""); code != http.StatusNotFound {
		t.Errorf("another customer reads it: %d", code)
	}
	for body, want := range map[string]int{
		`{"name":"branch"}`:                       http.StatusConflict,
		`{"name":"other"}`:                        http.StatusConflict,
		`{"name":"Bad_Name"}`:                     http.StatusBadRequest,
		`{"name":"rpz"}`:                          http.StatusBadRequest,
		`{"name":"x2","like":"other"}`:            http.StatusBadRequest, // other's policy
		`{"name":"x3","block":["not an entry!"]}`: http.StatusBadRequest,
	} {
		if code, b := call(t, "POST", base, demoToken, body); code != want {
			t.Errorf("POST %s: %d %s, want %d", body, code, b, want)
		}
	}
	if code, _ := call(t, "POST", base, readToken, `{"name":"x4"}`); code != http.StatusForbidden {
		t.Errorf("a read token creates: %d", code)
	}
	if code, _ := call(t, "DELETE", base+"/demo", demoToken, ""); code != http.StatusConflict {
		t.Errorf("DELETE a Corefile policy: %d, want 409", code)
	}
	// Kept across a restart, at its serial, with its entry.
	s.Stop()
	s = start(t, dir, api)
	if got := soaOf(t, s, "branch.threatstop.local."); got != serial {
		t.Errorf("branch's serial after a restart: %d, want %d", got, serial)
	}
	if rc := rcode(t, s, "99.2.0.192.branch.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("after a restart: %s", dns.RcodeToString[rc])
	}
	// Removed: its names are no policy's.
	if code, _ := call(t, "DELETE", base+"/branch", demoToken, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE branch: %d", code)
	}
	if rc := rcode(t, s, "99.2.0.192.branch.threatstop.local."); rc != dns.RcodeNameError {
		t.Errorf("after DELETE: %s", dns.RcodeToString[rc])
	}
	_, body = call(t, "GET", "http://"+api+"/api/v1/audit", demoToken, "")
	if !strings.Contains(body, `"action": "create"`) || !strings.Contains(body, `"action": "delete"`) {
		t.Errorf("audit lacks the creation or removal: %s", body)
	}

	// A policy the API created and the Corefile then defines: the Corefile's is served, and the API one's
	// own entries are not applied to it.
	if code, _ := call(t, "POST", base, demoToken, `{"name":"later","block":["192.0.2.98"]}`); code != http.StatusCreated {
		t.Fatal("POST later")
	}
	s.Stop()
	extraPolicies = "        policy later {\n            lists drop\n            clients 127.0.0.1\n        }\n"
	defer func() { extraPolicies = "" }()
	s = start(t, dir, api, "customer late {", "    policies later", "    token late-token-0123456789", "}")
	if rc := rcode(t, s, "98.2.0.192.later.threatstop.local."); rc != dns.RcodeNameError {
		t.Errorf("the API policy's entry on the Corefile's policy of the same name: %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, s, "9.10.188.5.later.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the Corefile's policy later is not served: %s", dns.RcodeToString[rc])
	}
	if code, _ := call(t, "GET", base+"/later", demoToken, ""); code != http.StatusNotFound {
		t.Errorf("demo still owns later: %d", code)
	}
	// The Corefile's later can be edited by its owner, not removed; demo's old entries never join it.
	const lateToken = "late-token-0123456789"
	if code, _ := call(t, "DELETE", base+"/later", lateToken, ""); code != http.StatusConflict {
		t.Errorf("DELETE of the Corefile's later: %d, want 409", code)
	}
	if rc := rcode(t, s, "9.10.188.5.later.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the Corefile's later after a refused DELETE: %s", dns.RcodeToString[rc])
	}
	if code, _ := call(t, "POST", base+"/later/allow", lateToken, `{"value":"198.51.100.1"}`); code != http.StatusCreated {
		t.Fatal("late's edit")
	}
	s.Stop()
	s = start(t, dir, api, "customer late {", "    policies later", "    token late-token-0123456789", "}")
	if rc := rcode(t, s, "98.2.0.192.later.threatstop.local."); rc != dns.RcodeNameError {
		t.Errorf("demo's entry joined late's policy through late's edit: %s", dns.RcodeToString[rc])
	}
	if _, body := call(t, "GET", "http://"+api+"/api/v1/audit", demoToken, ""); strings.Contains(body, "customer late") {
		t.Errorf("demo's audit shows late's actions: %s", body)
	}
	extraPolicies = ""
	// A policy made like a policy the API created is served again after a restart.
	for _, b := range []string{`{"name":"b1","block":["192.0.2.96"]}`, `{"name":"b2","like":"b1","block":["192.0.2.97"]}`} {
		if code, body := call(t, "POST", base, demoToken, b); code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", b, code, body)
		}
	}
	s.Stop()
	s = start(t, dir, api)
	if rc := rcode(t, s, "97.2.0.192.b2.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("b2, made like b1, after a restart: %s", dns.RcodeToString[rc])
	}
	// Removing b1, before b2 in the Store, renumbers b2: still served, at its serial.
	serial = soaOf(t, s, "b2.threatstop.local.")
	if code, _ := call(t, "DELETE", base+"/b1", demoToken, ""); code != http.StatusNoContent {
		t.Fatal("DELETE b1")
	}
	if rc := rcode(t, s, "97.2.0.192.b2.threatstop.local."); rc != dns.RcodeSuccess || soaOf(t, s, "b2.threatstop.local.") != serial {
		t.Errorf("b2 after b1's removal: %s, serial %d (was %d)", dns.RcodeToString[rc], soaOf(t, s, "b2.threatstop.local."), serial)
	}
	// The removed policy's series go; the others' stay.
	if coretest.Counter(t, "coredns_threatstop_policy_serial", map[string]string{"policy": "b1"}) != 0 ||
		coretest.Counter(t, "coredns_threatstop_policy_serial", map[string]string{"policy": "b2"}) != float64(serial) {
		t.Error("policy_serial of b1 still exported after its removal, or b2's gone")
	}
}

// TestSnippets: each device's configuration names the policy's zone, this server and its key; BIND's is
// a configuration named-checkconf accepts as it is; they need a write token and the policy's owner.
func TestSnippets(t *testing.T) {
	api := freeAddr(t)
	start(t, t.TempDir(), api, "primary 192.0.2.53:5353") // the address devices reach, behind NAT say
	const port = "5353"
	base := "http://" + api + "/api/v1/policies/demo/config/"
	for kind, want := range map[string][]string{
		"bind":            {`zone "demo.rpz.threatstop.local"`, "primaries port " + port + ` { 192.0.2.53 key "demo.key."; }`, demoSecret, `response-policy { zone "demo.rpz.threatstop.local"; }`},
		"unbound":         {`name: "demo.rpz.threatstop.local."`, "primary: 192.0.2.53@" + port, "transfer_clients"},
		"powerdns":        {`rpzPrimary("192.0.2.53:` + port + `", "demo.rpz.threatstop.local", {tsigname="demo.key.", tsigalgo="hmac-sha256", tsigsecret="` + demoSecret + `"`},
		"threatstop-sync": {"threatstop-sync --once --zone demo.rpz.threatstop.local --server 192.0.2.53:" + port, demoSecret},
		"nftables":        {"--nft", "nft list table inet threatstop"},
	} {
		code, body := call(t, "GET", base+kind, demoToken, "")
		if code != http.StatusOK {
			t.Errorf("%s: %d %s", kind, code, body)
			continue
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s snippet lacks %q:\n%s", kind, w, body)
			}
		}
		if kind == "bind" {
			if checkconf, err := exec.LookPath("named-checkconf"); err == nil {
				f := filepath.Join(t.TempDir(), "named.conf")
				os.WriteFile(f, []byte(body), 0o644)
				if out, err := exec.Command(checkconf, f).CombinedOutput(); err != nil {
					t.Errorf("named-checkconf refuses the BIND snippet: %v\n%s\n%s", err, out, body)
				}
			} else if os.Getenv("CI") != "" {
				t.Error("named-checkconf is not installed (.ci/run installs bind9)")
			}
		}
	}
	if code, _ := call(t, "GET", base+"bind", readToken, ""); code != http.StatusForbidden {
		t.Errorf("a read token gets the key: %d", code)
	}
	if code, body := call(t, "GET", base+"bind", otherToken, ""); code != http.StatusNotFound || strings.Contains(body, demoSecret) {
		t.Errorf("another customer: %d %s", code, body)
	}
	if code, _ := call(t, "GET", base+"cisco", demoToken, ""); code != http.StatusNotFound {
		t.Errorf("an unknown device: %d", code)
	}
	// A policy without a key: unsigned for resolvers, none for threatstop-sync.
	if code, body := call(t, "GET", "http://"+api+"/api/v1/policies/nobody/config/bind", opsToken, ""); code != http.StatusOK || strings.Contains(body, "key ") {
		t.Errorf("bind for a policy without a key: %d %s", code, body)
	}
	if code, _ := call(t, "GET", "http://"+api+"/api/v1/policies/nobody/config/threatstop-sync", opsToken, ""); code != http.StatusConflict {
		t.Errorf("threatstop-sync for a policy without a key: %d", code)
	}
}

// TestReport: the policy's threatlog report through the API, for its owner only.
func TestReport(t *testing.T) {
	api := freeAddr(t)
	start(t, t.TempDir(), api)
	code, body := call(t, "GET", "http://"+api+"/api/v1/policies/demo/report", demoToken, "")
	if code != http.StatusOK || !strings.Contains(body, `"likely_infected": []`) || !strings.Contains(body, `"policy": "demo"`) {
		t.Errorf("demo's report: %d %s", code, body)
	}
	if code, body := call(t, "GET", "http://"+api+"/api/v1/policies/demo/report", otherToken, ""); code != http.StatusNotFound || strings.Contains(body, "likely_infected") {
		t.Errorf("another customer's report of demo: %d %s", code, body)
	}
	if code, _ := call(t, "GET", "http://"+api+"/api/v1/policies/demo/report?from=yesterday", demoToken, ""); code != http.StatusBadRequest {
		t.Errorf("a bad period: %d", code)
	}
}

// TestIsolationEveryRoute walks every operation of the API (the routes themselves, so a new one is walked
// too) with customer other's token against customer demo's policy, its entries and its device: each is
// 403 or 404 and shows nothing of demo's; the operations that name no policy show other's alone.
func TestIsolationEveryRoute(t *testing.T) {
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)
	base := "http://" + api
	if code, _ := call(t, "POST", base+"/api/v1/policies/demo/block", demoToken, `{"value":"192.0.2.77"}`); code != http.StatusCreated {
		t.Fatal("setup edit failed")
	}
	d := makeDevice(t, api, "demo", demoToken, "fw1")
	if code, body := call(t, "POST", base+"/api/v1/lists", demoToken, `{"name":"demo-list","entries":["192.0.2.90"]}`); code != http.StatusCreated {
		t.Fatalf("setup list: %d %s", code, body)
	}
	if code, body := call(t, "POST", base+"/api/v1/users", demoToken, `{"name":"dave","password":"a long enough password"}`); code != http.StatusCreated {
		t.Fatalf("setup user: %d %s", code, body)
	}
	var tok struct{ ID, Token string }
	if code, body := call(t, "POST", base+"/api/v1/tokens", demoToken, `{"label":"demo-cron"}`); code != http.StatusCreated || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("setup token: %d %s", code, body)
	}
	demoData := []string{"192.0.2.77", "evil.example", "fw1.demo", d.Secret, `"demo"`, "192.0.2.90", "demo-list", "dave", tok.ID, "demo-cron"}
	bodies := map[string]string{
		"POST /api/v1/policies":                        `{"name":"stolen","like":"demo"}`,
		"POST /api/v1/policies/{policy}/{list}":        `{"value":"192.0.2.78"}`,
		"POST /api/v1/policies/{policy}/{list}/import": "192.0.2.79\n",
		"PUT /api/v1/policies/{policy}/selection":      `{"lists":["drop"]}`,
		"POST /api/v1/policies/{policy}/devices":       `{"name":"fw2"}`,
		"PUT /api/v1/policies/{policy}/lists":          `{"block":["demo-list"]}`,
		"POST /api/v1/lists/{name}/entries":            `{"value":"192.0.2.80"}`,
		"POST /api/v1/lists/{name}/import":             "192.0.2.81\n",
		"POST /api/v1/lists":                           `{"name":"mine","entries":["192.0.2.82"]}`,
		"POST /api/v1/users":                           `{"name":"olga2","password":"a long enough password"}`,
		"POST /api/v1/tokens":                          `{"label":"mine"}`,
	}
	params := strings.NewReplacer("{policy}", "demo", "{list}", "block", "{value}", "192.0.2.77", "{device}", "fw1", "{kind}", "bind", "{name}", "demo-list", "{user}", "dave", "{id}", tok.ID)
	for _, rt := range threatadmin.Routes() {
		method, path, _ := strings.Cut(rt, " ")
		url := base + params.Replace(path)
		switch path {
		case "/api/v1/openapi.json":
			continue // the same document for everyone
		case "/api/v1/check":
			url += "?ioc=192.0.2.77&policy=demo"
		}
		code, body := call(t, method, url, otherToken, bodies[rt])
		leak := ""
		for _, s := range demoData {
			if strings.Contains(body, s) {
				leak = s
			}
		}
		switch {
		case leak != "":
			t.Errorf("%s as customer other: %d, and the answer holds demo's %q: %s", rt, code, leak, body)
		case strings.Contains(path, "{policy}") || strings.Contains(path, "{name}") || strings.Contains(path, "{user}") || strings.Contains(path, "{id}") ||
			path == "/api/v1/check" || path == "/api/v1/customers" || path == "/api/v1/feeds":
			if code != http.StatusNotFound && code != http.StatusForbidden {
				t.Errorf("%s as customer other: %d, want 403 or 404", rt, code)
			}
		case rt == "POST /api/v1/policies":
			if code != http.StatusBadRequest {
				t.Errorf("%s like demo as customer other: %d, want 400", rt, code)
			}
		case rt == "POST /api/v1/lists" || rt == "POST /api/v1/users" || rt == "POST /api/v1/tokens": // other's own
			if code != http.StatusCreated {
				t.Errorf("%s as customer other: %d", rt, code)
			}
		case method == "GET": // the caller's own: the policies, the audit log
			if code != http.StatusOK {
				t.Errorf("%s as customer other: %d", rt, code)
			}
		default:
			t.Errorf("%s: not walked by this test", rt)
		}
	}
	// Nor the other way round: demo's policy cannot take in other's list.
	if code, body := call(t, "PUT", base+"/api/v1/policies/demo/lists", demoToken, `{"block":["mine"]}`); code != http.StatusBadRequest || strings.Contains(body, "192.0.2.82") {
		t.Errorf("demo takes in other's list: %d %s", code, body)
	}
	// Nothing changed: demo's entry, its device, no policy made like it.
	if rc := rcode(t, s, "77.2.0.192.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("demo's entry: %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, s, "78.2.0.192.demo.threatstop.local."); rc != dns.RcodeNameError {
		t.Errorf("an entry other added to demo: %s", dns.RcodeToString[rc])
	}
	if rc := axfr(t, s, "demo.rpz.threatstop.local.", d.Key, d.Secret); rc != dns.RcodeSuccess {
		t.Errorf("demo's device after other's requests: rcode %d", rc)
	}
	if code, body := call(t, "GET", base+"/api/v1/policies/demo/devices", demoToken, ""); code != http.StatusOK || !strings.Contains(body, `"fw1"`) || strings.Contains(body, "fw2") {
		t.Errorf("demo's devices: %d %s", code, body)
	}
}
