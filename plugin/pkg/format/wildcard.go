package format

import "github.com/threatstop/threatstop/plugin/pkg/entryset"

// wildcard: "*.name" lists the name and all its subdomains (HaGeZi wildcard lists); a bare name lists
// only itself. Comments as in plain; a URL or a hash is skipped.
type wildcard struct{}

func init() { register(Format{Name: "wildcard", New: noOptions(wildcard{})}) }

func (wildcard) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		field, clean := splitData(line)
		switch {
		case !clean:
			st.invalid(n, line, "text after the entry")
		case addName(field, b, st):
		case isURL(field):
			st.skip("url")
		case isHash(field):
			st.skip("hash")
		default:
			st.invalid(n, line, "not a domain or *.domain")
		}
	})
}
