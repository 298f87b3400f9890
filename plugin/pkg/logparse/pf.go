package logparse

import (
	"net/netip"
	"strings"
)

// pf parses a pflog packet as tcpdump -n -e -ttt -r /var/log/pflog prints it, OpenBSD or FreeBSD style:
//
//	Nov 23 15:23:34.123456 rule 0/(match) block in on em0: 1.10.16.5.5555 > 192.168.1.20.22: S 1:1(0) win 16384
//	00:00:01.000012 rule 2/0(match): block out on vtnet0: 192.168.1.20.51234 > 1.10.16.5.443: Flags [S], ...
//
// Addresses end in ".port" for TCP and UDP. A delta time (FreeBSD's -ttt) is no date: the event gets
// p.Now. "in" and "out" are the direction through the interface, which for a gateway's outside
// interface is the direction to or from the Internet.
func (p *Parser) pf(line string) (Event, bool) {
	i := strings.Index(line, "rule ")
	if i < 0 {
		return Event{}, false
	}
	t, _ := p.leadingTime(line[:i])
	rest := line[i+len("rule "):]
	j := strings.Index(rest, "(match)")
	if j < 0 {
		return Event{}, false
	}
	rest = strings.TrimPrefix(rest[j+len("(match)"):], ":")
	rest = strings.TrimLeft(rest, " ")
	action, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return Event{}, false
	}
	dir, rest, ok := strings.Cut(rest, " ")
	if !ok || !strings.HasPrefix(rest, "on ") {
		return Event{}, false
	}
	ev := Event{Time: p.orNow(t), Format: PF, Action: action}
	switch dir {
	case "in":
		ev.Dir = Inbound
	case "out":
		ev.Dir = Outbound
	default:
		return Event{}, false
	}
	_, rest, ok = strings.Cut(rest, ": ") // interface
	if !ok {
		return Event{}, false
	}
	src, rest, ok := strings.Cut(rest, " > ")
	if !ok {
		return Event{}, false
	}
	dst, payload, _ := strings.Cut(rest, ": ")
	dst = strings.TrimSuffix(dst, ":")
	ev.Src, ev.SPort = hostPort(src)
	ev.Dst, ev.DPort = hostPort(dst)
	if !ev.Src.IsValid() || !ev.Dst.IsValid() {
		return Event{}, false
	}
	switch {
	case strings.HasPrefix(payload, "icmp") || strings.HasPrefix(payload, "ICMP"):
		ev.Proto = "icmp"
	case strings.HasPrefix(payload, "UDP") || strings.HasPrefix(payload, "udp") || ev.SPort == 53 || ev.DPort == 53:
		ev.Proto = "udp"
	case ev.SPort != 0 || ev.DPort != 0:
		ev.Proto = "tcp"
	}
	return ev, true
}

// hostPort splits tcpdump's "address.port"; an address alone has no port.
func hostPort(s string) (netip.Addr, uint16) {
	if a := addr(s); a.IsValid() {
		return a, 0
	}
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return netip.Addr{}, 0
	}
	a := addr(s[:i])
	if !a.IsValid() {
		return netip.Addr{}, 0
	}
	return a, port(s[i+1:])
}
