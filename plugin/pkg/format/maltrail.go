package format

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// maltrail: Maltrail static trails, one a line: a domain (listed with its subdomains, as Maltrail matches
// trails), an IPv4 or IPv6 address or prefix, or "address:port" / "[v6]:port" / "domain:port" (the port
// is dropped). URLs, path trails ("domain/path", "/path", "//////x") and hashes are skipped. '#' starts a
// comment, also after data following whitespace.
type maltrail struct{}

func init() { register(Format{Name: "maltrail", New: noOptions(maltrail{})}) }

func (maltrail) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if line == "" || line[0] == '#' {
			return
		}
		field := line
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			field = line[:i]
			if rest := strings.TrimLeft(line[i:], " \t"); rest[0] != '#' {
				st.invalid(n, line, "text after the trail")
				return
			}
		}
		switch {
		case addNet(field, b, st):
		case isURL(field):
			st.skip("url")
		case strings.IndexByte(field, '/') >= 0:
			st.skip("path")
		case isHash(field):
			st.skip("hash")
		case addDomain(field, true, b, st):
		default:
			host, ok := hostPort(field)
			if ok && (addNet(host, b, st) || addDomain(host, true, b, st)) {
				return
			}
			st.invalid(n, line, "not a domain, address, address:port, URL or path")
		}
	})
}
