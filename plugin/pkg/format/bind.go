package format

import (
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// bind: BIND named.conf zone statements, `zone "name" [class] { ... };`, on one line or several; each zone
// is the name and all its subdomains. Zones inside view statements count too; other statements (options,
// acl, ...) are skipped. Comments are '#', '//' and '/* */'. A statement counts once, at its first line:
// a zone statement without its block, a bad name, a stray '}' or a missing ';' makes it invalid.
type bind struct{}

func init() { register(Format{Name: "bind", New: noOptions(bind{})}) }

// confToken is one named.conf token: a word, a quoted string (quoted), or one of '{', '}', ';'.
type confToken struct {
	text   string
	quoted bool
	line   int
}

func (t confToken) is(s string) bool { return !t.quoted && t.text == s }

type bindParser struct {
	data  string
	lines []int // offset of each line's start, for samples
	b     *entryset.Builder
	st    *Stats
}

func (bind) Parse(data string, b *entryset.Builder, st *Stats) {
	data = trimBOM(data)
	p := bindParser{data: data, b: b, st: st}
	st.Lines += countLines(data)
	toks, errLine := confTokens(data)
	p.statements(toks)
	if errLine > 0 {
		p.invalid(errLine, "unterminated string or comment")
	}
}

// countLines counts lines as eachLine does.
func countLines(data string) int {
	n := strings.Count(data, "\n")
	if data != "" && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

func (p *bindParser) invalid(line int, reason string) {
	if len(p.st.Samples) >= MaxSamples {
		p.st.Invalid++
		return
	}
	p.st.invalid(line, strings.TrimSpace(nthLine(p.data, line)), reason)
}

// nthLine returns the 1-based line n of data.
func nthLine(data string, n int) string {
	for ; n > 1; n-- {
		i := strings.IndexByte(data, '\n')
		if i < 0 {
			return ""
		}
		data = data[i+1:]
	}
	if i := strings.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	return data
}

// confTokens splits named.conf text into tokens. errLine is the line of an unterminated string or block
// comment (whose text is dropped), or 0.
func confTokens(data string) (toks []confToken, errLine int) {
	line := 1
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			i++
		case c == '#' || c == '/' && i+1 < len(data) && data[i+1] == '/':
			j := strings.IndexByte(data[i:], '\n')
			if j < 0 {
				return toks, 0
			}
			i += j
		case c == '/' && i+1 < len(data) && data[i+1] == '*':
			j := strings.Index(data[i+2:], "*/")
			if j < 0 {
				return toks, line
			}
			line += strings.Count(data[i:i+2+j], "\n")
			i += 2 + j + 2
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, confToken{text: data[i : i+1], line: line})
			i++
		case c == '"':
			start, startLine := i+1, line
			j := i + 1
			for ; j < len(data) && data[j] != '"'; j++ {
				if data[j] == '\\' {
					j++
				}
				if j < len(data) && data[j] == '\n' {
					line++
				}
			}
			if j >= len(data) {
				return toks, startLine
			}
			toks = append(toks, confToken{text: data[start:j], quoted: true, line: startLine})
			i = j + 1
		default:
			j := i
			for j < len(data) && !strings.ContainsRune(" \t\r\n\v\f{};\"#", rune(data[j])) &&
				!(data[j] == '/' && j+1 < len(data) && (data[j+1] == '/' || data[j+1] == '*')) {
				j++
			}
			toks = append(toks, confToken{text: data[i:j], line: line})
			i = j
		}
	}
	return toks, 0
}

// statements handles a list of statements, each ending with ';' outside braces.
func (p *bindParser) statements(toks []confToken) {
	for len(toks) > 0 {
		depth, end := 0, -1
	scan:
		for i, t := range toks {
			switch {
			case t.is("{"):
				depth++
			case t.is("}"):
				depth--
				if depth < 0 {
					p.statements(toks[:i])
					p.invalid(t.line, "'}' without '{'")
					toks = toks[i+1:]
					end = -2
					break scan
				}
			case t.is(";") && depth == 0:
				end = i
				break scan
			}
		}
		switch end {
		case -2:
			continue
		case -1:
			p.invalid(toks[0].line, "statement without ';'")
			return
		}
		p.statement(toks[:end])
		toks = toks[end+1:]
	}
}

func (p *bindParser) statement(s []confToken) {
	if len(s) == 0 {
		return
	}
	kw := strings.ToLower(s[0].text)
	if s[0].quoted || kw != "zone" && kw != "view" {
		p.st.skip("statement") // options, acl, ...
		return
	}
	// keyword name [class] { ... }
	open := 2
	if open < len(s) && !s[open].is("{") {
		open++ // a class
	}
	if len(s) < 3 || open >= len(s) || !s[open].is("{") || !s[len(s)-1].is("}") || s[1].is("{") || s[1].is("}") {
		p.invalid(s[0].line, kw+" statement without a name and a block")
		return
	}
	if kw == "view" {
		p.statements(s[open+1 : len(s)-1])
		return
	}
	if !addDomain(s[1].text, true, p.b, p.st) {
		p.invalid(s[0].line, "not a domain")
	}
}
