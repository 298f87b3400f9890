package logparse

import (
	"net/netip"
	"strconv"
	"strings"
)

// rpzIP decodes an rpz-ip trigger's labels: "32.5.16.10.1" is 1.10.16.5/32, "48.zz.db8.2001" is
// 2001:db8::/48 (prefix length first, then the address reversed; IPv6 in 16-bit groups, zz for ::).
func rpzIP(s string) (netip.Prefix, bool) {
	l := strings.Split(s, ".")
	if len(l) < 2 {
		return netip.Prefix{}, false
	}
	bits, err := strconv.Atoi(l[0])
	if err != nil {
		return netip.Prefix{}, false
	}
	l = l[1:]
	for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
		l[i], l[j] = l[j], l[i]
	}
	var txt string
	if len(l) == 4 && !strings.Contains(s, "zz") {
		txt = strings.Join(l, ".")
	} else {
		for i, g := range l {
			if g == "zz" {
				l[i] = ""
			}
		}
		txt = strings.Join(l, ":")
		if strings.HasPrefix(txt, ":") || strings.HasSuffix(txt, ":") {
			if strings.HasPrefix(txt, ":") {
				txt = ":" + txt
			}
			if strings.HasSuffix(txt, ":") {
				txt += ":"
			}
		}
	}
	a, err := netip.ParseAddr(txt)
	if err != nil {
		return netip.Prefix{}, false
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p, true
}
