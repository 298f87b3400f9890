package logparse

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
	"github.com/threatstop/threatstop/plugin/pkg/rpzname"
)

// bind parses BIND's rpz category lines (with or without a syslog header, a view, or BIND's own time):
//
//	23-Nov-2026 15:23:34.120 rpz: info: client @0x7f3a2c01b168 192.168.1.20#53211 (bad.example): rpz QNAME NXDOMAIN rewrite bad.example/A/IN via bad.example.demo.rpz.threatstop.local
//	... client @0x... 192.168.1.20#40001 (c2.demo.example): rpz IP NXDOMAIN rewrite c2.demo.example/A/IN via 32.5.16.10.1.rpz-ip.demo.rpz.threatstop.local
//
// A QNAME trigger's remote is the query name; an IP trigger's the address decoded from the rpz-ip owner
// name by plugin/pkg/rpzname (its network address for a shorter prefix; an owner with host bits set past
// its length is refused, as BIND loads no such trigger and so never logs one). Other triggers
// (CLIENT-IP, NSDNAME, NSIP) keep the query name. The action is BIND's policy word, lowercased
// (nxdomain, nodata, local-data, passthru, drop, tcp-only, cname).
func (p *Parser) bind(line string) (Event, bool) {
	c := strings.Index(line, "client ")
	if c < 0 {
		return Event{}, false
	}
	t, _ := p.leadingTime(line[:c])
	rest := line[c+len("client "):]
	if strings.HasPrefix(rest, "@0x") {
		_, rest, _ = strings.Cut(rest, " ")
	}
	client, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return Event{}, false
	}
	if h := strings.LastIndexByte(client, '#'); h >= 0 {
		client = client[:h]
	}
	ev := Event{Time: p.orNow(t), Format: BindRPZ, Dir: Outbound, Src: addr(client)}
	if !ev.Src.IsValid() {
		return Event{}, false
	}
	r := strings.Index(rest, "rpz ")
	if r < 0 {
		return Event{}, false
	}
	f := strings.Fields(rest[r+len("rpz "):])
	// TRIGGER POLICY rewrite QNAME/TYPE/CLASS via OWNER
	if len(f) < 6 || f[2] != "rewrite" || f[4] != "via" {
		return Event{}, false
	}
	trigger := f[0]
	ev.Action = strings.ToLower(f[1])
	qn, _, _ := strings.Cut(f[3], "/")
	if ev.QName, ok = domain.Normalize(qn); !ok {
		return Event{}, false
	}
	switch trigger {
	case "IP":
		owner := strings.ToLower(strings.TrimSuffix(f[5], "."))
		i := strings.Index(owner, ".rpz-ip")
		if i < 0 {
			return Event{}, false
		}
		pfx, err := rpzname.Decode(owner[:i])
		if err != nil {
			return Event{}, false
		}
		ev.Dst = pfx.Addr()
	default:
		ev.Name = ev.QName
	}
	return ev, true
}
