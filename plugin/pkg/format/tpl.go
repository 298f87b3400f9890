package format

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// tpl: Internet Explorer Tracking Protection Lists. "-d name" blocks the name, which TPL matches on whole
// labels, so the name and its subdomains are listed. The "msFilterList" header, ": Expires=N" properties
// and '#' comments are ignored; allow rules ("+d ..."), string rules ("- text", "+ text") and domain rules
// with a path ("-d name /path") are skipped.
type tpl struct{}

func init() { register(Format{Name: "tpl", New: noOptions(tpl{})}) }

// isTPLComment reports whether a trimmed line is blank, a comment, the header or a property.
func isTPLComment(line string) bool {
	return line == "" || line[0] == '#' || line[0] == ':' || strings.EqualFold(line, "msFilterList")
}

func (tpl) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isTPLComment(line) {
			return
		}
		f := strings.Fields(line)
		switch {
		case (f[0] == "-d" || f[0] == "+d") && len(f) == 1:
			st.invalid(n, line, "rule without a domain")
		case f[0] == "-d" && len(f) == 2:
			switch {
			case strings.IndexByte(f[1], '*') >= 0:
				st.skip("wildcard")
			case strings.IndexByte(f[1], '/') >= 0:
				st.skip("path")
			case !addNet(f[1], b, st) && !addDomain(f[1], true, b, st):
				st.invalid(n, line, "not a domain")
			}
		case f[0] == "-d" && len(f) > 2:
			st.skip("path")
		case line[0] == '+':
			st.skip("exception")
		case line[0] == '-':
			st.skip("pattern") // a string rule, "- ad.js"
		default:
			st.invalid(n, line, "want -d domain")
		}
	})
}
