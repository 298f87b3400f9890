package threatadmin_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/threatstop/threatstop/internal/coretest"
)

// TestTLS: with tls CERT KEY the API is HTTPS only, with the certificate of the files; a renewed pair is
// served on the next connection, without a restart.
func TestTLS(t *testing.T) {
	dir, api := t.TempDir(), freeAddr(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1 := coretest.WriteCert(t, certFile, keyFile, 1)
	start(t, dir, api, "tls "+certFile+" "+keyFile)
	client := func(c *x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	}
	get := func(hc *http.Client, url string) (int, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+demoToken)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(client(c1), "https://"+api+"/api/v1/policies"); err != nil || code != http.StatusOK {
		t.Fatalf("HTTPS: %d %v", code, err)
	}
	if code, err := get(http.DefaultClient, "http://"+api+"/api/v1/policies"); err == nil && code == http.StatusOK {
		t.Error("plain HTTP answered on a TLS listener")
	}
	// The portal's cookies are Secure on a TLS listener: the sign-in form's and the session's.
	b := newBrowser(t, api)
	b.base = "https://" + api
	b.c.Transport = client(c1).Transport
	_, _, resp := b.do("GET", "/ui/login", nil)
	code, _, resp2 := b.do("POST", "/ui/login", url.Values{"csrf": {b.csrf}, "user": {"alice"}, "password": {password}})
	if code != http.StatusSeeOther {
		t.Fatalf("sign-in over HTTPS: %d", code)
	}
	for _, c := range append(resp.Cookies(), resp2.Cookies()...) {
		if c.MaxAge >= 0 && (!c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode) {
			t.Errorf("cookie %s over HTTPS: Secure %v, HttpOnly %v, SameSite %v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
		}
	}
	// Renewed: the old certificate no longer verifies, the new one does.
	time.Sleep(10 * time.Millisecond) // a modification time of its own
	c2 := coretest.WriteCert(t, certFile, keyFile, 2)
	if code, err := get(client(c2), "https://"+api+"/api/v1/policies"); err != nil || code != http.StatusOK {
		t.Errorf("HTTPS after the renewal: %d %v", code, err)
	}
	if _, err := get(client(c1), "https://"+api+"/api/v1/policies"); err == nil {
		t.Error("the old certificate is still served after the renewal")
	}
}
