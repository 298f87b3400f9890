package format

import (
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// rbldnsd-ip4set, rbldnsd-ip4trie, rbldnsd-ip6trie, rbldnsd-dnset: rbldnsd(8) data files, one format per
// dataset type, named as rbldnsd names them (zone:ip4set:file). An entry is one a line, optionally
// followed by its value (":127.0.0.3:text", ":3", or text alone) or a '#'/';' comment; the value's A and
// TXT are not kept, as an entry here has no place for them. '#' and ';' lines are comments; "$SOA",
// "$NS", "$TTL", "$n" and other '$' lines are skipped ("directive"), as are ':A:TXT' lines that set the
// default value ("default-value"). A '!' entry is an exclusion, which rbldnsd subtracts from the entries
// that cover it; an entry set has no exclusions, so it is skipped ("exclusion") and the covering entry is
// listed whole: a listed range with excluded addresses lists them too.
//
//   - ip4set: "1.2.3.4", a prefix of octets "1.2.3" (1.2.3.0/24), "1.2.3.0/24" (also "1.2.3/24"), and
//     ranges "1.2.3.4-1.2.3.10", "1.2.3.4-10" (a last octet alone replaces the first address's last
//     written one) or "1.2-1.5" (prefixes, the second completed with 255s), listed as the fewest prefixes.
//   - ip4trie: the CIDR forms only, no ranges.
//   - ip6trie: "2001:db8::/32", "2001:db8::1", and groups without "::" whose missing ones are zero
//     ("2001:db8:1" is 2001:db8:1::/48, four groups a /64).
//   - dnset: "example.com" lists the name only; ".example.com" the name and its subdomains; "*.example.com",
//     which rbldnsd reads as the subdomains without the name, lists the name and its subdomains too, as
//     *.name does in the wildcard format.
//
// As rbldnsd does, a prefix with host bits set past its length (1.2.3.4/24) is invalid, not masked, and a
// bare number ("10", "2001") is no address.
type rbldnsd struct{ kind rbldnsdKind }

type rbldnsdKind uint8

const (
	ip4set rbldnsdKind = iota
	ip4trie
	ip6trie
	dnset
)

func init() {
	for name, k := range map[string]rbldnsdKind{"rbldnsd-ip4set": ip4set, "rbldnsd-ip4trie": ip4trie,
		"rbldnsd-ip6trie": ip6trie, "rbldnsd-dnset": dnset} {
		register(Format{Name: name, New: noOptions(rbldnsd{k})})
	}
}

func (p rbldnsd) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		switch {
		case isComment(line):
			return
		case line[0] == '$':
			st.skip("directive")
			return
		case line[0] == ':' && !(p.kind == ip6trie && strings.HasPrefix(line, "::")):
			st.skip("default-value")
			return
		}
		entry, excluded := line, false
		if entry[0] == '!' {
			entry, excluded = strings.TrimLeft(entry[1:], " \t"), true
		}
		// The entry ends at a blank, a comment or a value (":..."; in an IPv6 address ':' is the address's).
		stop := " \t#;:"
		if p.kind == ip6trie {
			stop = " \t#;"
		}
		if i := strings.IndexAny(entry, stop); i >= 0 {
			entry = entry[:i]
		}
		var prefixes []netip.Prefix
		var name string
		var sub, ok bool
		switch p.kind {
		case ip4set, ip4trie:
			prefixes, ok = rbldnsdIP4(entry, p.kind == ip4set)
		case ip6trie:
			var pfx netip.Prefix
			pfx, ok = rbldnsdIP6(entry)
			prefixes = []netip.Prefix{pfx}
		case dnset:
			name, sub = entry, false
			if rest, cut := strings.CutPrefix(name, "*."); cut {
				name, sub = rest, true
			} else if rest, cut := strings.CutPrefix(name, "."); cut {
				name, sub = rest, true
			}
			name, ok = listableName(name)
		}
		switch {
		case !ok:
			st.invalid(n, line, "not an entry of an rbldnsd "+p.kind.String())
		case excluded:
			st.skip("exclusion")
		case p.kind == dnset:
			b.AddName(name, sub)
			st.Entries++
		default:
			for _, pfx := range prefixes {
				b.AddPrefix(pfx)
				st.Entries++
			}
		}
	})
}

