package format

import (
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
	"github.com/threatstop/threatstop/plugin/pkg/rpzname"
)

// rpz: a DNS Response Policy Zone in zone-file text. Records have an owner (relative to $ORIGIN, absolute
// with a trailing dot, "@" for the origin, or inherited from the previous record when the line starts
// with a blank), an optional TTL and class, a type and its data; parentheses continue a record over lines
// and ';' starts a comment. The zone apex is the owner of the SOA record (or the first $ORIGIN, when no
// SOA comes first); owners are read relative to it, and an owner outside it is invalid. Without $ORIGIN
// the origin is the SOA's owner, so with "@ SOA" and no $ORIGIN (the apex is then unknown, as the zone's
// name is in named.conf), relative owners are the trigger names themselves.
//
// Triggers: "name" (exactly that name) and "*.name" (listed as the name and its subdomains);
// "<len>.<reversed IPv4 octets>.rpz-ip" and "<len>.<reversed IPv6 groups, zz for ::>.rpz-ip" are prefixes,
// read by plugin/pkg/rpzname with BIND's rules: a trigger with host bits set past its length
// (24.1.2.0.192.rpz-ip) or of length 0 is invalid, as BIND loads no trigger for it.
// Any action lists the trigger (CNAME ., CNAME *., CNAME rpz-drop., CNAME rpz-tcp-only., local data such
// as A, AAAA or a CNAME redirect) except "CNAME rpz-passthru." (or, the old way, a CNAME to the trigger name itself),
// which allows and is skipped. rpz-nsdname, rpz-nsip and rpz-client-ip triggers are skipped. SOA and NS
// records at the apex, $TTL and $ORIGIN are not counted; $INCLUDE and $GENERATE are invalid.
type rpz struct{}

func init() { register(Format{Name: "rpz", New: noOptions(rpz{})}) }

type rpzParser struct {
	b  *entryset.Builder
	st *Stats

	origin    string // current $ORIGIN, lowercase, no trailing dot; "" is the root
	originSet bool   // by $ORIGIN
	apex      string
	apexSet   bool // by $ORIGIN (apexBySOA false) or by the SOA
	apexBySOA bool
	owner     string // previous record's owner, fully qualified
	hasOwner  bool
}

func (rpz) Parse(data string, b *entryset.Builder, st *Stats) {
	p := rpzParser{b: b, st: st}
	var rec []string
	depth, recLine, recText, inherit := 0, 0, "", false
	eachRawLine(data, st, func(n int, line string) {
		var delta int
		var ok bool
		if depth == 0 {
			rec = rec[:0]
		}
		rec, delta, ok = zoneTokens(line, rec)
		if depth == 0 {
			if len(rec) == 0 && delta == 0 && ok {
				return
			}
			recLine, recText = n, strings.TrimSpace(line)
			inherit = line != "" && (line[0] == ' ' || line[0] == '\t')
		}
		depth += delta
		switch {
		case !ok:
			st.invalid(recLine, recText, "unclosed quote")
			depth = 0
		case depth < 0:
			st.invalid(recLine, recText, "')' without '('")
			depth = 0
		case depth == 0:
			p.record(recLine, recText, inherit, rec)
		}
	})
	if depth > 0 {
		st.invalid(recLine, recText, "'(' without ')'")
	}
}

// zoneTokens appends the blank-separated tokens of one zone-file line to dst, without a ';' comment or
// parentheses, and returns the change in parenthesis depth; ok is false for an unclosed quote.
func zoneTokens(line string, dst []string) (toks []string, delta int, ok bool) {
	for i := 0; i < len(line); {
		switch c := line[i]; c {
		case ' ', '\t', '\r', '\v', '\f':
			i++
		case ';':
			return dst, delta, true
		case '(':
			delta++
			i++
		case ')':
			delta--
			i++
		case '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					j++
				}
			}
			if j >= len(line) {
				return dst, delta, false
			}
			dst = append(dst, line[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t\r\v\f;()\"", rune(line[j])) {
				j++
			}
			dst = append(dst, line[i:j])
			i = j
		}
	}
	return dst, delta, true
}

// resolve makes a zone-file name fully qualified: lowercase, no trailing dot, "" for the root.
func (p *rpzParser) resolve(name string) (string, bool) {
	if name == "@" {
		return p.origin, true
	}
	if strings.ContainsAny(name, "\\\"") {
		return "", false // escapes and quotes: no trigger name has them
	}
	if name == "." {
		return "", true
	}
	if abs, ok := strings.CutSuffix(name, "."); ok {
		name = abs
	} else if p.origin != "" {
		name += "." + p.origin
	}
	if name == "" || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return "", false
	}
	return strings.ToLower(name), true
}

// relative returns name relative to the apex ("" for the apex itself), or false when it is outside.
func (p *rpzParser) relative(name string) (string, bool) {
	switch {
	case p.apex == "":
		return name, true
	case name == p.apex:
		return "", true
	case strings.HasSuffix(name, p.apex) && len(name) > len(p.apex) && name[len(name)-len(p.apex)-1] == '.':
		return name[:len(name)-len(p.apex)-1], true
	}
	return "", false
}

