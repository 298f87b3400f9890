package threatadmin_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/threatadmin"
)

type newDevice struct {
	Name        string            `json:"name"`
	Policy      string            `json:"policy"`
	Key         string            `json:"key"`
	Algorithm   string            `json:"algorithm"`
	Secret      string            `json:"secret"`
	UploadToken string            `json:"upload_token"`
	Configs     map[string]string `json:"configs"`
}

// axfr transfers zone from s signed with key and secret ("" for unsigned) and returns the rcode of the
// first answer, or -1 when no answer came.
func axfr(t *testing.T, s *coretest.Server, zone, key, secret string) int {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{key: secret}
	}
	ch, err := tr.In(m, s.TCP)
	if err != nil {
		return -1
	}
	rc := -1
	for env := range ch {
		if env.Error != nil {
			if rc == -1 {
				if strings.Contains(env.Error.Error(), "REFUSED") || strings.Contains(env.Error.Error(), "NOTAUTH") {
					return dns.RcodeRefused
				}
				return -1
			}
			t.Fatalf("AXFR of %s with %q: %v", zone, key, env.Error)
		}
		if rc == -1 {
			rc = dns.RcodeSuccess
		}
	}
	return rc
}

func makeDevice(t *testing.T, api, policy, token, name string) newDevice {
	t.Helper()
	code, body := call(t, "POST", "http://"+api+"/api/v1/policies/"+policy+"/devices", token, `{"name":"`+name+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create device %s of %s: %d %s", name, policy, code, body)
	}
	var d newDevice
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDevices: a device made through the API gets a TSIG key that transfers its policy's zone at once
// (and no other policy's), an upload token threatlog takes, snippets with both shown once, and the
// serials do not move. Rotating replaces both; revoking ends both; a restart keeps them.
func TestDevices(t *testing.T) {
	api, dir := freeAddr(t), t.TempDir()
	s := start(t, dir, api)
	base := "http://" + api + "/api/v1/policies/other/devices"
	const zone = "other.rpz.threatstop.local."
	serial := soaOf(t, s, "other.threatstop.local.")
	if rc := axfr(t, s, zone, "", ""); rc == dns.RcodeSuccess {
		t.Fatal("other's zone transfers unsigned before any device: the test shows nothing")
	}

	d := makeDevice(t, api, "other", otherToken, "fw1")
	s.Inst = threatadmin.Restarted(s.Inst)
	if d.Key != "fw1.other.device." || d.Algorithm != "hmac-sha256" || len(d.Secret) != 44 || !strings.HasPrefix(d.UploadToken, "tsd_") {
		t.Errorf("device: %+v", d)
	}
	for _, kind := range []string{"bind", "powerdns", "threatstop-sync", "nftables"} {
		if !strings.Contains(d.Configs[kind], d.Secret) || !strings.Contains(d.Configs[kind], d.Key[:len(d.Key)-1]) {
			t.Errorf("the %s snippet lacks the key or its secret:\n%s", kind, d.Configs[kind])
		}
	}
	if rc := axfr(t, s, zone, d.Key, d.Secret); rc != dns.RcodeSuccess {
		t.Fatalf("AXFR signed with the new device's key: rcode %d", rc)
	}
	if rc := axfr(t, s, "nobody.rpz.threatstop.local.", d.Key, d.Secret); rc == dns.RcodeSuccess {
		t.Error("the device's key transfers another policy's zone")
	}
	if got := soaOf(t, s, "other.threatstop.local."); got != serial {
		t.Errorf("serial %d -> %d: making a device is no change of content", serial, got)
	}

	// The upload token, from the upload snippet.
	up := regexp.MustCompile(`http://\S+/upload`).FindString(d.Configs["upload"])
	if up == "" || !strings.Contains(d.Configs["upload"], d.UploadToken) {
		t.Fatalf("upload snippet: %q", d.Configs["upload"])
	}
	upload := func(tok string) int {
		req, _ := http.NewRequest("POST", up, strings.NewReader("Nov 24 10:00:00 fw kernel: [1.0] DROP IN=eth0 OUT= SRC=5.188.10.7 DST=192.0.2.10 PROTO=TCP SPT=1234 DPT=22\n"))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := upload(d.UploadToken); code != http.StatusOK {
		t.Errorf("upload with the device's token: %d", code)
	}

	// Listed without secrets; the later snippets hold the placeholder.
	code, body := call(t, "GET", base, otherToken, "")
	if code != http.StatusOK || !strings.Contains(body, `"name": "fw1"`) || strings.Contains(body, d.Secret) || strings.Contains(body, "tsd_") {
		t.Errorf("GET devices: %d %s", code, body)
	}
	code, body = call(t, "GET", base+"/fw1/config/bind", otherToken, "")
	if code != http.StatusOK || strings.Contains(body, d.Secret) || !strings.Contains(body, "SECRET-SHOWN-WHEN-THE-DEVICE-WAS-MADE") {
		t.Errorf("GET config/bind: %d %s", code, body)
	}
	// Another customer sees and changes nothing of it.
	for _, c := range []struct{ method, path, body string }{
		{"GET", base, ""}, {"POST", base, `{"name":"x"}`}, {"GET", base + "/fw1/config/bind", ""},
		{"POST", base + "/fw1/rotate", ""}, {"DELETE", base + "/fw1", ""},
	} {
		if code, body := call(t, c.method, c.path, demoToken, c.body); code != http.StatusNotFound || strings.Contains(body, "fw1") {
			t.Errorf("customer demo: %s %s: %d %s", c.method, c.path, code, body)
		}
	}
	if code, _ := call(t, "POST", base, otherToken, `{"name":"fw1"}`); code != http.StatusConflict {
		t.Errorf("the same device again: %d, want 409", code)
	}
	if code, _ := call(t, "POST", base, otherToken, `{"name":"FW 1"}`); code != http.StatusBadRequest {
		t.Errorf("a bad name: %d, want 400", code)
	}

	// Rotate: the new key and token work, the old ones no longer.
	code, body = call(t, "POST", base+"/fw1/rotate", otherToken, "")
	s.Inst = threatadmin.Restarted(s.Inst)
	var r newDevice
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Secret == d.Secret || r.UploadToken == d.UploadToken {
		t.Fatalf("rotate: %d %s", code, body)
	}
	if rc := axfr(t, s, zone, d.Key, d.Secret); rc == dns.RcodeSuccess {
		t.Error("the old secret transfers after the rotation")
	}
	if rc := axfr(t, s, zone, r.Key, r.Secret); rc != dns.RcodeSuccess {
		t.Errorf("the rotated secret: rcode %d", rc)
	}
	if upload(d.UploadToken) != http.StatusUnauthorized || upload(r.UploadToken) != http.StatusOK {
		t.Error("after the rotation the old token uploads, or the new one does not")
	}

	// A restart keeps the device.
	s.Stop()
	s = start(t, dir, api)
	if rc := axfr(t, s, zone, r.Key, r.Secret); rc != dns.RcodeSuccess {
		t.Errorf("after a restart: rcode %d", rc)
	}
	// The Corefile of this start has threatlog on another address: the upload snippet says which.
	_, snip := call(t, "GET", base+"/fw1/config/upload", otherToken, "")
	if up = regexp.MustCompile(`http://\S+/upload`).FindString(snip); up == "" {
		t.Fatalf("config/upload: %q", snip)
	}
	if upload(r.UploadToken) != http.StatusOK {
		t.Error("after a restart the token does not upload")
	}

	// Revoke.
	if code, body := call(t, "DELETE", base+"/fw1", otherToken, ""); code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", code, body)
	}
	s.Inst = threatadmin.Restarted(s.Inst)
	if rc := axfr(t, s, zone, r.Key, r.Secret); rc == dns.RcodeSuccess {
		t.Error("a revoked device's key transfers")
	}
	if upload(r.UploadToken) != http.StatusUnauthorized {
		t.Error("a revoked device's token uploads")
	}
	code, body = call(t, "GET", "http://"+api+"/api/v1/audit", otherToken, "")
	for _, a := range []string{"device-create", "device-rotate", "device-revoke"} {
		if code != http.StatusOK || !strings.Contains(body, `"action": "`+a+`"`) {
			t.Errorf("audit lacks %s: %d %s", a, code, body)
		}
	}
}
