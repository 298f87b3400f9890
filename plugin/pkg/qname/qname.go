// Package qname decodes the part of a DNSxL query name in front of the policy label (RFC 5782 §2): a
// reversed IPv4 address as four decimal labels, a reversed IPv6 address as 32 nibble labels, or a domain
// name. Decoding allocates nothing.
package qname

import (
	"net/netip"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
)

// Kind is what a query name holds.
type Kind uint8

const (
	Invalid Kind = iota // neither an address form nor a valid domain name
	Addr                // Query.Addr is set
	Name                // Query.Name is set
)

// Query is a decoded query name.
type Query struct {
	Kind Kind
	Addr netip.Addr
	Name string // normalised: lowercase, no trailing dot
}

// Decode decodes s, the labels in front of the policy label with no trailing dot, in any letter case.
// Four labels that are all decimal are an IPv4 address or nothing: "1.2.3.256" and "01.2.3.4" are
// invalid, never a name. 32 single-nibble labels are an IPv6 address.
func Decode(s string) Query {
	if a, ok := decode4(s); ok {
		return Query{Kind: Addr, Addr: a}
	}
	if a, ok := decode6(s); ok {
		return Query{Kind: Addr, Addr: a}
	}
	if len(s) > 0 && s[len(s)-1] != '.' {
		if name, ok := domain.NormalizeASCII(s); ok { // wire names are bytes, never IDN text
			return Query{Kind: Name, Name: name}
		}
	}
	return Query{}
}

// decode4 parses "d.c.b.a" as a.b.c.d: exactly four labels of 1 to 3 digits with no leading zero.
func decode4(s string) (netip.Addr, bool) {
	var a [4]byte
	octet := 3
	v, digits := 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || octet < 0 || v > 255 {
				return netip.Addr{}, false
			}
			a[octet] = byte(v)
			octet--
			v, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits == 3 || (digits == 1 && v == 0) {
			return netip.Addr{}, false
		}
		v = v*10 + int(c-'0')
		digits++
	}
	return netip.AddrFrom4(a), octet == -1
}

// decode6 parses 32 reversed nibble labels, "b.a.9.8...0.0.2" (63 bytes).
func decode6(s string) (netip.Addr, bool) {
	if len(s) != 63 {
		return netip.Addr{}, false
	}
	var a [16]byte
	for i := 0; i < 32; i++ {
		if i < 31 && s[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		n, ok := nibble(s[2*i])
		if !ok {
			return netip.Addr{}, false
		}
		// Label i is nibble 31-i of the address, most significant first.
		j := 31 - i
		if j%2 == 0 {
			a[j/2] |= n << 4
		} else {
			a[j/2] |= n
		}
	}
	return netip.AddrFrom16(a), true
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
