package logparse

import "strings"

// netfilter parses a kernel log line of an iptables LOG or nftables log rule:
//
//	Nov 23 15:23:34 gw kernel: [8812.337001] THREATSTOP DROP in IN=eth0 OUT= MAC=... SRC=1.10.16.5 DST=192.168.1.20 LEN=60 ... PROTO=TCP SPT=443 DPT=51234 ...
//
// The log prefix is the text between "kernel: " (and the uptime) and "IN=". threatstop-sync's prefix
// (p.SyncPrefix, then "in" or "out") says the direction; for other prefixes a packet that came in on an
// interface and goes to no other (INPUT) is inbound, one sent by this host (OUTPUT) outbound, and a
// forwarded one is left to Orient.
func (p *Parser) netfilter(line string) (Event, bool) {
	i := strings.Index(line, "IN=")
	if i < 0 || (i > 0 && line[i-1] != ' ') {
		return Event{}, false
	}
	t, head := p.leadingTime(line[:i])
	if k := strings.LastIndex(head, "kernel: "); k >= 0 {
		head = head[k+len("kernel: "):]
	} else if k := strings.LastIndex(head, ": "); k >= 0 { // ulogd or another tag
		head = head[k+2:]
	}
	if strings.HasPrefix(head, "[") { // uptime
		if j := strings.IndexByte(head, ']'); j > 0 {
			head = head[j+1:]
		}
	}
	prefix := strings.TrimSpace(head)
	fields := line[i:]
	ev := Event{Time: p.orNow(t), Format: Netfilter, Src: addr(kv(fields, "SRC=")), Dst: addr(kv(fields, "DST="))}
	if !ev.Src.IsValid() || !ev.Dst.IsValid() {
		return Event{}, false
	}
	ev.Proto = strings.ToLower(kv(fields, "PROTO="))
	ev.SPort, ev.DPort = port(kv(fields, "SPT=")), port(kv(fields, "DPT="))
	if rest, ok := strings.CutPrefix(prefix, p.SyncPrefix); ok && p.SyncPrefix != "" {
		ev.Format, ev.Action = ThreatstopSyn, "drop"
		switch strings.ToLower(strings.Trim(strings.TrimSpace(rest), ":")) {
		case "in":
			ev.Dir = Inbound
		case "out":
			ev.Dir = Outbound
		}
		return ev, true
	}
	up := strings.ToUpper(prefix)
	switch {
	case strings.Contains(up, "REJECT"):
		ev.Action = "reject"
	case strings.Contains(up, "DROP"), strings.Contains(up, "DENY"), strings.Contains(up, "BLOCK"):
		ev.Action = "drop"
	case strings.Contains(up, "ACCEPT"), strings.Contains(up, "ALLOW"):
		ev.Action = "accept"
	default:
		ev.Action = "log"
	}
	in, out := kv(fields, "IN="), kv(fields, "OUT=")
	switch {
	case in != "" && out == "":
		ev.Dir = Inbound
	case in == "" && out != "":
		ev.Dir = Outbound
	}
	return ev, true
}
