// Package zone holds a policy's RPZ zone as the device last received it: its serial and the set of its
// records (owner relative to the origin, type, data), and reads the firewall material out of it: the
// rpz-ip triggers decoded into prefixes (by plugin/pkg/rpzname, with BIND's rules: one with host bits
// set is bad) with the action of each, the QNAME triggers (names, which a packet filter cannot use:
// counted and listed), and whatever else the zone holds (counted as ignored).
//
// Cost: a record is a map key of three strings (two headers and the owner's and data's bytes, plus the
// map's share). Content decodes every record once, about 1 µs per record, 330 bytes of garbage each
// (BenchmarkContent, 1M records); FromRR about 0.7 µs (BenchmarkFromRR).
package zone

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/threatstop/threatstop/plugin/pkg/rpzname"
)

// Record is one record of the zone below or at the apex, SOA excluded: the owner relative to the origin
// ("@" for the apex), lowercase; the type; the data in presentation form. Two records are the same when
// these are (TTL and class do not count, as in IXFR).
type Record struct {
	Owner string
	Type  uint16
	Data  string
}

// String is "OWNER TYPE DATA", the form of the state file and of the tests.
func (r Record) String() string {
	return r.Owner + " " + dns.TypeToString[r.Type] + " " + r.Data
}

// ParseRecord reads the String form back.
func ParseRecord(s string) (Record, error) {
	owner, rest, ok1 := strings.Cut(s, " ")
	typ, data, ok2 := strings.Cut(rest, " ")
	t, ok3 := dns.StringToType[typ]
	if !ok1 || !ok2 || !ok3 || owner == "" {
		return Record{}, fmt.Errorf("bad record %q", s)
	}
	return Record{Owner: owner, Type: t, Data: data}, nil
}

// FromRR is the record of rr in the zone origin; rr must be at or below the origin.
func FromRR(rr dns.RR, origin string) (Record, error) {
	h := rr.Header()
	name := strings.ToLower(h.Name)
	origin = strings.ToLower(dns.Fqdn(origin))
	var owner string
	switch {
	case name == origin:
		owner = "@"
	case strings.HasSuffix(name, "."+origin):
		owner = strings.TrimSuffix(name, "."+origin)
	case origin == ".":
		owner = strings.TrimSuffix(name, ".")
	default:
		return Record{}, fmt.Errorf("record %s is outside the zone %s", h.Name, origin)
	}
	full := rr.String()
	head := h.String()
	data := strings.TrimPrefix(full, head)
	if data == full {
		return Record{}, fmt.Errorf("record %q: cannot split header and data", full)
	}
	if h.Rrtype == dns.TypeCNAME {
		data = strings.ToLower(data)
	}
	return Record{Owner: owner, Type: h.Rrtype, Data: data}, nil
}

// Zone is one version of the zone.
type Zone struct {
	Origin  string // fully qualified, lowercase
	Serial  uint32
	Records map[Record]struct{}
}

// New is an empty zone.
func New(origin string, serial uint32) *Zone {
	return &Zone{Origin: strings.ToLower(dns.Fqdn(origin)), Serial: serial, Records: map[Record]struct{}{}}
}

// Clone copies z (the records too).
func (z *Zone) Clone() *Zone {
	c := &Zone{Origin: z.Origin, Serial: z.Serial, Records: make(map[Record]struct{}, len(z.Records))}
	for r := range z.Records {
		c.Records[r] = struct{}{}
	}
	return c
}

