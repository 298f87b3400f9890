package logparse

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// readFixture parses a fixture file of testdata/logs and returns the events and the unknown lines.
func readFixture(t *testing.T, name string) ([]Event, []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "testdata", "logs", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &Parser{Now: now}
	var evs []Event
	var unknown []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if ev, ok := p.Line(sc.Text()); ok {
			evs = append(evs, ev)
		} else {
			unknown = append(unknown, sc.Text())
		}
	}
	return evs, unknown
}

type want struct {
	format   Format
	dir      Direction
	action   string
	proto    string
	src, dst string
	sp, dp   uint16
	name     string
	time     string
}

func check(t *testing.T, evs []Event, wants []want) {
	t.Helper()
	if len(evs) != len(wants) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(wants), evs)
	}
	for i, w := range wants {
		ev := evs[i]
		var src, dst string
		if ev.Src.IsValid() {
			src = ev.Src.String()
		}
		if ev.Dst.IsValid() {
			dst = ev.Dst.String()
		}
		got := want{ev.Format, ev.Dir, ev.Action, ev.Proto, src, dst, ev.SPort, ev.DPort, ev.Name, ev.Time.Format(time.RFC3339Nano)}
		if got != w {
			t.Errorf("event %d:\n got %+v\nwant %+v", i+1, got, w)
		}
	}
}

func TestNetfilter(t *testing.T) {
	evs, unknown := readFixture(t, "netfilter.log")
	check(t, evs, []want{
		{Netfilter, Inbound, "drop", "tcp", "1.10.16.5", "192.168.1.20", 443, 51234, "", "2026-11-23T15:20:01Z"},
		{Netfilter, Outbound, "drop", "tcp", "192.168.1.20", "185.220.101.1", 40022, 9001, "", "2026-11-23T15:20:02Z"},
		{Netfilter, Unknown, "reject", "udp", "192.168.1.21", "1.10.16.77", 123, 123, "", "2026-11-23T15:20:03Z"},
		{Netfilter, Inbound, "log", "tcp", "2001:678:6c4::1", "2001:db8::20", 443, 50112, "", "2026-11-23T15:20:04Z"},
		{Netfilter, Inbound, "log", "icmp", "203.0.113.7", "192.168.1.30", 0, 0, "", "2026-11-23T15:20:05.412345Z"},
		{Netfilter, Inbound, "accept", "udp", "8.8.8.8", "192.168.1.20", 53, 40001, "", "2026-11-23T15:20:06Z"},
	})
	if len(unknown) != 3 {
		t.Errorf("unknown lines %d, want 3: %q", len(unknown), unknown)
	}
}

func TestThreatstopSync(t *testing.T) {
	evs, unknown := readFixture(t, "threatstop-sync.log")
	check(t, evs, []want{
		{ThreatstopSyn, Inbound, "drop", "tcp", "1.10.16.5", "192.168.1.20", 443, 51300, "", "2026-11-23T15:21:00Z"},
		{ThreatstopSyn, Outbound, "drop", "tcp", "192.168.1.20", "1.10.16.9", 51301, 443, "", "2026-11-23T15:21:01Z"},
		{ThreatstopSyn, Outbound, "drop", "tcp", "192.168.1.20", "185.220.101.1", 51302, 9001, "", "2026-11-23T15:21:02Z"},
		{ThreatstopSyn, Outbound, "drop", "udp", "192.168.1.21", "203.0.113.7", 5000, 53, "", "2026-11-23T15:21:03Z"},
		{ThreatstopSyn, Inbound, "drop", "tcp", "2001:678:6c4::1", "2001:db8::20", 443, 50113, "", "2026-11-23T15:21:04Z"},
	})
	if len(unknown) != 1 {
		t.Errorf("unknown lines %d, want 1: %q", len(unknown), unknown)
	}
	// Another prefix is configurable; the default one is then a plain netfilter prefix.
	p := &Parser{Now: now, SyncPrefix: "TS"}
	ev, ok := p.Line("Nov 23 15:21:00 gw kernel: TS out IN= OUT=eth0 SRC=192.168.1.20 DST=1.10.16.9 PROTO=TCP SPT=1 DPT=443")
	if !ok || ev.Format != ThreatstopSyn || ev.Dir != Outbound {
		t.Errorf("prefix TS: %+v %v", ev, ok)
	}
	ev, ok = p.Line("Nov 23 15:21:00 gw kernel: THREATSTOP DROP in IN=eth0 OUT= SRC=1.10.16.9 DST=192.168.1.20 PROTO=TCP SPT=1 DPT=443")
	if !ok || ev.Format != Netfilter || ev.Action != "drop" {
		t.Errorf("default prefix under TS: %+v %v", ev, ok)
	}
}

