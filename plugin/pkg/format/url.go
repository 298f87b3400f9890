package format

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// url: one URL a line ("http://evil.example/x", "https://user@1.2.3.4:8443/", "[2001:db8::1]:80/x"), also
// without a scheme ("evil.example/path"); the entry is the URL's host: a name (exactly, not its
// subdomains), or an IPv4 or IPv6 address. The port and user info are dropped. A DNS server sees only the
// host, so a URL with a path, query or fragment beyond "/" names one resource on a host that may be
// shared (github.com, drive.google.com, a hosting provider's address): by default such URLs are skipped
// (reason "path") and only URLs of whole hosts are listed. The option
//
//	paths keep
//
// lists the host of every URL, blocking the whole host for one bad path; "paths skip" is the default.
// '#' and ';' lines are comments, also after the URL following whitespace.
type urlList struct{ keepPaths bool }

func init() {
	register(Format{Name: "url", Options: []string{"paths"}, New: func(opts map[string][]string) (Parser, error) {
		var p urlList
		if v, ok := opts["paths"]; ok {
			switch {
			case len(v) == 1 && v[0] == "keep":
				p.keepPaths = true
			case len(v) == 1 && v[0] == "skip":
			default:
				return nil, fmt.Errorf("paths takes keep or skip")
			}
		}
		return p, nil
	}})
}

func (p urlList) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		field, clean := splitData(line)
		if !clean {
			st.invalid(n, line, "text after the URL")
			return
		}
		host, path, ok := urlHost(field)
		if !ok {
			st.invalid(n, line, "no host name or address")
			return
		}
		// The host is checked before the path, so that a bad one is invalid whatever "paths" says.
		_, isAddr := parseNet(host)
		if _, isName := listableName(host); !isAddr && !isName {
			st.invalid(n, line, "not a host name or address")
			return
		}
		if path && !p.keepPaths {
			st.skip("path")
			return
		}
		if !addNet(host, b, st) {
			addDomain(host, false, b, st)
		}
	})
}

// urlHost returns the host of a URL, without its scheme, user info and port, and whether anything but
// "/" follows it. ok is false when there is no host or a bad port or bracketed address.
func urlHost(s string) (host string, path, ok bool) {
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		s = s[i+3:]
	}
	auth, rest := s, ""
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		auth, rest = s[:i], s[i:]
	}
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		auth = auth[i+1:]
	}
	path = rest != "" && rest != "/"
	switch {
	case strings.HasPrefix(auth, "[") && strings.HasSuffix(auth, "]"):
		a, err := netip.ParseAddr(auth[1 : len(auth)-1])
		return auth[1 : len(auth)-1], path, err == nil && a.Is6() && a.Zone() == ""
	case strings.IndexByte(auth, ':') >= 0:
		if a, err := netip.ParseAddr(auth); err == nil && a.Is6() {
			return auth, path, true // unbracketed, so without a port
		}
		host, ok = hostPort(auth)
		return host, path, ok
	}
	return auth, path, auth != ""
}

// isScheme reports whether s is a URL scheme: a letter, then letters, digits, '+', '-' or '.'.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !(c >= 'a' && c <= 'z' || i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
			return false
		}
	}
	return s != ""
}
