package threatadmin_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestStoredUsersTokens: a customer makes its own API tokens (shown once, kept hashed, with a scope) and
// portal users (bcrypt); both work at once, are kept across a restart, end when removed, and are no other
// customer's.
func TestStoredUsersTokens(t *testing.T) {
	api, dir := freeAddr(t), t.TempDir()
	s := start(t, dir, api)
	base := "http://" + api + "/api/v1"
	var tok struct {
		ID, Token, Scope string
	}
	code, body := call(t, "POST", base+"/tokens", demoToken, `{"label":"cron","scope":"read"}`)
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &tok) != nil || !strings.HasPrefix(tok.Token, "tsa_") || len(tok.ID) != 16 || tok.Scope != "read" {
		t.Fatalf("POST tokens: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/policies", tok.Token, ""); code != http.StatusOK || !strings.Contains(body, `"name": "demo"`) || strings.Contains(body, `"other"`) {
		t.Errorf("the new read token lists: %d %s", code, body)
	}
	if code, _ := call(t, "POST", base+"/policies/demo/block", tok.Token, `{"value":"192.0.2.5"}`); code != http.StatusForbidden {
		t.Errorf("the read token writes: %d, want 403", code)
	}
	if code, body := call(t, "GET", base+"/tokens", demoToken, ""); code != http.StatusOK || !strings.Contains(body, tok.ID) || strings.Contains(body, tok.Token) {
		t.Errorf("GET tokens: %d %s", code, body)
	}
	if code, body := call(t, "GET", base+"/tokens", otherToken, ""); code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("other's tokens: %d %s", code, body)
	}
	if code, _ := call(t, "DELETE", base+"/tokens/"+tok.ID, otherToken, ""); code != http.StatusNotFound {
		t.Errorf("other revokes demo's token: %d, want 404", code)
	}

	// A portal user made through the API signs in at once.
	for body, want := range map[string]int{
		`{"name":"dave","password":"short"}`:                                http.StatusBadRequest,
		`{"name":"alice","password":"a long enough password"}`:              http.StatusConflict, // the Corefile's
		`{"name":"Dave!","password":"a long enough password"}`:              http.StatusBadRequest,
		`{"name":"dave","password":"a long enough password","scope":"all"}`: http.StatusBadRequest,
	} {
		if code, out := call(t, "POST", base+"/users", demoToken, body); code != want {
			t.Errorf("POST users %s: %d %s, want %d", body, code, out, want)
		}
	}
	if code, body := call(t, "POST", base+"/users", demoToken, `{"name":"dave","password":"a long enough password"}`); code != http.StatusCreated || strings.Contains(body, "$2") {
		t.Fatalf("POST users: %d %s", code, body)
	}
	b := newBrowser(t, api)
	if code := b.login("dave", "a long enough password"); code != http.StatusSeeOther {
		t.Fatalf("dave signs in: %d", code)
	}
	if code, page, _ := b.do("GET", "/ui/policies", nil); code != http.StatusOK || !strings.Contains(page, "/ui/policies/demo") {
		t.Errorf("dave's policies: %d", code)
	}
	if code, body := call(t, "GET", base+"/users", otherToken, ""); code != http.StatusOK || strings.Contains(body, "dave") {
		t.Errorf("other's users: %d %s", code, body)
	}
	if code, _ := call(t, "DELETE", base+"/users/dave", otherToken, ""); code != http.StatusNotFound {
		t.Errorf("other removes dave: %d, want 404", code)
	}

	// Kept across a restart; removed, they end.
	s.Stop()
	start(t, dir, api)
	if code, _ := call(t, "GET", base+"/policies", tok.Token, ""); code != http.StatusOK {
		t.Errorf("the token after a restart: %d", code)
	}
	b = newBrowser(t, api)
	if code := b.login("dave", "a long enough password"); code != http.StatusSeeOther {
		t.Errorf("dave after a restart: %d", code)
	}
	if code, _ := call(t, "DELETE", base+"/tokens/"+tok.ID, demoToken, ""); code != http.StatusNoContent {
		t.Errorf("revoke: %d", code)
	}
	if code, _ := call(t, "GET", base+"/policies", tok.Token, ""); code != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d, want 401", code)
	}
	if code, _ := call(t, "DELETE", base+"/users/dave", demoToken, ""); code != http.StatusNoContent {
		t.Errorf("remove dave: %d", code)
	}
	if code, _, resp := b.do("GET", "/ui/policies", nil); code != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login") {
		t.Errorf("dave's session after his removal: %d", code)
	}
	if code, body := call(t, "GET", base+"/audit", demoToken, ""); !strings.Contains(body, `"user-create"`) || !strings.Contains(body, `"token-revoke"`) {
		t.Errorf("audit: %d %s", code, body)
	}
}
