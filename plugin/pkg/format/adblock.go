package format

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// adblock: Adblock Plus / AdGuard / uBlock filter lists, reduced to what a DNS server can enforce.
// "||name^" lists the name and its subdomains, "||1.2.3.4^" the address; a bare host name or address on
// its own line (uBlock reads "name" as "||name^") too. Everything else is a valid rule that is not a plain
// host block and is skipped: rules with a path, a wildcard or '$' options ("||x^$important"), exceptions
// ("@@"), regular expressions ("/.../"), cosmetic rules ("##", "#@#", "#?#", ...), "|" anchors, and the
// "[Adblock Plus]" header. Lines starting with '!' are comments, as are '#' lines that are not cosmetic
// rules. A host block whose host is neither a listable name nor an address is invalid.
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
		host, ok := adblockHost(line)
		switch {
		case !ok:
			st.Skipped++
		case addNet(host, b, st), addDomain(host, true, b, st):
		default:
			st.invalid(n, line, "not a host name or address")
		}
	})
}

// adblockHost returns the host a rule blocks, and false for a rule that is not a plain host block.
func adblockHost(line string) (string, bool) {
	if isCosmetic(line) || strings.HasPrefix(line, "@@") || line[0] == '[' {
		return "", false
	}
	host := line
	if strings.HasPrefix(line, "||") {
		h, ok := strings.CutSuffix(line[2:], "^")
		if !ok {
			return "", false // "||x" is a prefix match, "||x^$opt" has options
		}
		host = h
	}
	if host == "" {
		return "", false
	}
	for i := 0; i < len(host); i++ {
		if !isHostByte(host[i]) {
			if _, ok := parseNet(host); ok && strings.IndexByte(host, ':') >= 0 {
				return host, true // a bare IPv6 address
			}
			return "", false
		}
	}
	return host, !isHash(host)
}
