package threatlog_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/threatstop/threatstop/internal/coretest"
	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/sensor"
	"github.com/threatstop/threatstop/plugin/pkg/state"
	"github.com/threatstop/threatstop/plugin/threatlog"
)

// freshSensors gives the test's servers a sensor table of their own, as a new process has.
func freshSensors(t *testing.T) *sensor.Table {
	tbl := sensor.New()
	t.Cleanup(threatlog.UseSensorTable(tbl))
	return tbl
}

// listed is what tbl lists now with at least min reporters, as "address reporters".
func listed(tbl *sensor.Table, min int) []string {
	var out []string
	for _, e := range tbl.List(now, 0, min, 0) {
		out = append(out, fmt.Sprintf("%s %d", e.Addr, e.Reporters))
	}
	return out
}

// contributions is what reporter reported, as "address count".
func contributions(tbl *sensor.Table, reporter string) []string {
	var out []string
	for _, c := range tbl.Contributions(reporter) {
		out = append(out, fmt.Sprintf("%s %d", c.Addr, c.Count))
	}
	return out
}

// export reads demo's export: its lines by type.
func (e *env) export(c cred) map[string][]threatlog.ExportEvent {
	e.t.Helper()
	code, b := e.do(http.MethodGet, "/export", nil, nil, c)
	if code != http.StatusOK {
		e.t.Fatalf("export: %d %s", code, b)
	}
	out := map[string][]threatlog.ExportEvent{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var ev threatlog.ExportEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			e.t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out[ev.Type] = append(out[ev.Type], ev)
	}
	return out
}

func fmtList(s []string) string { return strings.Join(s, ", ") }

