package format

import (
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// dnsmasq: dnsmasq configuration lines that sink or redirect domains: "address=/d/ip", "address=/d/",
// "address=/d/#", "address=/d1/d2/.../ip", "server=/d/..." and "local=/d/". Each domain is listed with its
// subdomains, which is how dnsmasq matches them ("*.d" and ".d" are read as d). A line counts once and is
// all or nothing: one bad domain makes it invalid. "server=/d/#" (resolve d normally, an exception),
// "address=/#/..." (every domain), other options ("server=1.1.1.1", "ipset=...", "cache-size=...") are
// skipped. '#' lines are comments.
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
		default:
			st.Skipped++
			return
		}
		if !strings.HasPrefix(val, "/") {
			if key == "server" {
				st.Skipped++ // an upstream server for all domains
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
			st.Skipped++
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
				st.Skipped++ // every domain: not a list entry
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
