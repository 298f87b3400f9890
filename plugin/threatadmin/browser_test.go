package threatadmin_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/threatadmin"
)

// chromium is the browser the portal test drives: $THREATSTOP_CHROMIUM, or Debian's chromium, which
// .ci/run installs.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("THREATSTOP_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("THREATSTOP_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium: .ci/run installs Debian's chromium for this test")
	}
	t.Skip("no chromium (Debian's package chromium); set THREATSTOP_CHROMIUM")
	return ""
}

// screenshots is where the portal test leaves a screenshot of each page, for review: test/screenshots.
func screenshots(t *testing.T) string {
	dir := filepath.Join("..", "..", "test", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPortalBrowser drives the portal in headless Chromium on a phone-sized screen: sign in, add a block
// entry (the DNS answer changes), preview a change of feeds, make a device and read its snippet (its
// key then transfers the zone, its token uploads a log), read the report with the date pickers and the
// device filter, follow a remote to Check IoC; an operator reads the feeds. Each page is left as a
// screenshot under test/screenshots, and none is wider than the screen.
func TestPortalBrowser(t *testing.T) {
	exe := chromium(t)
	api := freeAddr(t)
	s := start(t, t.TempDir(), api)
	shots := screenshots(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(390, 844))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	base := "http://" + api
	b := newTab(t, actx, 390, 844, shots)

	// Sign in.
	b.do("sign in", chromedp.Navigate(base+"/ui/policies/demo"), chromedp.WaitVisible(chromedp.ID("login")))
	b.shot("login")
	b.do("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("add-block"))) // back where the sign-in started
	if title := get(b, chromedp.Title()); !strings.HasPrefix(title, "Policy demo") {
		t.Errorf("after sign-in: title %q", title)
	}
	b.do("policies", chromedp.Navigate(base+"/ui/policies"), chromedp.WaitVisible(chromedp.CSS("table")))
	b.shot("policies")

	// Add a block entry: the DNS answer changes.
	const name = "7.100.51.198.demo.threatstop.local."
	if rc := rcode(t, s, name); rc != dns.RcodeNameError {
		t.Fatalf("before: %s", dns.RcodeToString[rc])
	}
	b.do("add block entry", chromedp.Navigate(base+"/ui/policies/demo"), chromedp.WaitVisible(chromedp.ID("add-block")),
		chromedp.SendKeys(chromedp.CSS(`#add-block input[name=value]`), "198.51.100.7"),
		chromedp.Submit(chromedp.ID("add-block")),
		chromedp.WaitVisible(chromedp.CSS("p.msg")))
	msg, entries := get(b, chromedp.Text(chromedp.CSS("p.msg"))), get(b, chromedp.Text(chromedp.ID("block-entries")))
	b.shot("policy")
	if !strings.Contains(msg, "Added 198.51.100.7 to the block list") || !strings.Contains(entries, "198.51.100.7") {
		t.Errorf("after adding: message %q, entries %q", msg, entries)
	}
	if r := s.Query(t, name, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.10" {
		t.Errorf("after the portal's add: %v, want the custom answer", r)
	}

	// Preview a change of feeds: dropping feed drop removes its entry.
	b.do("preview", chromedp.Click(chromedp.CSS(`#selection input[value=drop]`)),
		chromedp.Click(chromedp.CSS(`#selection button[name=preview]`)),
		chromedp.WaitVisible(chromedp.ID("preview")))
	preview := get(b, chromedp.Text(chromedp.ID("preview")))
	b.shot("policy-preview")
	if !strings.Contains(preview, "− drop (spam): 1 entries") {
		t.Errorf("preview: %q", preview)
	}
	if rc := rcode(t, s, "9.10.188.5.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Error("a preview changed the policy")
	}

	// A list of the customer's own, taken in by the policy.
	b.do("new list", chromedp.Navigate(base+"/ui/lists"), chromedp.WaitVisible(chromedp.ID("new-list")),
		chromedp.SendKeys(chromedp.CSS(`#new-list input[name=name]`), "partners-bad"),
		chromedp.SendKeys(chromedp.CSS(`#new-list textarea`), "198.51.100.50\nbad.partner.example"),
		chromedp.Submit(chromedp.ID("new-list")),
		chromedp.WaitVisible(chromedp.ID("list-entries")))
	if list := get(b, chromedp.Text(chromedp.ID("list-entries"))); !strings.Contains(list, "198.51.100.50") || !strings.Contains(list, "bad.partner.example") {
		t.Errorf("the new list's entries: %q", list)
	}
	b.shot("list")
	b.do("use list", chromedp.Navigate(base+"/ui/policies/demo"), chromedp.WaitVisible(chromedp.ID("uses")),
		chromedp.Click(chromedp.CSS(`#uses input[name=block][value=partners-bad]`)),
		chromedp.Submit(chromedp.ID("uses")),
		chromedp.WaitVisible(chromedp.CSS("p.msg")))
	if rc := rcode(t, s, "50.100.51.198.demo.threatstop.local."); rc != dns.RcodeSuccess {
		t.Errorf("the list's entry after taking it in: %s", dns.RcodeToString[rc])
	}
	b.do("lists", chromedp.Navigate(base+"/ui/lists"), chromedp.WaitVisible(chromedp.ID("lists")))
	if rows := get(b, chromedp.Text(chromedp.ID("lists"))); !strings.Contains(rows, "partners-bad") || !strings.Contains(rows, "demo") {
		t.Errorf("lists page: %q", rows)
	}
	b.shot("lists")

	// Make a device and read its snippet.
	b.do("device", chromedp.Navigate(base+"/ui/policies/demo/devices"), chromedp.WaitVisible(chromedp.ID("new-device")),
		chromedp.SendKeys(chromedp.CSS(`#new-device input[name=name]`), "fw1"),
		chromedp.Submit(chromedp.ID("new-device")),
		chromedp.WaitVisible(chromedp.ID("made")))
	secret, token := get(b, chromedp.Text(chromedp.ID("secret"))), get(b, chromedp.Text(chromedp.ID("upload-token")))
	bind, upload := get(b, chromedp.Text(chromedp.ID("snippet-bind"))), get(b, chromedp.Text(chromedp.ID("snippet-upload")))
	b.shot("device")
	s.Inst = threatadmin.Restarted(s.Inst)
	if len(secret) != 44 || !strings.Contains(bind, `key "fw1.demo.device."`) || !strings.Contains(bind, secret) || !strings.Contains(bind, "response-policy") {
		t.Fatalf("device page: secret %q, bind snippet:\n%s", secret, bind)
	}
	if rc := axfr(t, s, "demo.rpz.threatstop.local.", "fw1.demo.device.", secret); rc != dns.RcodeSuccess {
		t.Errorf("the device's key from the page: AXFR rcode %d", rc)
	}
	b.do("devices list", chromedp.Navigate(base+"/ui/policies/demo/devices"), chromedp.WaitVisible(chromedp.ID("devices")))
	if list := get(b, chromedp.Text(chromedp.ID("devices"))); !strings.Contains(list, "fw1") || strings.Contains(list, secret) {
		t.Errorf("devices list: %q", list)
	}
	b.shot("devices")
	b.do("device snippet", chromedp.Click(chromedp.CSS(`#devices a[href$="/config/unbound"]`)), chromedp.WaitVisible(chromedp.CSS("pre")))
	if text := get(b, chromedp.Text(chromedp.CSS("pre"))); !strings.Contains(text, `name: "demo.rpz.threatstop.local."`) || strings.Contains(text, secret) {
		t.Errorf("the unbound snippet from the devices list:\n%s", text)
	}

	// A log uploaded with the device's token, then the report.
	up := regexp.MustCompile(`http://\S+/upload`).FindString(upload)
	if up == "" || !strings.Contains(upload, token) {
		t.Fatalf("upload snippet: %q", upload)
	}
	day := time.Now().UTC().Add(-24 * time.Hour)
	var log strings.Builder
	for i := range 6 {
		fmt.Fprintf(&log, "[INFO] plugin/threatstop: decision time=%s client=192.168.1.%d qname=x.example. qtype=A policy=demo trigger=ip value=5.188.10.7 entry=5.188.10.0/24 list=drop category=spam action=nxdomain\n",
			day.Add(time.Duration(i)*time.Minute).Format(time.RFC3339Nano), 20+i%2)
	}
	req, _ := http.NewRequest("POST", up, strings.NewReader(log.String()))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("upload with the device's token to %s: %v %v", up, resp, err)
	}
	resp.Body.Close()
	from := day.AddDate(0, 0, -2).Format("2006-01-02")
	b.do("report", chromedp.Navigate(base+"/ui/policies/demo/report"), chromedp.WaitVisible(chromedp.ID("period")),
		chromedp.SetValue(chromedp.CSS(`input[name=from]`), from),
		chromedp.SetValue(chromedp.CSS(`input[name=to]`), time.Now().UTC().Format("2006-01-02")),
		chromedp.SetValue(chromedp.CSS(`select[name=device]`), "fw1"),
		chromedp.Submit(chromedp.ID("period")),
		chromedp.WaitVisible(chromedp.ID("chart")))
	events, top := get(b, chromedp.Text(chromedp.ID("events"))), get(b, chromedp.Text(chromedp.ID("top")))
	xlabels := get(b, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#chart .xlabel')).map(e => e.textContent).join('|')`))
	device := get(b, chromedp.Evaluate[string](`document.querySelector('select[name=device]').value`))
	b.shot("report")
	if events != "6" || !strings.Contains(top, "5.188.10.7") || device != "fw1" {
		t.Errorf("report: %q events, device %q, top %q", events, device, top)
	}
	// The chart's labels: one per day from the first picked, in order, each under its day.
	d0, _ := time.Parse("2006-01-02", from)
	if want := d0.Format("Jan 2") + "|" + d0.AddDate(0, 0, 1).Format("Jan 2") + "|" + d0.AddDate(0, 0, 2).Format("Jan 2"); !strings.HasPrefix(xlabels, want) {
		t.Errorf("chart labels %q, want them to start %q", xlabels, want)
	}
	b.do("check", chromedp.Click(chromedp.CSS(`#top a`)), chromedp.WaitVisible(chromedp.ID("result")))
	verdict := get(b, chromedp.Text(chromedp.ID("result")))
	b.shot("check")
	if !strings.Contains(verdict, "5.188.10.7") || !strings.Contains(verdict, "Policy demo: blocked") || !strings.Contains(verdict, "5.188.10.0/24") {
		t.Errorf("Check IoC from the report: %q", verdict)
	}
	b.do("audit", chromedp.Navigate(base+"/ui/audit"), chromedp.WaitVisible(chromedp.ID("audit")))
	b.shot("audit")

	// An operator, on a desktop-sized screen.
	o := newTab(t, b.ctx, 1280, 900, shots) // a tab of the same browser: its sign-in replaces the cookie
	o.do("operator", chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible(chromedp.ID("login")),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "oscar"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.ID("login")), chromedp.WaitVisible(chromedp.CSS("table")),
		chromedp.Navigate(base+"/ui/feeds"), chromedp.WaitVisible(chromedp.ID("feeds")))
	feeds := get(o, chromedp.Text(chromedp.ID("feeds")))
	o.shot("feeds")
	if !strings.Contains(feeds, "drop") || !strings.Contains(feeds, "served") {
		t.Errorf("feeds page: %q", feeds)
	}
	o.do("customers", chromedp.Navigate(base+"/ui/customers"), chromedp.WaitVisible(chromedp.CSS("table")))
	o.shot("customers")
}

// tab is one browser tab of a screen size.
type tab struct {
	t     *testing.T
	ctx   context.Context
	width int64
	shots string
}

func newTab(t *testing.T, parent context.Context, w, h int64, shots string) *tab {
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	b := &tab{t: t, ctx: ctx, width: w, shots: shots}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil { // starts the browser: no timeout here
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// shot saves the page as test/screenshots/NAME.png, after checking it is no wider than the screen.
func (b *tab) shot(name string) {
	b.t.Helper()
	if w := get(b, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`)); w > b.width {
		b.t.Errorf("page %s is %d px wide on a %d px screen", name, w, b.width)
	}
	png := get(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
