package logparse_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/logparse"
)

// Line recognises the format of each line by itself; a line no format knows
// is reported as not ok, never as an error. Now completes timestamps that
// carry no year.
func ExampleParser_Line() {
	p := &logparse.Parser{Now: time.Date(2026, 11, 23, 16, 0, 0, 0, time.UTC)}
	for _, line := range []string{
		"Nov 23 15:20:02 gw kernel: nft-drop-out IN= OUT=eth0 SRC=192.168.1.20 DST=185.220.101.1 LEN=52 PROTO=TCP SPT=40022 DPT=9001",
		"23-Nov-2026 15:24:00.120 rpz: info: client @0x7f3a2c01b168 192.168.1.20#53211 (a1.songlaoban.top): rpz QNAME NXDOMAIN rewrite a1.songlaoban.top/A/IN via a1.songlaoban.top.demo.rpz.threatstop.local",
		`Nov 23 2026 15:26:00: %ASA-4-106023: Deny tcp src outside:1.10.16.5/443 dst inside:192.168.1.20/51600 by access-group "outside_in" [0x0, 0x0]`,
		"Nov 23 15:27:00 gw sshd[811]: Accepted publickey for admin",
	} {
		ev, ok := p.Line(line)
		if !ok {
			fmt.Println("unknown line")
			continue
		}
		fmt.Println(ev.Format, ev.Dir, ev.Action, ev.Proto, ev.Src, ev.Dst, ev.DPort, ev.Name, ev.Time.Format(time.RFC3339))
	}
	// Output:
	// netfilter out drop tcp 192.168.1.20 185.220.101.1 9001  2026-11-23T15:20:02Z
	// bind-rpz out nxdomain  192.168.1.20 invalid IP 0 a1.songlaoban.top 2026-11-23T15:24:00Z
	// asa in deny tcp 1.10.16.5 192.168.1.20 51600  2026-11-23T15:26:00Z
	// unknown line
}

// Orient names the outside and inside of an event whose line does not say
// which way it went: the listed side is the remote one.
func ExampleOrient() {
	ev := logparse.Event{Src: netip.MustParseAddr("10.0.0.5"), Dst: netip.MustParseAddr("185.220.101.1")}
	listed := func(a netip.Addr) bool { return a == netip.MustParseAddr("185.220.101.1") }
	remote, inside := logparse.Orient(&ev, listed)
	fmt.Println("remote", remote, "inside", inside)
	// Output:
	// remote 185.220.101.1 inside 10.0.0.5
}
