// Package format turns the bytes of a feed into entries. Each format is one file here with one parser; the
// registry maps the name an operator writes after `format` to a constructor that takes the feed's
// format-specific options. Parsers never fail on a bad line: they count it, remember the first few with
// their line numbers, and go on, so that one broken line never costs the rest of the feed. A URL or a hex
// digest where an entry belongs is skipped, never turned into an entry (the url format, made for lists of
// URLs, lists a URL's host, by default only for a URL without a path). A JSON body that does not decode
// counts as one invalid line and gives nothing, so the feed keeps its last good version.
package format

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/domain"
	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// Parser parses one whole feed body into b, counting what it saw in st.
type Parser interface {
	Parse(data string, b *entryset.Builder, st *Stats)
}

// Format describes one feed format.
type Format struct {
	Name    string
	Options []string // option keywords the format accepts in a feed block, besides the common ones
	// New returns a parser for the given options, keyed by keyword with their arguments.
	New func(opts map[string][]string) (Parser, error)
}

// Common lists the options every format takes: refang (refang.go).
var Common = []string{"refang"}

// Takes reports whether the format accepts the option keyword, its own or a common one.
func (f Format) Takes(key string) bool {
	return slices.Contains(f.Options, key) || slices.Contains(Common, key)
}

var registry = map[string]Format{}

func register(f Format) { registry[f.Name] = f }

// Lookup returns the format called name.
func Lookup(name string) (Format, bool) {
	f, ok := registry[name]
	return f, ok
}

// Names lists the registered formats, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New looks a format up and builds its parser, rejecting options the format does not take.
func New(name string, opts map[string][]string) (Parser, error) {
	f, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown format %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	for k := range opts {
		if !f.Takes(k) {
			return nil, fmt.Errorf("format %s takes no option %q", name, k)
		}
	}
	opts, refang, err := refangOption(opts)
	if err != nil {
		return nil, err
	}
	p, err := f.New(opts)
	if err != nil || !refang {
		return p, err
	}
	return refanged{p}, nil
}

// MaxSamples is how many invalid lines a parse remembers for the log.
const MaxSamples = 5

// Stats counts what one parse saw.
//
// JSON formats (feodo-json, threatfox, misp, stix) count records instead of lines: Lines is the number of
// records, and an Issue's Line is the record's 1-based index. Zone and named.conf formats (rpz, bind)
// count a record or statement spanning lines once, at its first line.
type Stats struct {
	Lines   int     // lines read, comments and blanks included
	Entries int     // entries added, before deduplication; a range may give several
	Invalid int     // lines that are neither data nor comment
	Skipped int     // valid lines deliberately left out (below a score, hosts preamble, URLs, hashes, exceptions)
	Samples []Issue // the first MaxSamples invalid lines

	Skips map[string]int // Skipped by reason ("url", "hash", "exception", ...), where the parser names one
}

// skip counts one deliberately skipped line and why.
func (st *Stats) skip(reason string) {
	st.Skipped++
	if st.Skips == nil {
		st.Skips = map[string]int{}
	}
	st.Skips[reason]++
}

// TopSkip returns the most common reason of the skipped lines (ties: the first in byte order) and its
// count; "" when no skip named a reason.
func (st *Stats) TopSkip() (reason string, n int) {
	for r, c := range st.Skips {
		if c > n || c == n && r < reason {
			reason, n = r, c
		}
	}
	return reason, n
}

// Issue is one invalid line (or record).
type Issue struct {
	Line   int
	Text   string
	Reason string
}

func (i Issue) String() string { return fmt.Sprintf("line %d: %s: %q", i.Line, i.Reason, i.Text) }

func (st *Stats) invalid(line int, text, reason string) {
	st.Invalid++
	if len(st.Samples) < MaxSamples {
		if len(text) > 80 {
			text = text[:80] + "…"
		}
		st.Samples = append(st.Samples, Issue{Line: line, Text: strings.Clone(text), Reason: reason})
	}
}

// eachLine calls fn with every line's 1-based number and its text, without the LF or CRLF terminator and
// without surrounding blanks. A last line with no newline is still a line; a byte order mark is dropped.
func eachLine(data string, st *Stats, fn func(n int, line string)) {
	data = trimBOM(data)
	for n := 1; len(data) > 0; n++ {
		var line string
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, ""
		}
		st.Lines++
		fn(n, strings.TrimSpace(line))
	}
}

// eachRawLine is eachLine for formats where leading blanks mean something (zone files): the line keeps
// them and loses only its terminator and trailing blanks.
func eachRawLine(data string, st *Stats, fn func(n int, line string)) {
	data = trimBOM(data)
	for n := 1; len(data) > 0; n++ {
		var line string
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, ""
		}
		st.Lines++
		fn(n, strings.TrimRight(line, " \t\r\v\f"))
	}
}

// trimBOM drops a UTF-8 byte order mark at the start of a feed, as Windows tools write one.
func trimBOM(data string) string { return strings.TrimPrefix(data, "\ufeff") }

// isComment reports whether a trimmed line is blank or a comment.
func isComment(line string) bool {
	return line == "" || line[0] == '#' || line[0] == ';'
}

// splitData returns the first field of a trimmed line and whether the rest of the line is empty or an
// inline comment (whitespace, then '#' or ';').
func splitData(line string) (field string, clean bool) {
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return line, true
	}
	rest := strings.TrimLeft(line[i:], " \t")
	return line[:i], rest == "" || rest[0] == '#' || rest[0] == ';'
}

