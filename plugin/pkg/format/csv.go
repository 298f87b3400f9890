package format

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// csv: comma-separated values with the entry in one column. Options:
//
//	column N      the 1-based column (default 1);
//	column NAME   the column whose header is NAME (case-insensitive); the first row must be the header;
//	delimiter C   the field separator, one character or "tab" (default ',').
//
// Lines starting with '#' are comments and blank lines are ignored. With column N, a first row whose
// field is not an address, prefix, range, domain, URL or hash is a header. Fields may be double-quoted
// ("" for a quote; a quoted field ends at its line). The value, trimmed of blanks, is an address, prefix,
// range or domain name (an entry), a URL or hash (skipped), or invalid.
type csvFormat struct {
	col   int // 0-based, when name is ""
	name  string
	delim byte
}

func init() {
	register(Format{Name: "csv", Options: []string{"column", "delimiter"}, New: newCSV})
}

func newCSV(opts map[string][]string) (Parser, error) {
	p := csvFormat{delim: ','}
	if v, ok := opts["column"]; ok {
		if len(v) != 1 || v[0] == "" {
			return nil, fmt.Errorf("column takes one column number (from 1) or header name")
		}
		if n, ok := atoi(v[0]); ok {
			if n < 1 {
				return nil, fmt.Errorf("column numbers start at 1, not %q", v[0])
			}
			p.col = n - 1
		} else {
			p.name = v[0]
		}
	}
	if v, ok := opts["delimiter"]; ok {
		d, err := parseDelimiter(v)
		if err != nil {
			return nil, err
		}
		p.delim = d
	}
	return p, nil
}

func parseDelimiter(v []string) (byte, error) {
	if len(v) != 1 {
		return 0, fmt.Errorf("delimiter takes one character or \"tab\"")
	}
	switch s := v[0]; {
	case s == "tab" || s == `\t`:
		return '\t', nil
	case len(s) == 1 && s[0] > ' ' && s[0] < 0x7f && s[0] != '"':
		return s[0], nil
	}
	return 0, fmt.Errorf("delimiter must be one printable ASCII character other than '\"', or \"tab\"; not %q", v[0])
}

func (p csvFormat) Parse(data string, b *entryset.Builder, st *Stats) {
	col, first, failed := p.col, true, false
	var fields []string
	eachLine(data, st, func(n int, line string) {
		if line == "" || line[0] == '#' || failed {
			return
		}
		var ok bool
		fields, ok = splitCSV(line, p.delim, fields)
		if first {
			first = false
			if p.name != "" {
				col = findColumn(fields, p.name)
				if !ok || col < 0 {
					st.invalid(n, line, fmt.Sprintf("the header has no column %q", p.name))
					failed = true
				}
				return
			}
			if ok && col < len(fields) && !looksLikeValue(csvValue(fields[col])) {
				return // a header
			}
		}
		switch {
		case !ok:
			st.invalid(n, line, "unbalanced quotes")
		case col >= len(fields):
			st.invalid(n, line, fmt.Sprintf("no column %d", col+1))
		default:
			if addValue(csvValue(fields[col]), false, b, st) == invalid {
				st.invalid(n, line, "not an address, prefix, range, domain, URL or hash")
			}
		}
	})
}

// csvValue trims a field's blanks.
func csvValue(s string) string { return strings.Trim(s, " \t") }

// findColumn is the index of the header field name, compared without case and blanks, or -1.
func findColumn(header []string, name string) int {
	for i, h := range header {
		if strings.EqualFold(csvValue(h), name) {
			return i
		}
	}
	return -1
}

// looksLikeValue reports whether s is anything a data row may hold: an address, prefix, range, domain,
// URL or hash. A first row whose field is none of these is a header.
func looksLikeValue(s string) bool {
	if _, ok := parseNet(s); ok {
		return true
	}
	if i := strings.IndexByte(s, '-'); i > 0 {
		if _, err := netip.ParseAddr(s[:i]); err == nil {
			return true
		}
	}
	if isURL(s) || isHash(s) {
		return true
	}
	_, ok := listableName(strings.TrimPrefix(s, "*."))
	return ok
}

// splitCSV splits one line into fields at delim, appending them to dst[:0]. A field that starts with '"'
// (after blanks) is quoted: it runs to the next lone '"', with "" standing for '"'. A quoted field with
// text between its closing quote and the delimiter, and a quote inside an unquoted field, are read as
// written. ok is false for a quoted field that does not close on the line.
func splitCSV(line string, delim byte, dst []string) (fields []string, ok bool) {
	dst = dst[:0]
	for {
		if rest := strings.TrimLeft(line, " \t"); len(rest) > 0 && rest[0] == '"' {
			f, after, ok := unquote(rest)
			if !ok {
				return dst, false
			}
			if after == "" {
				return append(dst, f), true
			}
			if after[0] == delim {
				dst = append(dst, f)
				line = after[1:]
				continue
			}
			// Text after the closing quote: the field is not quoted after all, and is read as written,
			// quotes included, so that it never passes for the value between the quotes.
		}
		k := strings.IndexByte(line, delim)
		if k < 0 {
			return append(dst, line), true
		}
		dst = append(dst, line[:k])
		line = line[k+1:]
	}
}

// unquote reads the quoted field at the start of s (s[0] == '"') and returns its value and the text after
// the closing quote.
func unquote(s string) (field, after string, ok bool) {
	var b strings.Builder
	start := 1
	for i := 1; ; {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			return "", "", false
		}
		j += i
		if j+1 < len(s) && s[j+1] == '"' {
			b.WriteString(s[start : j+1])
			i, start = j+2, j+2
			continue
		}
		if b.Len() == 0 {
			return s[start:j], s[j+1:], true
		}
		b.WriteString(s[start:j])
		return b.String(), s[j+1:], true
	}
}