func isZoneClass(s string) bool {
	switch strings.ToUpper(s) {
	case "IN", "CH", "HS", "CS", "ANY":
		return true
	}
	return false
}

// isZoneTTL reports whether s is a TTL: seconds, or numbers each with a unit as BIND writes them (1h30m;
// "1h2" is no TTL).
func isZoneTTL(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	digits, units := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i] | 0x20; {
		case s[i] >= '0' && s[i] <= '9':
			digits = true
		case digits && (c == 's' || c == 'm' || c == 'h' || c == 'd' || c == 'w'):
			digits, units = false, true
		default:
			return false
		}
	}
	return !units || !digits
}

func (p *rpzParser) record(n int, text string, inherit bool, toks []string) {
	if len(toks) == 0 {
		p.st.invalid(n, text, "no record")
		return
	}
	if !inherit && strings.HasPrefix(toks[0], "$") {
		p.directive(n, text, toks)
		return
	}
	var owner string
	switch {
	case inherit && !p.hasOwner:
		p.st.invalid(n, text, "no previous owner to inherit")
		return
	case inherit:
		owner = p.owner
	default:
		var ok bool
		if owner, ok = p.resolve(toks[0]); !ok {
			p.hasOwner = false
			p.st.invalid(n, text, "bad owner name")
			return
		}
		toks = toks[1:]
		p.owner, p.hasOwner = owner, true
	}
	for k := 0; k < 2 && len(toks) > 0 && (isZoneTTL(toks[0]) || isZoneClass(toks[0])); k++ {
		toks = toks[1:]
	}
	if len(toks) < 2 {
		p.st.invalid(n, text, "want [ttl] [class] type data")
		return
	}
	typ, rdata := strings.ToUpper(toks[0]), toks[1:]
	if typ == "SOA" {
		if !p.apexSet || !p.apexBySOA {
			p.apex, p.apexSet, p.apexBySOA = owner, true, true
			if !p.originSet {
				p.origin = owner // relative names are relative to the zone, as when the zone is loaded
			}
		}
		if owner != p.apex {
			p.st.invalid(n, text, "SOA below the apex")
		}
		return
	}
	rel, ok := p.relative(owner)
	switch {
	case !ok:
		p.st.invalid(n, text, "owner outside the zone origin")
		return
	case rel == "" && typ == "NS":
		return
	case rel == "", typ == "NS":
		p.st.skip("record") // the apex's own records, delegations
		return
	}
	if !p.validAction(typ, rdata) {
		p.st.invalid(n, text, "bad "+typ+" data")
		return
	}
	if typ == "CNAME" {
		target := strings.ToLower(strings.TrimSuffix(rdata[0], "."))
		if target == "rpz-passthru" || target == rel {
			p.st.skip("exception")
			return
		}
	}
	last := rel
	if i := strings.LastIndexByte(rel, '.'); i >= 0 {
		last = rel[i+1:]
	}
	switch last {
	case "rpz-nsdname", "rpz-nsip", "rpz-client-ip":
		p.st.skip("trigger")
	case "rpz-ip":
		pfx, err := rpzname.Decode(strings.TrimSuffix(rel, ".rpz-ip"))
		if err != nil || !p.b.AddPrefix(pfx) {
			p.st.invalid(n, text, "bad rpz-ip trigger")
			return
		}
		p.st.Entries++
	default:
		if !addName(rel, p.b, p.st) {
			p.st.invalid(n, text, "bad trigger name")
		}
	}
}

// validAction checks the data of a policy record: one name for CNAME, one address for A and AAAA, and
// something for any other type.
func (p *rpzParser) validAction(typ string, rdata []string) bool {
	switch typ {
	case "CNAME", "DNAME":
		return len(rdata) == 1
	case "A", "AAAA":
		a, err := netip.ParseAddr(rdata[0])
		return len(rdata) == 1 && err == nil && a.Is4() == (typ == "A") && a.Zone() == ""
	}
	if typ[0] < 'A' || typ[0] > 'Z' {
		return false
	}
	for i := 0; i < len(typ); i++ {
		if c := typ[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (p *rpzParser) directive(n int, text string, toks []string) {
	switch strings.ToUpper(toks[0]) {
	case "$TTL":
		if len(toks) != 2 || !isZoneTTL(toks[1]) {
			p.st.invalid(n, text, "bad $TTL")
		}
	case "$ORIGIN":
		if len(toks) != 2 || toks[1] == "@" {
			p.st.invalid(n, text, "bad $ORIGIN")
			return
		}
		o, ok := p.resolve(toks[1])
		if !ok {
			p.st.invalid(n, text, "bad $ORIGIN")
			return
		}
		p.origin, p.originSet = o, true
		if !p.apexSet {
			p.apex, p.apexSet = o, true
		}
	default:
		p.st.invalid(n, text, "unsupported directive")
	}
}