func (k rbldnsdKind) String() string {
	return [...]string{"ip4set", "ip4trie", "ip6trie", "dnset"}[k]
}

// rbldnsdIP4 parses an rbldnsd IPv4 entry: a prefix of octets with an optional "/bits", or with ranges a
// range of two prefixes; it returns the prefixes that cover it.
func rbldnsdIP4(s string, ranges bool) ([]netip.Prefix, bool) {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		if !ranges {
			return nil, false
		}
		a, na, ok1 := ip4Octets(lo)
		z, nz, ok2 := ip4Octets(hi)
		if !ok1 || !ok2 {
			return nil, false
		}
		if nz == 1 && na > 1 { // "1.2.3.4-10": 10 takes the place of 4
			shift := 8 * (4 - na)
			z = a&^(0xff<<shift) | z>>(8*(na-1))
			nz = na
		} else if nz != na {
			return nil, false // "1.2-1.2.3.4": rbldnsd refuses it too
		}
		z |= 1<<(32-8*nz) - 1
		var out []netip.Prefix
		ok := rangePrefixes(v4(a), v4(z), func(p netip.Prefix) { out = append(out, p) })
		return out, ok
	}
	addr, bitsText, hasBits := strings.Cut(s, "/")
	a, octets, ok := ip4Octets(addr)
	if !ok {
		return nil, false
	}
	bits := 8 * octets
	if hasBits {
		if bits, ok = atoi(bitsText); !ok || bits > 32 {
			return nil, false
		}
	} else if octets == 1 {
		return nil, false // a bare number
	}
	p := netip.PrefixFrom(v4(a), bits)
	if p.Masked() != p {
		return nil, false // host bits past the length
	}
	return []netip.Prefix{p}, true
}

// ip4Octets parses 1 to 4 dotted decimal octets into the high bytes of an address.
func ip4Octets(s string) (a uint32, octets int, ok bool) {
	for octets < 4 {
		field, rest, more := strings.Cut(s, ".")
		o, ok := atoi(field)
		if !ok || len(field) > 3 || o > 255 {
			return 0, 0, false
		}
		a |= uint32(o) << (24 - 8*octets)
		octets++
		if !more {
			return a, octets, true
		}
		s = rest
	}
	return 0, 0, false // a fifth octet
}

func v4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// rbldnsdIP6 parses an rbldnsd IPv6 entry: an address with "::", or 2 to 8 groups without it whose
// missing groups are zero (1 group only with "/bits"), and an optional "/bits".
func rbldnsdIP6(s string) (netip.Prefix, bool) {
	addr, bitsText, hasBits := strings.Cut(s, "/")
	var a netip.Addr
	bits := 128
	if strings.Contains(addr, "::") {
		var err error
		if a, err = netip.ParseAddr(addr); err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Prefix{}, false
		}
	} else {
		var b [16]byte
		groups := 0
		for f := range strings.SplitSeq(addr, ":") {
			if groups == 8 || f == "" || len(f) > 4 {
				return netip.Prefix{}, false
			}
			v := 0
			for i := 0; i < len(f); i++ {
				d, ok := hexDigit(f[i])
				if !ok {
					return netip.Prefix{}, false
				}
				v = v<<4 | d
			}
			b[2*groups], b[2*groups+1] = byte(v>>8), byte(v)
			groups++
		}
		if groups == 1 && !hasBits {
			return netip.Prefix{}, false // a bare number
		}
		a, bits = netip.AddrFrom16(b), 16*groups
	}
	if hasBits {
		var ok bool
		if bits, ok = atoi(bitsText); !ok || bits > 128 {
			return netip.Prefix{}, false
		}
	}
	p := netip.PrefixFrom(a, bits)
	return p, p.Masked() == p
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}
