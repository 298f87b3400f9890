// Package rpzname is the one codec for the address triggers of a Response Policy Zone: the labels in
// front of "rpz-ip" (and of "rpz-nsip" and "rpz-client-ip", which write addresses the same way)
// (draft-vixie-dnsop-dns-rpz §4.1; BIND ARM, "Response Policy Zones"). The RPZ renderer writes them with
// Append, and the rpz feed parser (plugin/pkg/format), the BIND log parser (plugin/pkg/logparse) and
// threatstop-sync read them with Decode, so that all of them follow the same rules.
//
// A trigger's labels are the prefix length, then the address in reverse order: IPv4 as four decimal
// octets (24.0.2.0.192 is 192.0.2.0/24) and IPv6 as 16-bit groups in hex, where "zz" stands for the run
// of zero groups that "::" would replace (128.1.zz.db8.2001 is 2001:db8::1/128). Neither Encode nor
// Decode deals with the "rpz-ip" label or the zone's origin: they are the caller's.
//
// The rules, those of BIND's loader (lib/dns/rpz.c, name2ipkey):
//
//   - Host bits are refused. A trigger whose address has a bit set past its prefix length
//     (24.1.2.0.192: 192.0.2.1/24) is an error, not the /24 around it; BIND logs such a name ("too small
//     prefix length") and loads no trigger for it, so accepting it here would make threatstop see a
//     policy that BIND does not enforce.
//   - The length is 1 to 32 for IPv4 and 1 to 128 for IPv6, decimal without leading zeros. A /0 has no
//     trigger (BIND refuses it); a policy covers everything with the two /1 halves.
//   - Four labels without "zz" are IPv4, anything else IPv6 (as BIND decides). IPv4 octets are decimal
//     0 to 255 without leading zeros; IPv6 groups are 1 to 4 hex digits in either case; "zz" (either
//     case) appears at most once and stands for one or more zero groups; without it there are eight.
//   - A name in another form than the canonical one (a zz that is not the longest zero run, leading
//     zeros in a hex group, upper case) is accepted, as BIND accepts it: Decode reads what BIND loads.
//
// Encode and Append write the canonical form, which BIND writes and checks against: the prefix masked to
// its length, IPv6 groups in lower case without leading zeros, and the longest run of two or more zero
// groups (the first of equal runs, in address order; RFC 5952 §4.2.3) written "zz". Decode(Encode(p)) is
// p for every valid masked prefix of length 1 or more.
package rpzname

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Label is the last label of an address trigger of a response (the "IP" trigger).
const Label = "rpz-ip"

// Encode is the canonical trigger labels of p, without the "rpz-ip" label: 192.0.2.0/24 is
// "24.0.2.0.192", 2001:db8::1/128 is "128.1.zz.db8.2001". Host bits of p are cleared first. A /0 comes
// out as "0.0.0.0.0" or "0.zz", which Decode refuses (no resolver loads it).
func Encode(p netip.Prefix) string { return string(Append(nil, p)) }

