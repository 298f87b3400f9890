// Package logparse turns firewall and resolver log lines into events: who inside talked to what outside,
// in which direction, and what the device did. One file per format; Parser.Line tries each format's
// cheap marker first, so a line costs one or two substring searches before the format's own parser.
// A line no format recognises is reported as unknown, never as an error: logs are uploaded whole, with
// everything else the device writes.
package logparse

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Format names a log format.
type Format string

// The formats.
const (
	Netfilter     Format = "netfilter"       // iptables/nftables LOG lines (SRC= DST= PROTO=)
	ThreatstopSyn Format = "threatstop-sync" // netfilter lines with threatstop-sync's log prefix
	PF            Format = "pf"              // pflog as printed by tcpdump -n -e -ttt
	Decision      Format = "threatstop"      // threatstop firewall decision lines
	BindRPZ       Format = "bind-rpz"        // BIND "rpz QNAME NXDOMAIN rewrite" lines
	UnboundRPZ    Format = "unbound-rpz"     // Unbound "rpz: applied" lines
	ASA           Format = "asa"             // Cisco ASA deny messages
)

// Formats lists every format.
var Formats = []Format{Netfilter, ThreatstopSyn, PF, Decision, BindRPZ, UnboundRPZ, ASA}

// Direction is which way the connection or query went, seen from inside.
type Direction uint8

const (
	Unknown  Direction = iota
	Inbound            // from outside (the remote address is the source)
	Outbound           // from inside (the remote address or name is the destination)
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "in"
	case Outbound:
		return "out"
	}
	return "unknown"
}

// Event is one logged connection or query.
type Event struct {
	Time   time.Time
	Format Format
	Dir    Direction  // Unknown when the line does not say; see Orient
	Action string     // what the device did: drop, block, deny, nxdomain, ...
	Proto  string     // tcp, udp, icmp, ... (lowercase); "" for DNS events
	Src    netip.Addr // packet source (DNS events: the client)
	Dst    netip.Addr // packet destination (DNS events: an address trigger, else invalid)
	SPort  uint16
	DPort  uint16
	Name   string // DNS events: the listed name (normalised, no trailing dot); else ""
	QName  string // DNS events: the name asked
}

// Parser parses lines. The zero value works; set the fields before the first Line.
type Parser struct {
	// SyncPrefix is threatstop-sync's log prefix in front of "in " or "out "; default DefaultSyncPrefix.
	SyncPrefix string
	// Now completes timestamps without a year or date (BSD syslog, tcpdump delta times); default the
	// time of the first Line.
	Now time.Time
	// Loc is the time zone of timestamps without one; default UTC.
	Loc *time.Location
}

// DefaultSyncPrefix is the log prefix threatstop-sync puts in front of its nft/iptables drop rules.
const DefaultSyncPrefix = "THREATSTOP DROP"

// Line parses one line (without its newline). ok is false for a line no format recognises.
func (p *Parser) Line(line string) (ev Event, ok bool) {
	p.defaults()
	switch {
	case strings.Contains(line, "SRC=") && strings.Contains(line, "DST="):
		return p.netfilter(line)
	case strings.Contains(line, "plugin/threatstop: decision "):
		return p.decision(line)
	case strings.Contains(line, "%ASA-") || strings.Contains(line, "%FTD-"):
		return p.asa(line)
	case strings.Contains(line, "rpz: applied "):
		return p.unbound(line)
	case strings.Contains(line, " rpz ") && strings.Contains(line, " rewrite "):
		return p.bind(line)
	case strings.Contains(line, "rule ") && strings.Contains(line, " on "):
		return p.pf(line)
	}
	return Event{}, false
}

func (p *Parser) defaults() {
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	if p.Loc == nil {
		p.Loc = time.UTC
	}
	if p.SyncPrefix == "" {
		p.SyncPrefix = DefaultSyncPrefix
	}
}

// Orient names the two sides of an event: the remote address (outside) and the inside host. A known
// direction decides; otherwise listed(a) (is a on the customer's policy?) picks the listed side, and
// failing that the private side is inside.
func Orient(ev *Event, listed func(netip.Addr) bool) (remote, inside netip.Addr) {
	if ev.Name != "" || ev.Format == BindRPZ || ev.Format == UnboundRPZ || (ev.Format == Decision && !ev.Dst.IsValid()) {
		return ev.Dst, ev.Src
	}
	switch ev.Dir {
	case Inbound:
		return ev.Src, ev.Dst
	case Outbound:
		return ev.Dst, ev.Src
	}
	if listed != nil {
		ls, ld := ev.Src.IsValid() && listed(ev.Src), ev.Dst.IsValid() && listed(ev.Dst)
		if ls && !ld {
			ev.Dir = Inbound
			return ev.Src, ev.Dst
		}
		if ld && !ls {
			ev.Dir = Outbound
			return ev.Dst, ev.Src
		}
	}
	if isInside(ev.Src) && !isInside(ev.Dst) {
		ev.Dir = Outbound
		return ev.Dst, ev.Src
	}
	ev.Dir = Inbound
	return ev.Src, ev.Dst
}

func isInside(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || (a.Is4() && a.As4()[0] == 100 && a.As4()[1]&0xc0 == 64)
}

// fields of "KEY=value" pairs separated by spaces, as netfilter and threatstop write them.
func kv(s, key string) string {
	for {
		i := strings.Index(s, key)
		if i < 0 {
			return ""
		}
		if i == 0 || s[i-1] == ' ' {
			v := s[i+len(key):]
			if j := strings.IndexByte(v, ' '); j >= 0 {
				v = v[:j]
			}
			return v
		}
		s = s[i+len(key):]
	}
}

func port(s string) uint16 {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0
	}
	return uint16(n)
}

func addr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}