// maybeAddr reports whether s could be an IP address or prefix: it has a ':' (IPv6) or only digits, dots
// and a '/'. It spares netip's parsers, whose errors allocate, the domain names of a feed.
func maybeAddr(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' && c != '/' {
			return false
		}
	}
	return s != ""
}

// parseNet parses an address or a CIDR prefix.
func parseNet(s string) (netip.Prefix, bool) {
	if !maybeAddr(s) {
		return netip.Prefix{}, false
	}
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		return p, err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// twoFields returns the first two blank-separated fields of a trimmed line and whether there are exactly
// two, without allocating.
func twoFields(line string) (a, b string, ok bool) {
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return line, "", false
	}
	a, b = line[:i], strings.TrimLeft(line[i:], " \t")
	return a, b, strings.IndexAny(b, " \t") < 0
}

// atoi parses a non-negative decimal number of digits only (no sign, no blanks), as feeds write scores.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// addNet adds an address or prefix; it reports false for anything else.
func addNet(s string, b *entryset.Builder, st *Stats) bool {
	p, ok := parseNet(s)
	if !ok || !b.AddPrefix(p) {
		return false
	}
	st.Entries++
	return true
}

// addName adds a domain, or with a leading "*." the domain and its subdomains; it reports false for a
// string that is not a listable name.
func addName(s string, b *entryset.Builder, st *Stats) bool {
	sub := strings.HasPrefix(s, "*.")
	if sub {
		s = s[2:]
	}
	return addDomain(s, sub, b, st)
}

// addDomain adds a domain, with its subdomains when sub is set; it reports false for a string that is not
// a listable name.
func addDomain(s string, sub bool, b *entryset.Builder, st *Stats) bool {
	name, ok := listableName(s)
	if !ok {
		return false
	}
	b.AddName(name, sub)
	st.Entries++
	return true
}

// listableName normalises s and reports whether it is a name a feed may list.
func listableName(s string) (string, bool) {
	name, ok := domain.Normalize(s)
	return name, ok && domain.Listable(name)
}

// noOptions is the constructor of formats that take no options.
func noOptions(p Parser) func(map[string][]string) (Parser, error) {
	return func(map[string][]string) (Parser, error) { return p, nil }
}

// outcome is what one line or record gave: entries, a deliberate skip, or nothing usable.
type outcome uint8

const (
	invalid outcome = iota
	added
	skipped
)

// isHash reports whether s is a hex digest: 32, 40, 64 or 128 hex digits (MD5, SHA-1, SHA-256, SHA-512).
// Such a value is never an entry, even where it would pass for a name.
func isHash(s string) bool {
	switch len(s) {
	case 32, 40, 64, 128:
	default:
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// urlSchemes are the schemes that mark a value as a URL even without "//" ("http:example.com",
// "mailto:x@example.com"); defanged "hxxp" included.
var urlSchemes = []string{"http:", "https:", "hxxp:", "hxxps:", "ftp:", "ftps:", "sftp:", "ws:", "wss:", "file:",
	"mailto:", "data:", "javascript:", "tcp:", "udp:", "ssh:", "smb:", "ldap:", "irc:", "telnet:"}

// isURL reports whether s is a URL: it contains "://" or starts with a known scheme. A URL is never an
// entry: a DNS server cannot see its path, and its host alone would list more than the feed meant.
func isURL(s string) bool {
	if strings.Contains(s, "://") {
		return true
	}
	if i := strings.IndexByte(s, ':'); i > 0 && i < 12 {
		for _, sc := range urlSchemes {
			if len(sc) == i+1 && strings.EqualFold(s[:i+1], sc) {
				return true
			}
		}
	}
	return false
}

// addRange adds the minimal set of prefixes that covers the range "a-b" of addresses; it reports false,
// adding nothing, unless s is such a range with a <= b, both of one family and without zones.
func addRange(s string, b *entryset.Builder, st *Stats) bool {
	i := strings.IndexByte(s, '-')
	if i < 0 || !maybeAddr(s[:i]) || !maybeAddr(s[i+1:]) {
		return false
	}
	lo, err1 := netip.ParseAddr(s[:i])
	hi, err2 := netip.ParseAddr(s[i+1:])
	if err1 != nil || err2 != nil {
		return false
	}
	return addAddrRange(lo, hi, b, st)
}

// addAddrRange adds the prefixes covering lo..hi, or reports false for an invalid range.
func addAddrRange(lo, hi netip.Addr, b *entryset.Builder, st *Stats) bool {
	return rangePrefixes(lo, hi, func(p netip.Prefix) {
		b.AddPrefix(p)
		st.Entries++
	})
}

// addValue adds s when it is an address, a CIDR prefix, an address range "a-b", a domain name or
// "*.name"; names are listed with their subdomains when sub is set. A URL or a hash is skipped, counted
// with its reason; anything else is invalid.
func addValue(s string, sub bool, b *entryset.Builder, st *Stats) outcome {
	switch {
	case addNet(s, b, st), addRange(s, b, st):
		return added
	case isURL(s):
		st.skip("url")
		return skipped
	case isHash(s):
		st.skip("hash")
		return skipped
	case sub:
		if addDomain(strings.TrimPrefix(s, "*."), true, b, st) {
			return added
		}
	case addName(s, b, st):
		return added
	}
	return invalid
}

// hostPort splits "host:port" and "[v6]:port"; ok is false when s has no numeric port.
func hostPort(s string) (host string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", false
	}
	if _, ok := atoi(s[i+1:]); !ok {
		return "", false
	}
	host = s[:i]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", false
		}
		return host, true
	}
	if strings.IndexByte(host, ':') >= 0 {
		return "", false // an IPv6 address with a port needs brackets
	}
	return host, host != ""
}
