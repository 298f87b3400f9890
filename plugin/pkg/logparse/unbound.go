package logparse

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

// unbound parses Unbound's RPZ log lines (rpz-log: yes), from its own log file or from syslog:
//
//	[1764000000] unbound[2214:0] info: rpz: applied [demo.rpz] bad.example. rpz-nxdomain 192.168.1.20@53211 bad.example. A IN
//	Nov 23 15:23:34 resolver unbound: [2214:0] info: rpz: applied [demo.rpz] response-ip 1.10.16.0/20 rpz-nxdomain 192.168.1.20@40001 c2.demo.example. A IN
//
// The log name in brackets is optional; a trigger other than qname (response-ip, client-ip, nsip,
// nsdname) comes before the matched rule. A response-ip rule's remote is its network address.
func (p *Parser) unbound(line string) (Event, bool) {
	i := strings.Index(line, "rpz: applied ")
	t, _ := p.leadingTime(line[:i])
	rest := line[i+len("rpz: applied "):]
	if strings.HasPrefix(rest, "[") {
		j := strings.Index(rest, "] ")
		if j < 0 {
			return Event{}, false
		}
		rest = rest[j+2:]
	}
	f := strings.Fields(rest)
	trigger := "qname"
	if len(f) > 0 {
		switch f[0] {
		case "response-ip", "client-ip", "nsip", "nsdname":
			trigger, f = f[0], f[1:]
		}
	}
	// RULE ACTION CLIENT@PORT QNAME TYPE CLASS
	if len(f) < 4 || !strings.HasPrefix(f[1], "rpz-") || len(f[1]) == len("rpz-") {
		return Event{}, false
	}
	client, _, _ := strings.Cut(f[2], "@")
	ev := Event{Time: p.orNow(t), Format: UnboundRPZ, Dir: Outbound, Src: addr(client), Action: strings.TrimPrefix(f[1], "rpz-")}
	var ok bool
	if ev.QName, ok = domain.Normalize(f[3]); !ok || !ev.Src.IsValid() {
		return Event{}, false
	}
	switch trigger {
	case "response-ip", "nsip":
		rule, _, _ := strings.Cut(f[0], "/")
		if ev.Dst = addr(rule); !ev.Dst.IsValid() {
			return Event{}, false
		}
	case "client-ip":
		ev.Dst = ev.Src
	default:
		ev.Name = ev.QName
	}
	return ev, true
}