// Append appends Encode(p) to dst.
func Append(dst []byte, p netip.Prefix) []byte {
	p = p.Masked()
	dst = strconv.AppendUint(dst, uint64(p.Bits()), 10)
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		for i := 3; i >= 0; i-- {
			dst = append(dst, '.')
			dst = strconv.AppendUint(dst, uint64(b[i]), 10)
		}
		return dst
	}
	b := a.As16()
	var g [8]uint16
	for i := range g {
		g[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	// The longest run of zero groups, at least two; strictly longer to replace an earlier run, so that of
	// equal runs the first in address order is the one (RFC 5952 §4.2.3, and BIND's ip2name).
	zStart, zLen := -1, 1
	for i := 0; i < 8; {
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > zLen {
			zStart, zLen = i, j-i
		}
		i = j + 1
	}
	for i := 7; i >= 0; i-- {
		dst = append(dst, '.')
		if i == zStart+zLen-1 {
			dst = append(dst, "zz"...)
			i = zStart
			continue
		}
		dst = strconv.AppendUint(dst, uint64(g[i]), 16)
	}
	return dst
}

// ErrHostBits is what Decode's error wraps when the address has bits set past the prefix length.
var ErrHostBits = errors.New("host bits set past the prefix length")

// Decode reads trigger labels, without the "rpz-ip" label, into the prefix they stand for, by the rules
// of the package comment. Its errors name the labels and what is wrong with them; one for host bits
// wraps ErrHostBits. It does not allocate unless it fails.
func Decode(s string) (netip.Prefix, error) {
	lenLabel, rest, ok := cut(s)
	if !ok {
		return netip.Prefix{}, bad(s, "too few labels")
	}
	bits, ok := decimal(lenLabel, 3)
	if !ok || bits < 1 || bits > 128 {
		return netip.Prefix{}, bad(s, "bad prefix length "+strconv.Quote(lenLabel))
	}
	n, zz := 0, false
	for l, r, more := "", rest, true; more; {
		l, r, more = cut(r)
		n++
		zz = zz || isZZ(l)
	}
	var a netip.Addr
	if n == 4 && !zz {
		if bits > 32 {
			return netip.Prefix{}, bad(s, "IPv4 prefix length over 32")
		}
		var b [4]byte
		for i, l, r := 3, "", rest; i >= 0; i-- {
			l, r, _ = cut(r)
			v, ok := decimal(l, 3)
			if !ok || v > 255 {
				return netip.Prefix{}, bad(s, "bad IPv4 octet "+strconv.Quote(l))
			}
			b[i] = byte(v)
		}
		a = netip.AddrFrom4(b)
	} else {
		switch {
		case n > 8:
			return netip.Prefix{}, bad(s, "more than 8 IPv6 groups")
		case n < 8 && !zz:
			return netip.Prefix{}, bad(s, "fewer than 8 IPv6 groups and no zz")
		}
		// vals in label order (the last group first); z is the label index of zz.
		var vals [8]uint16
		z := -1
		for i, l, r := 0, "", rest; i < n; i++ {
			l, r, _ = cut(r)
			if isZZ(l) {
				if z >= 0 {
					return netip.Prefix{}, bad(s, `"zz" twice`)
				}
				z = i
				continue
			}
			v, ok := hex16(l)
			if !ok {
				return netip.Prefix{}, bad(s, "bad IPv6 group "+strconv.Quote(l))
			}
			vals[i] = v
		}
		var g [8]uint16
		if z < 0 {
			for i := 0; i < 8; i++ {
				g[7-i] = vals[i]
			}
		} else {
			// Labels before zz are the groups at the end of the address, those after it the groups at
			// its start.
			for i := 0; i < z; i++ {
				g[7-i] = vals[i]
			}
			for i := z + 1; i < n; i++ {
				g[n-1-i] = vals[i]
			}
		}
		var b [16]byte
		for i, v := range g {
			b[2*i], b[2*i+1] = byte(v>>8), byte(v)
		}
		a = netip.AddrFrom16(b)
	}
	p := netip.PrefixFrom(a, bits)
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("rpz-ip trigger %q (%s): %w", s, p, ErrHostBits)
	}
	return p, nil
}

func bad(s, why string) error { return fmt.Errorf("rpz-ip trigger %q: %s", s, why) }

// cut splits off the first label; more is false for the last.
func cut(s string) (label, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func isZZ(l string) bool { return len(l) == 2 && l[0]|0x20 == 'z' && l[1]|0x20 == 'z' }

// decimal parses 1 to max decimal digits without a leading zero.
func decimal(s string, max int) (int, bool) {
	if s == "" || len(s) > max || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// hex16 parses 1 to 4 hex digits.
func hex16(s string) (uint16, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	var v uint16
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}
