package format

import "github.com/threatstop/threatstop/plugin/pkg/entryset"

// plain: one entry a line: an IPv4 or IPv6 address, a CIDR prefix, an address range "a-b" (listed as the
// fewest prefixes that cover it exactly), or a domain name ("*.name" for a name and its subdomains). '#'
// and ';' start comments, also after data following whitespace. A URL or a hash is skipped. The names
// netset and ipset are the same parser, for FireHOL's files.
type plain struct{}

func init() {
	for _, name := range []string{"plain", "netset", "ipset"} {
		register(Format{Name: name, New: noOptions(plain{})})
	}
}

func (plain) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		field, clean := splitData(line)
		if !clean {
			st.invalid(n, line, "text after the entry")
			return
		}
		if addValue(field, false, b, st) == invalid {
			st.invalid(n, line, "not an address, prefix, range or domain")
		}
	})
}
