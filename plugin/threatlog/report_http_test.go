package threatlog

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

const reportToken = "7c0d0c4e1b9a4f0e8d1b2a3c"

// reportServer serves one instance over real HTTP: policy demo with device gw's token and an empty log.
func reportServer(t *testing.T) *httptest.Server {
	st, release, err := stores.Acquire(filepath.Join(t.TempDir(), "threatlog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release() })
	tl := &Threatlog{store: st, infected: 3, skew: 5 * time.Minute, tokens: map[string]token{reportToken: {policy: "demo", device: "gw"}}}
	srv := httptest.NewServer(httpHandler{tl})
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, auth func(*http.Request)) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth(req)
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

// Basic authentication (a browser's login to the HTML report): the user name must be the token's policy.
func TestReportBasicAuthUserIsPolicy(t *testing.T) {
	srv := reportServer(t)
	for _, c := range []struct {
		name string
		auth func(*http.Request)
		want int
	}{
		{"policy as user", func(r *http.Request) { r.SetBasicAuth("demo", reportToken) }, http.StatusOK},
		{"another user", func(r *http.Request) { r.SetBasicAuth("mail", reportToken) }, http.StatusUnauthorized},
		{"no user", func(r *http.Request) { r.SetBasicAuth("", reportToken) }, http.StatusUnauthorized},
		{"user in another case", func(r *http.Request) { r.SetBasicAuth("Demo", reportToken) }, http.StatusUnauthorized},
		{"the device as user", func(r *http.Request) { r.SetBasicAuth("gw", reportToken) }, http.StatusUnauthorized},
		{"wrong token", func(r *http.Request) { r.SetBasicAuth("demo", reportToken+"x") }, http.StatusUnauthorized},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+reportToken) }, http.StatusOK},
	} {
		for _, path := range []string{"/report", "/report.html", "/report.csv"} {
			if code, body := get(t, srv.URL+path+"?from=2026-11-01&to=2026-11-02", c.auth); code != c.want {
				t.Errorf("%s %s: %d %s, want %d", c.name, path, code, body, c.want)
			}
		}
	}
}

// A report with nothing in it has [] where a list is empty, not null.
func TestReportEmptyListsAreArrays(t *testing.T) {
	srv := reportServer(t)
	code, body := get(t, srv.URL+"/report.json?from=2026-11-01&to=2026-11-02", func(r *http.Request) { r.SetBasicAuth("demo", reportToken) })
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"likely_infected":[]`, `"top_remotes":[]`, `"lists":[]`, `"devices":[]`} {
		if !bytes.Contains(compact.Bytes(), []byte(want)) {
			t.Errorf("the report has no %s:\n%s", want, body)
		}
	}
}