func TestPF(t *testing.T) {
	evs, unknown := readFixture(t, "pflog.txt")
	check(t, evs, []want{
		{PF, Inbound, "block", "tcp", "1.10.16.5", "192.168.1.20", 443, 51400, "", "2026-11-23T15:22:00.120411Z"},
		{PF, Outbound, "block", "tcp", "192.168.1.20", "185.220.101.1", 51401, 9001, "", "2026-11-23T15:22:01.0012Z"},
		{PF, Inbound, "block", "icmp", "203.0.113.7", "192.168.1.30", 0, 0, "", "2026-11-23T15:22:02.5Z"},
		{PF, Outbound, "block", "udp", "192.168.1.21", "1.10.16.77", 5353, 53, "", "2026-11-23T15:22:03.000001Z"},
		{PF, Inbound, "block", "tcp", "2001:678:6c4::1", "2001:db8::20", 443, 50200, "", "2026-11-23T15:22:04.000001Z"},
		{PF, Outbound, "pass", "udp", "192.168.1.20", "8.8.8.8", 51500, 53, "", "2026-11-23T15:22:05.000001Z"},
		{PF, Outbound, "block", "tcp", "192.168.1.20", "1.10.16.9", 51501, 443, "", now.Format(time.RFC3339Nano)}, // delta time: no date
	})
	if len(unknown) != 1 {
		t.Errorf("unknown lines %d, want 1: %q", len(unknown), unknown)
	}
}

func TestDecision(t *testing.T) {
	evs, unknown := readFixture(t, "threatstop-decisions.log")
	check(t, evs, []want{
		{Decision, Outbound, "nxdomain", "", "192.168.1.20", "1.10.16.5", 0, 0, "", "2026-11-23T15:23:34.295459772Z"},
		{Decision, Outbound, "nxdomain", "", "192.168.1.20", "", 0, 0, "a1.songlaoban.top", "2026-11-23T15:23:35.000000001Z"},
		{Decision, Outbound, "log-only", "", "192.168.1.21", "", 0, 0, "login.eoutlet.2023shoponline.com", "2026-11-23T15:23:36.5Z"},
		{Decision, Outbound, "nxdomain", "", "192.168.1.30", "", 0, 0, "evil.example", "2026-11-23T15:23:37Z"},
		{Decision, Outbound, "nxdomain", "", "2001:db8::20", "2001:678:6c4::1", 0, 0, "", "2026-11-23T15:23:38Z"},
	})
	if len(unknown) != 2 {
		t.Errorf("unknown lines %d, want 2: %q", len(unknown), unknown)
	}
}

func TestBind(t *testing.T) {
	evs, unknown := readFixture(t, "bind-rpz.log")
	check(t, evs, []want{
		{BindRPZ, Outbound, "nxdomain", "", "192.168.1.20", "", 0, 0, "a1.songlaoban.top", "2026-11-23T15:24:00.12Z"},
		{BindRPZ, Outbound, "nxdomain", "", "192.168.1.20", "1.10.16.5", 0, 0, "", "2026-11-23T15:24:01Z"},
		{BindRPZ, Outbound, "nodata", "", "192.168.1.21", "", 0, 0, "login.eoutlet.2023shoponline.com", "2026-11-23T15:24:02Z"},
		{BindRPZ, Outbound, "nxdomain", "", "2001:db8::20", "2001:678:6c4::", 0, 0, "", "2026-11-23T15:24:03Z"},
		{BindRPZ, Outbound, "passthru", "", "192.168.1.30", "", 0, 0, "evil.example", "2026-11-23T15:24:04Z"},
	})
	if len(unknown) != 2 {
		t.Errorf("unknown lines %d, want 2: %q", len(unknown), unknown)
	}
}

func TestUnbound(t *testing.T) {
	evs, unknown := readFixture(t, "unbound-rpz.log")
	check(t, evs, []want{
		{UnboundRPZ, Outbound, "nxdomain", "", "192.168.1.20", "", 0, 0, "a1.songlaoban.top", "2026-11-23T15:25:00Z"},
		{UnboundRPZ, Outbound, "nxdomain", "", "192.168.1.20", "1.10.16.0", 0, 0, "", "2026-11-23T15:25:01Z"},
		{UnboundRPZ, Outbound, "nodata", "", "192.168.1.21", "", 0, 0, "login.eoutlet.2023shoponline.com", "2026-11-23T15:25:02Z"},
		{UnboundRPZ, Outbound, "local-data", "", "192.168.1.30", "", 0, 0, "evil.example", "2026-11-23T15:25:03Z"},
		{UnboundRPZ, Outbound, "drop", "", "192.168.1.99", "192.168.1.99", 0, 0, "", "2026-11-23T15:25:04Z"},
	})
	if len(unknown) != 2 {
		t.Errorf("unknown lines %d, want 2: %q", len(unknown), unknown)
	}
}

