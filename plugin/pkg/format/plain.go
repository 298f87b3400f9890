package format

import "github.com/threatstop/threatstop/plugin/pkg/entryset"

// plain: one IPv4 or IPv6 address, CIDR prefix or domain name a line ("*.name" for a name and its
// subdomains); '#' and ';' start comments, also after data following whitespace.
type plain struct{}

func init() { register(Format{Name: "plain", New: noOptions(plain{})}) }

func (plain) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		field, clean := splitData(line)
		switch {
		case !clean:
			st.invalid(n, line, "text after the entry")
		case addNet(field, b, st), addName(field, b, st):
		default:
			st.invalid(n, line, "not an address, prefix or domain")
		}
	})
}
