package threatlog_test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/internal/coretest"
)

const edlToken = "edl-token-demo-0123456789"

// curl runs curl with args against e's listener and returns its stdout with the response headers first
// (-D -); the test fails when curl itself fails.
func (e *env) curl(args ...string) (code string, headers http.Header, body string) {
	e.t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		e.t.Fatal("curl is not installed (.ci/run installs it)")
	}
	out, err := exec.Command("curl", append([]string{"-sS", "-D", "-"}, args...)...).Output()
	if err != nil {
		e.t.Fatalf("curl %v: %v", args, err)
	}
	head, body, _ := strings.Cut(string(out), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	headers = http.Header{}
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ":"); ok {
			headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return strings.Fields(lines[0])[1], headers, body
}

func lines(body string) []string {
	var out []string
	for sc := bufio.NewScanner(strings.NewReader(body)); sc.Scan(); {
		out = append(out, sc.Text())
	}
	return out
}

// TestEDL: the external dynamic lists of policy demo, fetched by curl as a firewall does: with HTTP
// Basic (policy and device token) or a Bearer token; the IPv4 list holds the feeds' prefixes and the own
// block entries as CIDR, single addresses bare; a conditional GET with the ETag curl saved answers 304
// and no body, with another ETag the list; gzip when asked; ?max and the device's edl_max keep that many
// lines, own entries (scored highest) first; the domain list writes a wildcard as the name and *.name;
// the MikroTik script replaces the address list; other customers' tokens and no credentials get nothing.
func TestEDL(t *testing.T) {
	e := setup(t, `        token demo fw `+edlToken+`
        token demo small `+edlToken+`-small
        edl_max demo small 3`)
	base := "http://" + e.addr + "/edl/demo/"
	basic := []string{"-u", "demo:" + edlToken}

	code, h, body := e.curl(append(basic, base+"ipv4.txt")...)
	v4 := lines(body)
	if code != "200" || h.Get("Content-Type") != "text/plain; charset=utf-8" || !regexp.MustCompile(`^"\d+"$`).MatchString(h.Get("ETag")) {
		t.Fatalf("ipv4.txt: %s %v", code, h)
	}
	for _, want := range []string{"1.10.16.0/20", "203.0.113.0/24"} {
		if !slices.Contains(v4, want) {
			t.Errorf("ipv4.txt lacks %s (%d lines)", want, len(v4))
		}
	}
	for _, l := range v4 {
		if strings.HasSuffix(l, "/32") || strings.Contains(l, ":") || strings.Contains(l, " ") {
			t.Fatalf("ipv4.txt line %q: not one IPv4 address or CIDR prefix", l)
		}
	}
	if h.Get("X-Threatstop-Serial") != strings.Trim(h.Get("ETag"), `"`) {
		t.Errorf("ETag %s is not the serial %s", h.Get("ETag"), h.Get("X-Threatstop-Serial"))
	}

	// curl's own conditional GET: --etag-save, then --etag-compare.
	etags := filepath.Join(e.dir, "etag")
	e.curl(append(basic, "--etag-save", etags, base+"ipv4.txt")...)
	if code, _, body := e.curl(append(basic, "--etag-compare", etags, base+"ipv4.txt")...); code != "304" || body != "" {
		t.Errorf("conditional GET with the saved ETag: %s, %d bytes", code, len(body))
	}
	os.WriteFile(etags, []byte(`"12345"`+"\n"), 0o600)
	if code, _, body := e.curl(append(basic, "--etag-compare", etags, base+"ipv4.txt")...); code != "200" || len(lines(body)) != len(v4) {
		t.Errorf("conditional GET with another ETag: %s, %d lines", code, len(lines(body)))
	}

	// gzip, asked for and decoded by curl: the same list, under a tag of its own; the gzip tag does not
	// revalidate the plain list.
	code, gzh, body := e.curl(append(basic, "--compressed", base+"ipv4.txt")...)
	if code != "200" || gzh.Get("Content-Encoding") != "gzip" || !slices.Equal(lines(body), v4) || gzh.Get("ETag") == h.Get("ETag") {
		t.Errorf("gzip: %s %q, %d lines (want %d), ETag %s", code, gzh.Get("Content-Encoding"), len(lines(body)), len(v4), gzh.Get("ETag"))
	}
	if code, _, _ := e.curl(append(basic, "-H", "If-None-Match: "+gzh.Get("ETag"), base+"ipv4.txt")...); code != "200" {
		t.Errorf("the plain list with the gzip body's tag: %s, want 200", code)
	}
	// A capped list's tag holds a digest of it too.
	if _, ch, _ := e.curl(append(basic, base+"ipv4.txt?max=2")...); !regexp.MustCompile(`^"\d+-[0-9a-f]{16}"$`).MatchString(ch.Get("ETag")) {
		t.Errorf("capped list's ETag %s", ch.Get("ETag"))
	}

	// Bearer works as Basic does; IPv6 holds the DROPv6 prefixes.
	if code, _, body := e.curl("-H", "Authorization: Bearer "+edlToken, base+"ipv6.txt"); code != "200" || len(lines(body)) == 0 || !strings.Contains(body, ":") {
		t.Errorf("ipv6.txt by Bearer: %s %q", code, body[:min(len(body), 200)])
	}

	// ?max=2: own 203.0.113.0/24 first (own entries score highest), then one more.
	if code, _, body := e.curl(append(basic, base+"ipv4.txt?max=2")...); code != "200" || len(lines(body)) != 2 || !slices.Contains(lines(body), "203.0.113.0/24") {
		t.Errorf("max=2: %s %q", code, lines(body))
	}
	// The device's edl_max 3, and a ?max above it does not raise it.
	if code, _, body := e.curl("-u", "demo:"+edlToken+"-small", base+"ipv4.txt?max=100"); code != "200" || len(lines(body)) != 3 {
		t.Errorf("edl_max 3 with max=100: %s, %d lines", code, len(lines(body)))
	}
	if code, _, _ := e.curl(append(basic, base+"ipv4.txt?max=0")...); code != "400" {
		t.Errorf("max=0: %s, want 400", code)
	}

	// Domains: cobalt's names, hagezi-fake's wildcards as name and *.name, the own evil.example.
	_, _, body = e.curl(append(basic, base+"domains.txt")...)
	dom := lines(body)
	if !slices.Contains(dom, "evil.example") {
		t.Errorf("domains.txt lacks the own evil.example (%d lines)", len(dom))
	}
	wild := 0
	for i, l := range dom {
		if name, ok := strings.CutPrefix(l, "*."); ok {
			wild++
			if i == 0 || dom[i-1] != name {
				t.Fatalf("domains.txt: %s not just after its name (%q)", l, dom[max(0, i-1)])
			}
		}
	}
	if wild == 0 || len(dom) < 100 {
		t.Errorf("domains.txt: %d lines, %d wildcards", len(dom), wild)
	}

	// MikroTik: a script that replaces the list.
	_, _, body = e.curl(append(basic, base+"mikrotik.rsc?list=tsblock")...)
	for _, want := range []string{`/ip firewall address-list remove [find where list="tsblock"]`, "add list=tsblock address=1.10.16.0/20", "/ipv6 firewall address-list"} {
		if !strings.Contains(body, want) {
			t.Errorf("mikrotik.rsc lacks %q", want)
		}
	}
	// pfSense: both families in one list.
	_, _, body = e.curl(append(basic, base+"pfsense.txt")...)
	if pf := lines(body); !slices.Contains(pf, "1.10.16.0/20") || !strings.Contains(body, ":") {
		t.Errorf("pfsense.txt: %d lines, lacks IPv4 or IPv6", len(pf))
	}

	// Other customers' tokens, no credentials, unknown files.
	if code, _, _ := e.curl("-u", "demo:"+otherToken, base+"ipv4.txt"); code != "401" {
		t.Errorf("other's token as user demo: %s, want 401", code)
	}
	if code, _, _ := e.curl("-u", "other:"+otherToken, base+"ipv4.txt"); code != "404" {
		t.Errorf("other's own credentials for demo's list: %s, want 404", code)
	}
	if code, _, _ := e.curl("-H", "Authorization: Bearer "+otherToken, base+"ipv4.txt"); code != "404" {
		t.Errorf("other's token for demo's list: %s, want 404", code)
	}
	if code, _, _ := e.curl(base + "ipv4.txt"); code != "401" {
		t.Errorf("no credentials: %s, want 401", code)
	}
	if code, _, _ := e.curl(append(basic, base+"passwd")...); code != "404" {
		t.Errorf("unknown file: %s, want 404", code)
	}
}

// TestEDLOverTLS: with tls CERT KEY the listener is HTTPS, and curl, trusting the certificate, fetches
// the list as a firewall that sends its credentials only over TLS does.
func TestEDLOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	coretest.WriteCert(t, cert, key, 1)
	e := setup(t, "        token demo fw "+edlToken+"\n        tls "+cert+" "+key)
	code, _, body := e.curl("--cacert", cert, "-u", "demo:"+edlToken, "https://"+e.addr+"/edl/demo/ipv4.txt")
	if code != "200" || !slices.Contains(lines(body), "1.10.16.0/20") {
		t.Errorf("over HTTPS: %s, %d lines", code, len(lines(body)))
	}
	if out, _ := exec.Command("curl", "-sS", "-u", "demo:"+edlToken, "http://"+e.addr+"/edl/demo/ipv4.txt").CombinedOutput(); strings.Contains(string(out), "1.10.16.0/20") {
		t.Error("plain HTTP answered with the list on the TLS listener")
	}
}
