package threatadmin_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// browser is an HTTP client with its cookies, as a browser signed in to the portal.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string // the last page's
}

func newBrowser(t *testing.T, api string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + api, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the status, the body and the response, remembering the page's CSRF
// token.
func (b *browser) do(method, path string, form url.Values) (int, string, *http.Response) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(out); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(out), resp
}

func (b *browser) login(user, pw string) int {
	b.t.Helper()
	b.do("GET", "/ui/login", nil)
	code, _, _ := b.do("POST", "/ui/login", url.Values{"csrf": {b.csrf}, "user": {user}, "password": {pw}, "next": {"/ui/policies"}})
	return code
}

// TestPortalSecurity: sign-in with the bcrypt-hashed password, the session cookie's attributes, CSRF
// tokens on every form, the rate limit on failed sign-ins, read-only users, logout, no open redirect, and
// one customer's session sees nothing of another's policies.
func TestPortalSecurity(t *testing.T) {
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)

	b := newBrowser(t, api)
	if code, _, resp := b.do("GET", "/ui/policies", nil); code != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login") {
		t.Fatalf("a page without a session: %d %s", code, resp.Header.Get("Location"))
	}
	// The sign-in form's own CSRF token is needed.
	if code, _, _ := b.do("POST", "/ui/login", url.Values{"user": {"alice"}, "password": {password}}); code != http.StatusForbidden {
		t.Errorf("a sign-in without the form's token: %d, want 403", code)
	}
	if code := b.login("alice", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d, want 401", code)
	}
	b.do("GET", "/ui/login", nil)
	code, _, resp := b.do("POST", "/ui/login", url.Values{"csrf": {b.csrf}, "user": {"alice"}, "password": {password}, "next": {"//evil.example/"}})
	if code != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/policies" {
		t.Fatalf("sign-in with next=//evil.example/: %d to %q, want /ui/policies", code, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "threatadmin_session" && c.MaxAge > 0 {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/ui/" || cookie.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path /ui/, not Secure on plain HTTP", cookie)
	}
	code, body, resp := b.do("GET", "/ui/policies", nil)
	if code != http.StatusOK || !strings.Contains(body, `href="/ui/policies/demo"`) || strings.Contains(body, "/ui/policies/other") {
		t.Fatalf("alice's policies: %d %s", code, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script") {
		t.Errorf("CSP %q", csp)
	}

	// A form without the session's CSRF token changes nothing.
	const name = "7.100.51.198.demo.threatstop.local."
	if code, _, _ := b.do("POST", "/ui/policies/demo/entries", url.Values{"list": {"block"}, "value": {"198.51.100.7"}}); code != http.StatusForbidden {
		t.Errorf("a form without the CSRF token: %d, want 403", code)
	}
	if code, _, _ := b.do("POST", "/ui/policies/demo/entries", url.Values{"csrf": {"forged"}, "list": {"block"}, "value": {"198.51.100.7"}}); code != http.StatusForbidden {
		t.Errorf("a form with a forged CSRF token: %d, want 403", code)
	}
	if rc := rcode(t, s, name); rc != dns.RcodeNameError {
		t.Fatalf("after refused forms the entry is listed: %s", dns.RcodeToString[rc])
	}
	b.do("GET", "/ui/policies/demo", nil)
	if code, _, _ := b.do("POST", "/ui/policies/demo/entries", url.Values{"csrf": {b.csrf}, "list": {"block"}, "value": {"198.51.100.7"}}); code != http.StatusSeeOther {
		t.Errorf("adding an entry: %d", code)
	}
	if rc := rcode(t, s, name); rc != dns.RcodeSuccess {
		t.Errorf("after the form: %s, want listed", dns.RcodeToString[rc])
	}

	if code, body := call(t, "POST", "http://"+api+"/api/v1/lists", demoToken, `{"name":"partners-bad","entries":["198.51.100.50"]}`); code != http.StatusCreated {
		t.Fatalf("demo's list: %d %s", code, body)
	}
	// Another customer's session: 404 for demo's pages and forms, nothing of them shown.
	o := newBrowser(t, api)
	if code := o.login("olga", password); code != http.StatusSeeOther {
		t.Fatalf("olga signs in: %d", code)
	}
	o.do("GET", "/ui/policies", nil)
	for _, c := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/ui/policies/demo", nil}, {"GET", "/ui/policies/demo/devices", nil}, {"GET", "/ui/policies/demo/report", nil},
		{"POST", "/ui/policies/demo/entries", url.Values{"csrf": {o.csrf}, "list": {"block"}, "value": {"192.0.2.1"}}},
		{"POST", "/ui/policies/demo/selection", url.Values{"csrf": {o.csrf}, "list": {"drop"}, "apply": {"1"}}},
		{"POST", "/ui/policies/demo/devices", url.Values{"csrf": {o.csrf}, "name": {"x"}, "op": {"create"}}},
		{"GET", "/ui/check?ioc=198.51.100.7&policy=demo", nil},
		{"GET", "/ui/customers", nil}, {"GET", "/ui/feeds", nil},
		{"GET", "/ui/lists/partners-bad", nil}, {"GET", "/ui/lists/partners-bad?customer=demo", nil},
		{"POST", "/ui/lists/partners-bad", url.Values{"csrf": {o.csrf}, "op": {"add"}, "value": {"192.0.2.1"}, "customer": {"demo"}}},
		{"POST", "/ui/policies/demo/lists", url.Values{"csrf": {o.csrf}, "block": {"partners-bad"}}},
	} {
		code, body, _ := o.do(c.method, c.path, c.form)
		if (code != http.StatusNotFound && code != http.StatusForbidden && !strings.Contains(body, "No such policy")) || strings.Contains(body, "198.51.100.7</code>") || strings.Contains(body, "evil.example") || strings.Contains(body, "198.51.100.50") {
			t.Errorf("olga: %s %s: %d\n%s", c.method, c.path, code, body)
		}
	}
	if code, body, _ := o.do("GET", "/ui/audit", nil); code != http.StatusOK || strings.Contains(body, "198.51.100.7") {
		t.Errorf("olga's audit log shows demo's change: %d", code)
	}
	if code, body, _ := o.do("GET", "/ui/lists", nil); code != http.StatusOK || strings.Contains(body, "partners-bad") {
		t.Errorf("olga's lists show demo's: %d", code)
	}

	// A read-only user reads and changes nothing.
	r := newBrowser(t, api)
	r.login("carol", password)
	code, body, _ = r.do("GET", "/ui/policies/demo", nil)
	if code != http.StatusOK || !strings.Contains(body, "198.51.100.7") || strings.Contains(body, `id="add-block"`) {
		t.Errorf("carol reads demo: %d", code)
	}
	if code, _, _ := r.do("POST", "/ui/policies/demo/entries", url.Values{"csrf": {r.csrf}, "list": {"block"}, "value": {"192.0.2.1"}}); code != http.StatusForbidden {
		t.Errorf("carol adds an entry: %d, want 403", code)
	}

	// Sign-ins are limited: after 5 failures for a user, even the right password is refused.
	l := newBrowser(t, api)
	for range 5 {
		l.login("olga", "wrong")
	}
	if code := l.login("olga", password); code != http.StatusTooManyRequests {
		t.Errorf("after 5 failures: %d, want 429", code)
	}

	// Signing out ends the session on the server, not only in the browser.
	b.do("GET", "/ui/policies", nil)
	sid := ""
	for _, c := range b.c.Jar.Cookies(&url.URL{Scheme: "http", Host: api, Path: "/ui/"}) {
		if c.Name == "threatadmin_session" {
			sid = c.Value
		}
	}
	b.do("POST", "/ui/logout", url.Values{"csrf": {b.csrf}})
	replay := newBrowser(t, api)
	replay.c.Jar.SetCookies(&url.URL{Scheme: "http", Host: api, Path: "/ui/"}, []*http.Cookie{{Name: "threatadmin_session", Value: sid, Path: "/ui/"}})
	if code, _, _ := replay.do("GET", "/ui/policies", nil); code != http.StatusSeeOther {
		t.Errorf("the session after sign-out: %d, want a redirect to sign in", code)
	}
}
