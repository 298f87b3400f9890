package logparse

import (
	"strings"
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

// decision parses a threatstop firewall decision line (plugin/threatstop/README.md, "Decision log"):
//
//	[INFO] plugin/threatstop: decision time=2026-11-23T15:23:34.295459772Z client=127.0.0.1 qname=c2.demo.example. qtype=A policy=demo trigger=ip value=1.10.16.5 entry=1.10.16.0/20 list=spamhaus-drop category=spam action=nxdomain
//
// The client is inside; an ip trigger's value is the remote address, a qname or cname trigger's the
// remote name, and a client trigger's the client itself (listed inside hosts: Dst is the client too).
func (p *Parser) decision(line string) (Event, bool) {
	i := strings.Index(line, "plugin/threatstop: decision ")
	f := line[i+len("plugin/threatstop: decision "):]
	t, err := time.Parse(time.RFC3339Nano, kv(f, "time="))
	if err != nil || t.IsZero() {
		return Event{}, false
	}
	ev := Event{Time: t.UTC(), Format: Decision, Dir: Outbound, Src: addr(kv(f, "client=")), Action: kv(f, "action=")}
	if !ev.Src.IsValid() || ev.Action == "" || ev.Action == "-" {
		return Event{}, false
	}
	ev.QName, _ = domain.Normalize(kv(f, "qname="))
	v := kv(f, "value=")
	switch kv(f, "trigger=") {
	case "ip", "client":
		if ev.Dst = addr(v); !ev.Dst.IsValid() {
			return Event{}, false
		}
	case "qname", "cname":
		n, ok := domain.Normalize(v)
		if !ok {
			return Event{}, false
		}
		ev.Name = n
	default:
		return Event{}, false
	}
	return ev, true
}
