package format

import (
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// hosts: hosts(5) files that sink names to 0.0.0.0 or 127.0.0.1, "ADDRESS NAME [NAME...] [# comment]".
// The names are the entries; the address is ignored. The localhost preamble that such files carry
// (localhost, broadcasthost, ip6-* names) is skipped, never listed.
type hosts struct{}

func init() { register(Format{Name: "hosts", New: noOptions(hosts{})}) }

// preamble holds the names a hosts file defines for the machine itself.
var preamble = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "local": true, "broadcasthost": true,
	"ip6-localhost": true, "ip6-loopback": true, "ip6-localnet": true, "ip6-mcastprefix": true,
	"ip6-allnodes": true, "ip6-allrouters": true, "ip6-allhosts": true, "0.0.0.0": true,
}

func (hosts) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			st.invalid(n, line, "want an address and a name")
			return
		}
		if _, err := netip.ParseAddr(fields[0]); err != nil {
			st.invalid(n, line, "first field is not an address")
			return
		}
		// A line counts once: invalid if any name is bad (its good names are still listed), skipped if
		// it holds only the machine's own names.
		bad, added := false, false
		for _, name := range fields[1:] {
			switch {
			case preamble[strings.ToLower(name)]:
			case strings.HasPrefix(name, "*."), !addName(name, b, st):
				bad = true
			default:
				added = true
			}
		}
		switch {
		case bad:
			st.invalid(n, line, "not a host name")
		case !added:
			st.skip("preamble")
		}
	})
}
