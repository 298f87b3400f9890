package format

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// adblock: Adblock Plus / AdGuard / uBlock filter lists, reduced to what a DNS server can enforce.
// "||name^" lists the name and its subdomains, "||1.2.3.4^" the address; a bare host name or address on
// its own line (uBlock reads "name" as "||name^") too. "||name^$all", "||name^$important" and
// "||name^$all,important" still block the whole name, so they are listed as "||name^". Everything else is
// a valid rule that is not a plain host block and is skipped, with its reason: "path", "wildcard",
// "option" (any other '$' option, "||x^$third-party", "||x^$dnstype=A", "||x^$badfilter"),
// "exception" ("@@"), "regex" ("/.../"), "cosmetic" ("##", "#@#", "#?#", ...), "url", "pattern" ("|"
// anchors, "||x" prefix matches), "hash", and "header" ("[Adblock Plus]"). Lines starting with '!' are
// comments, as are '#' lines that are not cosmetic rules. A host block whose host is neither a listable
// name nor an address is invalid.
type adblock struct{}

func init() { register(Format{Name: "adblock", New: noOptions(adblock{})}) }

// isAdblockComment reports whether a trimmed line is blank or a comment.
func isAdblockComment(line string) bool {
	return line == "" || line[0] == '!' || line[0] == '#' && !isCosmetic(line)
}

// isCosmetic reports whether line holds an element-hiding or scriptlet separator.
func isCosmetic(line string) bool {
	i := strings.IndexByte(line, '#')
	if i < 0 {
		return false
	}
	for _, sep := range []string{"##", "#@#", "#?#", "#$#", "#%#", "#@?#", "#@$#", "#@%#"} {
		if strings.Contains(line[i:], sep) {
			return true
		}
	}
	return false
}

// hostChars are the bytes a host name or address may hold; a rule with any other byte is a pattern.
func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c >= 0x80
}

func (adblock) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isAdblockComment(line) {
			return
		}
		host, why := adblockHost(line)
		switch {
		case why != "":
			st.skip(why)
		case addNet(host, b, st), addDomain(host, true, b, st):
		default:
			st.invalid(n, line, "not a host name or address")
		}
	})
}

// isSchemeURL reports whether s starts with a URL's scheme; "://" inside a path
// ("||web.archive.org/web/2024/http://x") does not count.
func isSchemeURL(s string) bool {
	i := strings.Index(s, "://")
	return isURL(s) && (i < 0 || strings.IndexByte(s[:i], '/') < 0)
}

// blockOnly reports whether a rule's options are only "all" (every request type) and "important" (over
// exceptions), which leave "||name^" meaning: block the name.
func blockOnly(opts string) bool {
	for {
		o, rest, more := strings.Cut(opts, ",")
		if o != "all" && o != "important" {
			return false
		}
		if !more {
			return true
		}
		opts = rest
	}
}

// adblockHost returns the host a rule blocks, or why a rule that is not a plain host block is skipped.
func adblockHost(line string) (host, why string) {
	switch {
	case isCosmetic(line):
		return "", "cosmetic"
	case strings.HasPrefix(line, "@@"):
		return "", "exception"
	case line[0] == '[':
		return "", "header" // "[Adblock Plus 2.0]"
	case len(line) > 1 && line[0] == '/' && (line[len(line)-1] == '/' || strings.Contains(line, "/$")):
		return "", "regex"
	case isSchemeURL(strings.TrimLeft(line, "|")):
		return "", "url"
	}
	pattern, opts, hasOpts := strings.Cut(line, "$")
	host, anchored, domainRule := pattern, true, false
	if rest, ok := strings.CutPrefix(pattern, "||"); ok {
		host, anchored = strings.CutSuffix(rest, "^")
		domainRule = anchored
	}
	switch {
	case strings.IndexByte(host, '*') >= 0:
		return "", "wildcard"
	case strings.IndexByte(host, '/') >= 0:
		return "", "path"
	case hasOpts && !(domainRule && blockOnly(opts)):
		return "", "option"
	case host == "" || !anchored:
		return "", "pattern" // "||x" is a prefix match
	}
	for i := 0; i < len(host); i++ {
		if !isHostByte(host[i]) {
			if _, ok := parseNet(host); ok && strings.IndexByte(host, ':') >= 0 {
				return host, "" // a bare IPv6 address
			}
			return "", "pattern"
		}
	}
	if isHash(host) {
		return "", "hash"
	}
	return host, ""
}
