package zone

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// ParseIPTrigger decodes the labels in front of ".rpz-ip" (or ".rpz-client-ip", ".rpz-nsip") of an RPZ
// trigger into the prefix it stands for (BIND ARM, "Response Policy Zones"; draft-vixie-dnsop-dns-rpz
// §4.1): the prefix length, then the address in reverse order, IPv4 as four decimal octets
// (24.0.2.0.192 is 192.0.2.0/24) and IPv6 as eight 16-bit groups in hex, where "zz" stands for the run of
// zero groups that "::" would replace (128.1.zz.db8.2001 is 2001:db8::1/128). Host bits must be zero, as
// BIND requires; letter case does not matter.
func ParseIPTrigger(s string) (netip.Prefix, error) {
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return netip.Prefix{}, errors.New("too few labels")
	}
	bitsLen, err := strconv.Atoi(labels[0])
	if err != nil || labels[0] == "" || (len(labels[0]) > 1 && labels[0][0] == '0') || bitsLen < 1 {
		return netip.Prefix{}, errors.New("bad prefix length " + strconv.Quote(labels[0]))
	}
	rest := labels[1:]
	var addr netip.Addr
	if len(rest) == 4 && !hasZZ(rest) && allDecimal(rest) {
		var b [4]byte
		for i, l := range rest {
			v, err := strconv.Atoi(l)
			if err != nil || v > 255 || (len(l) > 1 && l[0] == '0') {
				return netip.Prefix{}, errors.New("bad IPv4 octet " + strconv.Quote(l))
			}
			b[3-i] = byte(v)
		}
		if bitsLen > 32 {
			return netip.Prefix{}, errors.New("IPv4 prefix length over 32")
		}
		addr = netip.AddrFrom4(b)
	} else {
		a, err := parseV6Labels(rest)
		if err != nil {
			return netip.Prefix{}, err
		}
		if bitsLen > 128 {
			return netip.Prefix{}, errors.New("IPv6 prefix length over 128")
		}
		addr = a
	}
	p := netip.PrefixFrom(addr, bitsLen)
	if p.Masked() != p {
		return netip.Prefix{}, errors.New("host bits set in " + p.String())
	}
	return p, nil
}

func hasZZ(labels []string) bool {
	for _, l := range labels {
		if strings.EqualFold(l, "zz") {
			return true
		}
	}
	return false
}

func allDecimal(labels []string) bool {
	for _, l := range labels {
		if l == "" {
			return false
		}
		for _, c := range l {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// parseV6Labels reads reversed 16-bit groups, "zz" at most once, into an address.
func parseV6Labels(rev []string) (netip.Addr, error) {
	var groups [8]uint16
	n := len(rev)
	zz := -1
	for i, l := range rev {
		if strings.EqualFold(l, "zz") {
			if zz >= 0 {
				return netip.Addr{}, errors.New(`"zz" twice`)
			}
			zz = i
		}
	}
	if (zz < 0 && n != 8) || (zz >= 0 && n > 8) || n == 0 {
		return netip.Addr{}, errors.New("wrong number of IPv6 groups")
	}
	// In address order: rev reversed.
	ordered := make([]string, n)
	for i, l := range rev {
		ordered[n-1-i] = l
	}
	pos := 0
	for _, l := range ordered {
		if strings.EqualFold(l, "zz") {
			pos += 8 - (n - 1) // the zero groups
			continue
		}
		if l == "" || len(l) > 4 {
			return netip.Addr{}, errors.New("bad IPv6 group " + strconv.Quote(l))
		}
		v, err := strconv.ParseUint(l, 16, 16)
		if err != nil {
			return netip.Addr{}, errors.New("bad IPv6 group " + strconv.Quote(l))
		}
		if pos >= 8 {
			return netip.Addr{}, errors.New("wrong number of IPv6 groups")
		}
		groups[pos] = uint16(v)
		pos++
	}
	if pos != 8 {
		return netip.Addr{}, errors.New("wrong number of IPv6 groups")
	}
	var b [16]byte
	for i, g := range groups {
		b[2*i], b[2*i+1] = byte(g>>8), byte(g)
	}
	return netip.AddrFrom16(b), nil
}

// FormatIPTrigger is the canonical trigger labels of p (without ".rpz-ip"), the inverse of
// ParseIPTrigger: the form BIND writes, "zz" for the longest run of two or more zero groups (the first of
// equal runs). Tests and the fuzz target use it to check round trips.
func FormatIPTrigger(p netip.Prefix) string {
	p = p.Masked()
	var b strings.Builder
	b.WriteString(strconv.Itoa(p.Bits()))
	a := p.Addr()
	if a.Is4() {
		o := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteByte('.')
			b.WriteString(strconv.Itoa(int(o[i])))
		}
		return b.String()
	}
	o := a.As16()
	var g [8]uint16
	for i := range g {
		g[i] = uint16(o[2*i])<<8 | uint16(o[2*i+1])
	}
	bestStart, bestLen := -1, 1
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > bestLen {
			bestStart, bestLen = i, j-i
		}
		i = j
	}
	for i := 7; i >= 0; i-- {
		if bestStart >= 0 && i >= bestStart && i < bestStart+bestLen {
			if i == bestStart {
				b.WriteString(".zz")
			}
			continue
		}
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(g[i]), 16))
	}
	return b.String()
}
