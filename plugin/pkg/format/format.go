// Package format turns the bytes of a feed into entries. Each format is one file here with one parser; the
// registry maps the name an operator writes after `format` to a constructor that takes the feed's
// format-specific options. Parsers never fail on a bad line: they count it, remember the first few with
// their line numbers, and go on, so that one broken line never costs the rest of the feed.
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
		if !slices.Contains(f.Options, k) {
			return nil, fmt.Errorf("format %s takes no option %q", name, k)
		}
	}
	return f.New(opts)
}

// MaxSamples is how many invalid lines a parse remembers for the log.
const MaxSamples = 5

// Stats counts what one parse saw.
type Stats struct {
	Lines   int     // lines read, comments and blanks included
	Entries int     // entries added, before deduplication
	Invalid int     // lines that are neither data nor comment
	Skipped int     // valid lines deliberately left out (below a score, hosts preamble, URLs)
	Samples []Issue // the first MaxSamples invalid lines
}

// Issue is one invalid line.
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
// without surrounding blanks. A last line with no newline is still a line.
func eachLine(data string, st *Stats, fn func(n int, line string)) {
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

// parseNet parses an address or a CIDR prefix.
func parseNet(s string) (netip.Prefix, bool) {
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
	name, ok := domain.Normalize(s)
	if !ok || !domain.Listable(name) {
		return false
	}
	b.AddName(name, sub)
	st.Entries++
	return true
}

// noOptions is the constructor of formats that take no options.
func noOptions(p Parser) func(map[string][]string) (Parser, error) {
	return func(map[string][]string) (Parser, error) { return p, nil }
}
