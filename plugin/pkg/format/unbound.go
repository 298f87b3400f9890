package format

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// unbound: Unbound "local-zone: "name" type" lines, a zone being the name and all its subdomains. Types
// that answer locally (deny, refuse, static, redirect, always_nxdomain, always_null, always_refuse,
// always_deny, inform, inform_deny, inform_redirect, block_a, noview) list the zone; types that let the
// query resolve (transparent, typetransparent, always_transparent, nodefault) are exceptions and are
// skipped, as are local-data, local-data-ptr and other options. Clause headers ("server:") and '#'
// comments, also after data, are ignored.
type unbound struct{}

func init() { register(Format{Name: "unbound", New: noOptions(unbound{})}) }

var unboundTypes = map[string]bool{ // type: lists the zone
	"deny": true, "refuse": true, "static": true, "redirect": true, "inform": true, "inform_deny": true,
	"inform_redirect": true, "always_nxdomain": true, "always_null": true, "always_refuse": true,
	"always_deny": true, "block_a": true, "noview": true,
	"transparent": false, "typetransparent": false, "always_transparent": false, "nodefault": false,
}

// unboundLine strips a '#' comment outside quotes and blanks.
func unboundLine(line string) string {
	quoted := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			quoted = !quoted
		case '#':
			if !quoted {
				return strings.TrimSpace(line[:i])
			}
		}
	}
	return strings.TrimSpace(line)
}

// isUnboundHeader reports whether a stripped line is a clause header such as "server:".
func isUnboundHeader(line string) bool {
	key, ok := strings.CutSuffix(line, ":")
	return ok && key != "" && !strings.ContainsAny(key, " \t:\"")
}

func (unbound) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		line = unboundLine(line)
		if line == "" || isUnboundHeader(line) {
			return
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			st.invalid(n, line, "want key: value")
			return
		}
		if strings.TrimSpace(key) != "local-zone" {
			st.skip("option") // local-data, local-data-ptr, ...
			return
		}
		f := strings.Fields(val)
		if len(f) != 2 {
			st.invalid(n, line, "want local-zone: name type")
			return
		}
		name := f[0]
		if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
			name = name[1 : len(name)-1]
		}
		lists, known := unboundTypes[strings.ToLower(f[1])]
		switch {
		case !known:
			st.invalid(n, line, "unknown local-zone type")
		case !lists:
			st.skip("exception")
		case !addDomain(name, true, b, st):
			st.invalid(n, line, "not a domain")
		}
	})
}
