package format

import (
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// dnsmasq: dnsmasq configuration lines that sink or redirect domains: "address=/d/ip", "address=/d/",
// "address=/d/#", "address=/d1/d2/.../ip", "server=/d/..." and "local=/d/". Each domain is listed with its
// subdomains, which is how dnsmasq matches them ("*.d" and ".d" are read as d). "bogus-nxdomain=ip[/n]"
// lists the address (or prefix) that a resolver answers with for names that do not exist. A line counts once and is
// all or nothing: one bad domain makes it invalid. Skipped, with their reasons: "server=/d/#" (resolve d
// normally, "exception"), "address=/#/..." ("all-domains"), "server=1.1.1.1" ("upstream"), other options
// ("ipset=...", "cache-size=...": "option"). '#' lines are comments.
type dnsmasq struct{}

func init() { register(Format{Name: "dnsmasq", New: noOptions(dnsmasq{})}) }

func (dnsmasq) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		key, val, _ := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		switch key {
		case "address", "server", "local":
		case "bogus-nxdomain":
			// The address (dnsmasq 2.86: or prefix) of a resolver's fake answers for missing names, such
			// as an ISP's search page: listed, so that answers pointing there can be acted on.
			if !addNet(val, b, st) {
				st.invalid(n, line, "bogus-nxdomain needs an address or prefix")
			}
			return
		default:
			st.skip("option") // cache-size=, ipset=, domain-needed, ...
			return
		}
		if !strings.HasPrefix(val, "/") {
			if key == "server" {
				st.skip("upstream") // an upstream server for all domains
				return
			}
			st.invalid(n, line, "want "+key+"=/domain/...")
			return
		}
		parts := strings.Split(val[1:], "/")
		if len(parts) < 2 {
			st.invalid(n, line, "want "+key+"=/domain/...")
			return
		}
		names, target := parts[:len(parts)-1], parts[len(parts)-1]
		switch {
		case key == "server" && target == "#":
			st.skip("exception")
			return
		case key == "address" && target != "" && target != "#":
			if _, err := netip.ParseAddr(target); err != nil {
				st.invalid(n, line, "address target is not an address")
				return
			}
		case key == "local" && target != "":
			st.invalid(n, line, "local=/domain/ takes no target")
			return
		}
		for _, d := range names {
			if d == "#" {
				st.skip("all-domains") // every domain: not a list entry
				return
			}
			if _, ok := listableName(dnsmasqName(d)); !ok {
				st.invalid(n, line, "not a domain")
				return
			}
		}
		for _, d := range names {
			addDomain(dnsmasqName(d), true, b, st)
		}
	})
}

func dnsmasqName(d string) string {
	d = strings.TrimPrefix(d, "*")
	return strings.TrimPrefix(d, ".")
}