func TestASA(t *testing.T) {
	evs, unknown := readFixture(t, "asa.log")
	check(t, evs, []want{
		{ASA, Inbound, "deny", "tcp", "1.10.16.5", "192.168.1.20", 443, 51600, "", "2026-11-23T15:26:00Z"},
		{ASA, Outbound, "deny", "udp", "192.168.1.21", "1.10.16.77", 5353, 53, "", "2026-11-23T15:26:01Z"},
		{ASA, Inbound, "deny", "tcp", "185.220.101.1", "192.168.1.20", 9001, 51601, "", "2026-11-23T15:26:02Z"},
		{ASA, Inbound, "deny", "udp", "203.0.113.7", "192.168.1.30", 53, 5353, "", "2026-11-23T15:26:03Z"},
		{ASA, Inbound, "deny", "icmp", "203.0.113.7", "192.168.1.30", 0, 0, "", "2026-11-23T15:26:04Z"},
		{ASA, Outbound, "deny", "tcp", "192.168.1.20", "1.10.16.9", 51602, 443, "", "2026-11-23T15:26:05Z"},
		{ASA, Inbound, "deny", "tcp", "2001:678:6c4::1", "2001:db8::20", 443, 50300, "", "2026-11-23T15:26:06Z"},
	})
	if len(unknown) != 2 {
		t.Errorf("unknown lines %d, want 2: %q", len(unknown), unknown)
	}
}

func TestOrient(t *testing.T) {
	a := netip.MustParseAddr
	listed := func(x netip.Addr) bool { return x == a("1.10.16.77") }
	// A forwarded packet (no direction): the listed side is remote.
	ev := Event{Format: Netfilter, Src: a("192.168.1.21"), Dst: a("1.10.16.77")}
	if r, in := Orient(&ev, listed); r != a("1.10.16.77") || in != a("192.168.1.21") || ev.Dir != Outbound {
		t.Errorf("forwarded: remote %v inside %v dir %v", r, in, ev.Dir)
	}
	ev = Event{Format: Netfilter, Src: a("1.10.16.77"), Dst: a("198.51.100.9")}
	if r, in := Orient(&ev, listed); r != a("1.10.16.77") || in != a("198.51.100.9") || ev.Dir != Inbound {
		t.Errorf("forwarded in: remote %v inside %v dir %v", r, in, ev.Dir)
	}
	// Neither listed: the private side is inside.
	ev = Event{Format: Netfilter, Src: a("10.1.2.3"), Dst: a("8.8.8.8")}
	if r, in := Orient(&ev, listed); r != a("8.8.8.8") || in != a("10.1.2.3") || ev.Dir != Outbound {
		t.Errorf("private: remote %v inside %v dir %v", r, in, ev.Dir)
	}
	// A known direction wins over the listing.
	ev = Event{Format: PF, Dir: Inbound, Src: a("192.168.1.21"), Dst: a("1.10.16.77")}
	if r, _ := Orient(&ev, listed); r != a("192.168.1.21") {
		t.Errorf("known direction: remote %v", r)
	}
}

func TestLeadingTimeYear(t *testing.T) {
	// A December line read in January belongs to the year before.
	p := &Parser{Now: time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), Loc: time.UTC}
	got, _ := p.leadingTime("Dec 31 23:59:59 gw kernel: x")
	if want := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// An IP trigger's owner is read by rpzname, with its rules: one with host bits set past its length
// (192.0.2.1/24), which BIND never loads and so never logs, is not an event.
func TestBindIPTriggerHostBits(t *testing.T) {
	const line = "23-Nov-2026 15:24:01.000 rpz: info: client @0x7f3a2c01b168 192.168.1.20#40001 (c2.demo.example): " +
		"rpz IP NXDOMAIN rewrite c2.demo.example/A/IN via %s.rpz-ip.demo.rpz.threatstop.local"
	p := &Parser{Now: now}
	if ev, ok := p.Line(fmt.Sprintf(line, "24.0.2.0.192")); !ok || ev.Dst.String() != "192.0.2.0" {
		t.Errorf("24.0.2.0.192: %+v, %v", ev, ok)
	}
	if ev, ok := p.Line(fmt.Sprintf(line, "24.1.2.0.192")); ok {
		t.Errorf("24.1.2.0.192 (host bits): read as %+v", ev)
	}
}
