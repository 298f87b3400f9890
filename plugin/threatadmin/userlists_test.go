package threatadmin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestUserLists: a customer's own list, taken in by a policy as block and another as allow entries:
// served at once, changed in one place for every policy that takes it in, kept apart from the policy's own
// entries, imported with per-line errors, kept across a restart, and nobody else's.
func TestUserLists(t *testing.T) {
	api, dir := freeAddr(t), t.TempDir()
	s := start(t, dir, api)
	base := "http://" + api + "/api/v1"
	must := func(method, path, token, body string, want int) string {
		t.Helper()
		code, out := call(t, method, base+path, token, body)
		if code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
		}
		return out
	}
	const listed, feed = "50.100.51.198.demo.threatstop.local.", "9.10.188.5.demo.threatstop.local."
	must("POST", "/lists", demoToken, `{"name":"partners-bad","entries":["198.51.100.50","Bad.Partner.example"]}`, http.StatusCreated)
	must("POST", "/lists", demoToken, `{"name":"partners","entries":["5.188.10.9"]}`, http.StatusCreated)
	if rc := rcode(t, s, listed); rc != dns.RcodeNameError {
		t.Fatalf("a list no policy takes in is served: %s", dns.RcodeToString[rc])
	}
	nobody := soaOf(t, s, "nobody.threatstop.local.")
	before := soaOf(t, s, "demo.threatstop.local.")
	out := must("PUT", "/policies/demo/lists", demoToken, `{"block":["partners-bad"],"allow":["partners"]}`, http.StatusOK)
	if !strings.Contains(out, `"user_lists": {`) || !strings.Contains(out, `"partners-bad"`) || strings.Contains(out, "198.51.100.50") {
		t.Errorf("the policy after PUT lists: %s (its own entries apart from the lists')", out)
	}
	r := s.Query(t, listed, dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || r.Answer[0].(*dns.A).A.String() != "127.0.0.10" {
		t.Errorf("a list's entry: %v, want the custom answer", r)
	}
	if rc := rcode(t, s, "bad.partner.example.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("a list's name: %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, s, feed); rc != dns.RcodeNameError {
		t.Errorf("the allow list's address, listed by the feed: %s, want NXDOMAIN (allow wins)", dns.RcodeToString[rc])
	}
	if soaOf(t, s, "demo.threatstop.local.") == before || soaOf(t, s, "nobody.threatstop.local.") != nobody {
		t.Error("PUT lists: demo's serial must move, nobody's not")
	}

	// A change of the list reaches the policy; the policy's own entries and the list's stay apart.
	if out := must("POST", "/lists/partners-bad/entries", demoToken, `{"value":"198.51.100.51"}`, http.StatusCreated); !strings.Contains(out, `"demo"`) {
		t.Errorf("the change names no policy: %s", out)
	}
	if rc := rcode(t, s, "51.100.51.198.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("an entry added to the list: %s", dns.RcodeToString[rc])
	}
	must("POST", "/policies/demo/block", demoToken, `{"value":"198.51.100.50"}`, http.StatusCreated) // also own now
	must("DELETE", "/policies/demo/block/198.51.100.50", demoToken, "", http.StatusNoContent)
	if rc := rcode(t, s, listed); rc != dns.RcodeSuccess {
		t.Errorf("removing an own entry unlisted the list's: %s", dns.RcodeToString[rc])
	}
	must("DELETE", "/policies/demo/block/198.51.100.51", demoToken, "", http.StatusNotFound) // the list's, not own
	must("DELETE", "/lists/partners-bad/entries/198.51.100.51", demoToken, "", http.StatusOK)
	if rc := rcode(t, s, "51.100.51.198.demo.threatstop.local."); rc != dns.RcodeNameError {
		t.Errorf("an entry removed from the list: %s", dns.RcodeToString[rc])
	}

	// Import with per-line errors; replace with errors changes nothing.
	out = must("POST", "/lists/partners-bad/import", demoToken, "198.51.100.60\nnot an entry!\n# comment\n198.51.100.61\n", http.StatusOK)
	if !strings.Contains(out, `"added": 2`) || !strings.Contains(out, `"line": 2`) {
		t.Errorf("import: %s", out)
	}
	if rc := rcode(t, s, "61.100.51.198.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("an imported entry: %s", dns.RcodeToString[rc])
	}
	must("POST", "/lists/partners-bad/import?replace=true", demoToken, "198.51.100.62\nbad entry\n", http.StatusUnprocessableEntity)
	if rc := rcode(t, s, listed); rc != dns.RcodeSuccess {
		t.Error("a refused replace changed the list")
	}

	// Nobody else's: another customer neither sees nor takes in demo's lists.
	if out := must("GET", "/lists", otherToken, "", http.StatusOK); strings.TrimSpace(out) != "[]" {
		t.Errorf("other's lists: %s", out)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/lists/partners-bad", ""}, {"POST", "/lists/partners-bad/entries", `{"value":"192.0.2.1"}`},
		{"DELETE", "/lists/partners-bad/entries/198.51.100.50", ""}, {"POST", "/lists/partners-bad/import", "192.0.2.1\n"},
		{"DELETE", "/lists/partners-bad", ""}, {"GET", "/lists/partners-bad?customer=demo", ""},
	} {
		if code, out := call(t, c.method, base+c.path, otherToken, c.body); code != http.StatusNotFound || strings.Contains(out, "198.51.100") {
			t.Errorf("other: %s %s: %d %s", c.method, c.path, code, out)
		}
	}
	must("PUT", "/policies/other/lists", otherToken, `{"block":["partners-bad"]}`, http.StatusBadRequest)
	must("POST", "/lists", readToken, `{"name":"x","entries":[]}`, http.StatusForbidden)

	// Kept across a restart.
	s.Stop()
	s = start(t, dir, api)
	if rc := rcode(t, s, listed); rc != dns.RcodeSuccess {
		t.Errorf("after a restart: %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, s, feed); rc != dns.RcodeNameError {
		t.Errorf("the allow list after a restart: %s", dns.RcodeToString[rc])
	}

	// A list in use is not deleted; out of use, it is, and its entries go.
	must("DELETE", "/lists/partners-bad", demoToken, "", http.StatusConflict)
	must("PUT", "/policies/demo/lists", demoToken, `{"block":[],"allow":[]}`, http.StatusOK)
	must("DELETE", "/lists/partners-bad", demoToken, "", http.StatusNoContent)
	if rc := rcode(t, s, listed); rc != dns.RcodeNameError {
		t.Errorf("after the list is gone: %s", dns.RcodeToString[rc])
	}
	if out := must("GET", "/lists", opsToken, "", http.StatusOK); !strings.Contains(out, `"customer": "demo"`) || !strings.Contains(out, `"partners"`) {
		t.Errorf("an operator's lists: %s", out)
	}
}