// TestShareExportDelete: a sharing customer's inbound blocked events become sensor reports under its
// reporter ID, nothing else does (outbound, let through, non-public, another customer's not shared or
// its device not named); an inside host and an allowed address are never listed; a restart reads the
// reports back; the customer's export holds its events and contributions, and its delete removes both.
func TestShareExportDelete(t *testing.T) {
	tbl := freshSensors(t)
	const extra = "        share demo\n        share other fw1"
	e := setup(t, extra)
	blockKey := state.FromInstance(e.srv.Inst).Blocks()[0].Key
	demoID, otherID := threatlog.ReporterID(blockKey, "demo"), threatlog.ReporterID(blockKey, "other")
	if demoID == otherID || strings.Contains(demoID, "demo") || len(demoID) != 64 {
		t.Fatalf("reporter IDs %q, %q", demoID, otherID)
	}
	reports0 := coretest.Counter(t, "coredns_threatlog_sensor_reports_total", nil)
	e.uploadAll()
	// Inbound and blocked: 1.10.16.5 in netfilter, threatstop-sync, pf and ASA; 2001:678:6c4::1 in three of
	// them (netfilter's line only logs it); 185.220.101.1 once (ASA 106001). Not: 8.8.8.8 (accepted),
	// 203.0.113.7 (documentation), the outbound ones.
	want := "1.10.16.5 4, 185.220.101.1 1, 2001:678:6c4::1 3"
	if got := fmtList(contributions(tbl, demoID)); got != want {
		t.Errorf("demo's contributions: %s, want %s", got, want)
	}
	if d := coretest.Counter(t, "coredns_threatlog_sensor_reports_total", nil) - reports0; d != 8 {
		t.Errorf("sensor_reports_total grew by %v, want 8", d)
	}
	// Other shares only its device fw1: its token's device gw-other reports nothing.
	if code, res := e.upload(fixture(t, "pflog.txt"), nil, tokenCred(otherToken)); code != http.StatusOK || res.Stored != 7 {
		t.Fatalf("other's upload: %d %+v", code, res)
	}
	if c := contributions(tbl, otherID); len(c) != 0 {
		t.Errorf("other's unshared device reported %v", c)
	}
	// Other's own host 45.9.148.7 (the inside side of an outbound event): demo's report of it is kept
	// for demo's export, but never listed.
	own := "Nov 23 15:30:00 gw kernel: IPTABLES-DROP: IN= OUT=eth0 SRC=45.9.148.7 DST=1.10.16.77 PROTO=TCP SPT=40000 DPT=443\n"
	if code, _ := e.upload([]byte(own), nil, tokenCred(otherToken)); code != http.StatusOK {
		t.Fatal(code)
	}
	in := "Nov 23 15:31:00 gw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=45.9.148.7 DST=192.168.1.20 PROTO=TCP SPT=443 DPT=40001\n"
	if code, _ := e.upload([]byte(in), nil, demo); code != http.StatusOK {
		t.Fatal(code)
	}
	if got := fmtList(contributions(tbl, demoID)); got != "1.10.16.5 4, 45.9.148.7 1, 185.220.101.1 1, 2001:678:6c4::1 3" {
		t.Errorf("demo's contributions with 45.9.148.7: %s", got)
	}
	want = "1.10.16.5 1, 185.220.101.1 1, 2001:678:6c4::1 1"
	if got := fmtList(listed(tbl, 1)); got != want {
		t.Errorf("listed: %s, want %s", got, want)
	}
	if n, _, _ := tbl.Lookup(netip.MustParseAddr("45.9.148.7"), now, 0); n != 0 {
		t.Errorf("Lookup of other's inside host: %d reporters", n)
	}
	// An address a policy allows is never listed: from the State's next version on.
	st := state.FromInstance(e.srv.Inst)
	if _, err := st.Edit(0, "other", func(c *policy.Config) error { c.Allowed = append(c.Allowed, "1.10.16.0/24"); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := fmtList(listed(tbl, 1)); got != "185.220.101.1 1, 2001:678:6c4::1 1" {
		t.Errorf("listed with 1.10.16.0/24 allowed by other: %s", got)
	}

	// The export: every stored event, the contributions, an end line that counts both.
	x := e.export(demo)
	if len(x["event"]) != 41 || len(x["sensor"]) != 4 || len(x["end"]) != 1 || x["end"][0].Events != 41 || x["end"][0].Sensor != 4 {
		t.Fatalf("export: %d events, %d sensor lines, end %+v", len(x["event"]), len(x["sensor"]), x["end"])
	}
	if ev := x["event"][0]; ev.Device != "gw" || ev.Format != "netfilter" || ev.Direction != "in" || ev.Remote != "1.10.16.5" || ev.RemotePort != 443 || ev.Inside != "192.168.1.20" || ev.Time == nil {
		t.Errorf("first exported event: %+v", ev)
	}
	if s := x["sensor"][0]; s.Address != "1.10.16.5" || s.Count != 4 || s.First == nil || s.First.Format("15:04:05") != "15:20:01" || s.Last.Format("15:04:05") != "15:26:00" {
		t.Errorf("first exported contribution: %+v", s)
	}

	// A restart starts with an empty table and reads the window back: the same reports, and other's
	// inside host (other does not share; its events still say what is its own).
	e.stop()
	tbl2 := freshSensors(t)
	e.start(extra)
	if got := fmtList(contributions(tbl2, demoID)); got != "1.10.16.5 4, 45.9.148.7 1, 185.220.101.1 1, 2001:678:6c4::1 3" {
		t.Errorf("demo's contributions after a restart: %s", got)
	}
	if got := fmtList(listed(tbl2, 1)); got != "1.10.16.5 1, 185.220.101.1 1, 2001:678:6c4::1 1" { // the edit was not kept
		t.Errorf("listed after a restart: %s", got)
	}

	// Delete: demo's events and reports go, other's stay.
	for name, c := range map[string]cred{"no credentials": nil, "wrong token": tokenCred("not-the-token-0123456789")} {
		if code, _ := e.do(http.MethodDelete, "/logs", nil, nil, c); code != http.StatusUnauthorized {
			t.Errorf("DELETE /logs with %s: %d", name, code)
		}
		if code, _ := e.do(http.MethodGet, "/export", nil, nil, c); code != http.StatusUnauthorized {
			t.Errorf("GET /export with %s: %d", name, code)
		}
	}
	if code, _ := e.do(http.MethodDelete, "/logs", nil, nil, tokenCred(otherToken)); code != http.StatusForbidden {
		t.Errorf("DELETE /logs with a device token: %d, want 403 (only the policy's key deletes)", code)
	}
	if code, _ := e.do(http.MethodGet, "/logs", nil, nil, demo); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /logs: %d", code)
	}
	code, b := e.do(http.MethodDelete, "/logs", nil, nil, demo)
	var res threatlog.DeleteResult
	if code != http.StatusOK || json.Unmarshal(b, &res) != nil || res.Policy != "demo" || res.Events != 41 || res.Sensor != 4 {
		t.Fatalf("DELETE /logs: %d %s", code, b)
	}
	if l := listed(tbl2, 1); len(l) != 0 {
		t.Errorf("listed after demo's delete: %v", l)
	}
	if x := e.export(demo); len(x["event"]) != 0 || len(x["sensor"]) != 0 || x["end"][0].Events != 0 {
		t.Errorf("export after the delete: %+v", x)
	}
	if rep := e.report(demo); rep.Events != 0 {
		t.Errorf("demo's report after the delete: %d events", rep.Events)
	}
	if rep := e.report(tokenCred(otherToken)); rep.Events != 8 {
		t.Errorf("other's report after demo's delete: %d events, want 8", rep.Events)
	}
	// Deleted, the batches are new again: a re-upload is stored and reported.
	if code, res := e.upload(fixture(t, "asa.log"), nil, demo); code != http.StatusOK || res.Duplicate {
		t.Errorf("re-upload after the delete: %d %+v", code, res)
	}
	if got := fmtList(contributions(tbl2, demoID)); got != "1.10.16.5 1, 185.220.101.1 1, 2001:678:6c4::1 1" {
		t.Errorf("demo's contributions after the re-upload: %s", got)
	}
}

// TestShareUnknownPolicy: a share of a policy the block does not have stops start-up, naming its line.
func TestShareUnknownPolicy(t *testing.T) {
	_, err := coretest.StartErr(corefile(t, t.TempDir(), freePort(t), "        share demo\n        share nobody gw"))
	if err == nil || !strings.Contains(err.Error(), `Corefile:40 - share of unknown policy "nobody"`) {
		t.Errorf("share nobody: %v", err)
	}
}

// TestShareTruncatedInside: with truncate, a customer's inside host is known by its prefix, live and
// after a restart alike: no address of that prefix is listed.
func TestShareTruncatedInside(t *testing.T) {
	tbl := freshSensors(t)
	const extra = "        truncate 24 56\n        share demo"
	e := setup(t, extra)
	own := "Nov 23 15:30:00 gw kernel: IPTABLES-DROP: IN= OUT=eth0 SRC=45.9.148.7 DST=1.10.16.77 PROTO=TCP SPT=40000 DPT=443\n"
	if code, _ := e.upload([]byte(own), nil, tokenCred(otherToken)); code != http.StatusOK {
		t.Fatal(code)
	}
	in := "Nov 23 15:31:00 gw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=45.9.148.99 DST=192.168.1.20 PROTO=TCP SPT=443 DPT=40001\n" +
		"Nov 23 15:31:01 gw kernel: IPTABLES-DROP: IN=eth0 OUT= SRC=45.9.149.1 DST=192.168.1.20 PROTO=TCP SPT=443 DPT=40002\n"
	if code, _ := e.upload([]byte(in), nil, demo); code != http.StatusOK {
		t.Fatal(code)
	}
	if got := fmtList(listed(tbl, 1)); got != "45.9.149.1 1" {
		t.Errorf("listed with 45.9.148.0/24 inside: %s", got)
	}
	e.stop()
	tbl = freshSensors(t)
	e.start(extra)
	if got := fmtList(listed(tbl, 1)); got != "45.9.149.1 1" {
		t.Errorf("listed after a restart: %s", got)
	}
}
