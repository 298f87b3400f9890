// Package peer tells who sent a DNS query: the client address that the DNSBL clients lists, the
// firewall's client rules and its client trigger all decide by.
package peer

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// Addr is the querier's address; unknown transports give the zero Addr, which no clients list holds. An
// address that wraps the real client's (PROXY protocol: RemoteAddr is then a *proxyproto.Addr, which
// implements Unwrap like request.Proto expects) is unwrapped: without that, every proxied query would
// have no address, and the firewall would pass it unfiltered.
func Addr(w dns.ResponseWriter) netip.Addr {
	a := w.RemoteAddr()
	for range 4 { // a wrapper of a wrapper at most, in practice
		var ip net.IP
		switch v := a.(type) {
		case *net.UDPAddr:
			if v != nil {
				ip = v.IP
			}
		case *net.TCPAddr:
			if v != nil {
				ip = v.IP
			}
		case interface{ Unwrap() net.Addr }:
			if a = v.Unwrap(); a == nil {
				return netip.Addr{}
			}
			continue
		default:
			return netip.Addr{}
		}
		addr, _ := netip.AddrFromSlice(ip)
		return addr.Unmap()
	}
	return netip.Addr{}
}

// Prefix parses an address (as a single-address prefix) or a prefix, masked: the form of clients lists
// and firewall rules.
func Prefix(s string) (netip.Prefix, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			p, err := netip.ParsePrefix(s)
			return p.Masked(), err
		}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
