package logparse

import (
	"net/netip"
	"strings"
)

// asa parses Cisco ASA (and FTD) deny messages:
//
//	%ASA-4-106023: Deny tcp src outside:1.10.16.5/443 dst inside:192.168.1.20/51234 by access-group "outside_in" [0x0, 0x0]
//	%ASA-2-106001: Inbound TCP connection denied from 1.10.16.5/443 to 192.168.1.20/51234 flags SYN  on interface outside
//	%ASA-2-106006: Deny inbound UDP from 1.10.16.5/53 to 192.168.1.20/5353 on interface outside
//	%ASA-3-106014: Deny inbound icmp src outside:1.10.16.5 dst inside:192.168.1.20 (type 8, code 0)
//	%ASA-4-106100: access-list inside_out denied tcp inside/192.168.1.20(51234) -> outside/1.10.16.5(443) hit-cnt 1 first hit [0x91c26a3, 0x0]
//
// A source on the "outside" interface is inbound, a destination there outbound (an interface whose
// name contains "outside"); 106001/106006 say "inbound" themselves. Other message IDs are not parsed.
func (p *Parser) asa(line string) (Event, bool) {
	i := strings.Index(line, "%ASA-")
	if i < 0 {
		i = strings.Index(line, "%FTD-")
	}
	t, _ := p.leadingTime(line[:i])
	msg := line[i+5:]
	colon := strings.Index(msg, ": ")
	if colon < 0 {
		return Event{}, false
	}
	id := msg[:colon]
	if k := strings.LastIndexByte(id, '-'); k >= 0 {
		id = id[k+1:]
	}
	body := msg[colon+2:]
	f := strings.Fields(body)
	ev := Event{Time: p.orNow(t), Format: ASA, Action: "deny"}
	var srcIf, dstIf string
	switch id {
	case "106023", "106014", "106015", "106021": // Deny PROTO src IF:ADDR[/PORT] dst IF:ADDR[/PORT] ...
		s, d := index(f, "src"), index(f, "dst")
		if s < 1 || d < 0 || s+1 >= len(f) || d+1 >= len(f) {
			return Event{}, false
		}
		ev.Proto = strings.ToLower(f[s-1])
		srcIf, ev.Src, ev.SPort = ifAddr(f[s+1], ":", "/")
		dstIf, ev.Dst, ev.DPort = ifAddr(f[d+1], ":", "/")
	case "106001", "106006", "106007": // Inbound TCP connection denied from A/P to B/P ... interface IF
		s, d := index(f, "from"), index(f, "to")
		if s < 0 || d < 0 || s+1 >= len(f) || d+1 >= len(f) {
			return Event{}, false
		}
		for _, w := range f[:s] {
			switch lw := strings.ToLower(w); lw {
			case "tcp", "udp", "icmp":
				ev.Proto = lw
			}
		}
		_, ev.Src, ev.SPort = ifAddr(f[s+1], "", "/")
		_, ev.Dst, ev.DPort = ifAddr(f[d+1], "", "/")
		if strings.Contains(strings.ToLower(body), "inbound") {
			ev.Dir = Inbound
		}
	case "106100": // access-list NAME denied PROTO IF/ADDR(PORT) -> IF/ADDR(PORT) ...
		a := index(f, "->")
		if a < 2 || a+1 >= len(f) || f[2] != "denied" {
			return Event{}, false
		}
		ev.Proto = strings.ToLower(f[a-2])
		srcIf, ev.Src, ev.SPort = ifAddr(f[a-1], "/", "(")
		dstIf, ev.Dst, ev.DPort = ifAddr(f[a+1], "/", "(")
	default:
		return Event{}, false
	}
	if !ev.Src.IsValid() || !ev.Dst.IsValid() {
		return Event{}, false
	}
	if ev.Dir == Unknown {
		switch {
		case strings.Contains(strings.ToLower(srcIf), "outside"):
			ev.Dir = Inbound
		case strings.Contains(strings.ToLower(dstIf), "outside"):
			ev.Dir = Outbound
		}
	}
	return ev, true
}

func index(f []string, w string) int {
	for i, s := range f {
		if s == w {
			return i
		}
	}
	return -1
}

// ifAddr splits "outside:1.2.3.4/443" (ifSep ":", portSep "/") or "outside/1.2.3.4(443)" (ifSep "/",
// portSep "(").
func ifAddr(s, ifSep, portSep string) (string, netip.Addr, uint16) {
	var iface string
	if ifSep != "" {
		i := strings.Index(s, ifSep)
		if i < 0 {
			return "", netip.Addr{}, 0
		}
		iface, s = s[:i], s[i+1:]
	}
	var pt uint16
	if i := strings.LastIndex(s, portSep); i >= 0 {
		pt = port(strings.TrimSuffix(s[i+1:], ")"))
		s = s[:i]
	}
	return iface, addr(s), pt
}