// Sorted returns the records in String order (state file, tests).
func (z *Zone) Sorted() []string {
	out := make([]string, 0, len(z.Records))
	for r := range z.Records {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

// Action is what an RPZ record tells a resolver to do with a trigger.
type Action uint8

// Actions, in the default order of severity (the device keeps the most severe first when it runs out of
// room). Passthru is an allow entry; TCPOnly blocks nothing.
const (
	Drop     Action = iota // CNAME rpz-drop.
	NXDomain               // CNAME .
	NoData                 // CNAME *.
	Redirect               // local data: A, AAAA, CNAME to a name, or any other type
	Passthru               // CNAME rpz-passthru.
	TCPOnly                // CNAME rpz-tcp-only.
)

var actionNames = [...]string{"drop", "nxdomain", "nodata", "redirect", "passthru", "tcp-only"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action%d", a)
}

// ParseAction reads an action name.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if strings.EqualFold(n, s) {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown action %q (want one of %s)", s, strings.Join(actionNames[:], ", "))
}

// Blocks reports whether a firewall drops traffic of a trigger with this action.
func (a Action) Blocks() bool { return a <= Redirect }

// actionOf is the action of one record.
func actionOf(r Record) Action {
	if r.Type != dns.TypeCNAME {
		return Redirect
	}
	switch r.Data {
	case ".":
		return NXDomain
	case "*.":
		return NoData
	case "rpz-drop.":
		return Drop
	case "rpz-passthru.":
		return Passthru
	case "rpz-tcp-only.":
		return TCPOnly
	}
	return Redirect
}

// IPTrigger is an rpz-ip trigger: a prefix and the action of its records.
type IPTrigger struct {
	Prefix netip.Prefix
	Action Action
}

// NameTrigger is a QNAME trigger: the name relative to the origin ("*.name" for subdomains).
type NameTrigger struct {
	Name   string
	Action Action
}

// Content is what a zone says, read for a firewall.
type Content struct {
	IP       []IPTrigger   // in address order, one per prefix
	Names    []NameTrigger // in name order
	Ignored  map[string]int
	Bad      int      // records that could not be decoded
	BadFirst []string // the first few of them, with the reason
}

// maxBadShown bounds BadFirst.
const maxBadShown = 5

// Content decodes every record. A trigger with several records (A and AAAA of a redirect) has one action;
// where records of one trigger disagree, passthru wins (allow always wins), then the most severe.
func (z *Zone) Content() Content {
	c := Content{Ignored: map[string]int{}}
	ips := map[netip.Prefix]Action{}
	names := map[string]Action{}
	bad := func(r Record, err error) {
		c.Bad++
		if len(c.BadFirst) < maxBadShown {
			c.BadFirst = append(c.BadFirst, fmt.Sprintf("%s: %v", r, err))
		}
	}
	for r := range z.Records {
		if r.Owner == "@" {
			continue // NS and anything else at the apex
		}
		a := actionOf(r)
		kind, labels := triggerKind(r.Owner)
		switch kind {
		case "rpz-ip":
			p, err := rpzname.Decode(labels)
			if err != nil {
				bad(r, err)
				continue
			}
			if old, ok := ips[p]; ok {
				a = stronger(old, a)
			}
			ips[p] = a
		case "":
			if old, ok := names[r.Owner]; ok {
				a = stronger(old, a)
			}
			names[r.Owner] = a
		default:
			c.Ignored[kind]++
		}
	}
	c.IP = make([]IPTrigger, 0, len(ips))
	for p, a := range ips {
		c.IP = append(c.IP, IPTrigger{p, a})
	}
	slices.SortFunc(c.IP, func(x, y IPTrigger) int {
		if d := x.Prefix.Addr().Compare(y.Prefix.Addr()); d != 0 {
			return d
		}
		return x.Prefix.Bits() - y.Prefix.Bits()
	})
	c.Names = make([]NameTrigger, 0, len(names))
	for n, a := range names {
		c.Names = append(c.Names, NameTrigger{n, a})
	}
	slices.SortFunc(c.Names, func(x, y NameTrigger) int { return strings.Compare(x.Name, y.Name) })
	return c
}

// stronger is the action that decides when two records of one trigger disagree.
func stronger(a, b Action) Action {
	if a == Passthru || b == Passthru {
		return Passthru
	}
	return min(a, b)
}

// triggerKind splits an owner into its RPZ trigger kind (the last label: rpz-ip, rpz-client-ip, rpz-nsip,
// rpz-nsdname; "" for a QNAME trigger) and the labels in front of it.
func triggerKind(owner string) (kind, labels string) {
	i := strings.LastIndexByte(owner, '.')
	if i < 0 {
		return "", owner
	}
	switch last := owner[i+1:]; last {
	case "rpz-ip", "rpz-client-ip", "rpz-nsip", "rpz-nsdname":
		return last, owner[:i]
	}
	return "", owner
}
