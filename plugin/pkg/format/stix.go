package format

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// stix: a STIX 2.1 bundle, {"type": "bundle", "objects": [...]} (also a bare array of objects, or one
// object). Each object is a record. Indicators whose pattern_type is "stix" (or absent) list the values
// their pattern compares with '=', IN or ISSUBSET: "[ipv4-addr:value = '1.2.3.4']", ipv6-addr (addresses or
// prefixes) and domain-name (names), several comparisons joined by AND or OR inside or across brackets
// included. Other comparisons (url, file hashes, negated ones) are ignored; an indicator with none to list
// is skipped, as are revoked indicators, other pattern types and other object types. A pattern that does
// not parse, or a listed value that is not an address or a name, makes the indicator invalid.
type stix struct{}

func init() { register(Format{Name: "stix", New: noOptions(stix{})}) }

func (stix) Parse(data string, b *entryset.Builder, st *Stats) {
	data, ok := jsonBody(data, st)
	if !ok {
		return
	}
	recs := jsonRecords{st: st}
	each := func(raw json.RawMessage) { stixObject(recs.next(), raw, b, st) }
	body := json.RawMessage(data)
	if eachElement(body, each) {
		return
	}
	var top struct {
		Type    string          `json:"type"`
		Objects json.RawMessage `json:"objects"`
	}
	switch {
	case json.Unmarshal(body, &top) != nil:
		st.Lines++
		st.invalid(1, firstLine(data), "not a STIX bundle")
	case top.Type == "bundle":
		if len(top.Objects) > 0 && string(top.Objects) != "null" && !eachElement(top.Objects, each) {
			st.invalid(recs.next(), rawText(top.Objects), "objects is not an array")
		}
	default:
		each(body)
	}
}

func stixObject(n int, raw json.RawMessage, b *entryset.Builder, st *Stats) {
	var o struct {
		Type        string          `json:"type"`
		Pattern     *string         `json:"pattern"`
		PatternType *string         `json:"pattern_type"`
		Revoked     json.RawMessage `json:"revoked"`
	}
	if json.Unmarshal(raw, &o) != nil || o.Type == "" {
		st.invalid(n, rawText(raw), "not a STIX object")
		return
	}
	revoked, ok := jsonBool(o.Revoked, false)
	switch {
	case o.Type != "indicator":
		st.skip("object") // identities, marking definitions, ...
		return
	case !ok:
		st.invalid(n, rawText(raw), "revoked is not a flag")
		return
	case revoked:
		st.skip("revoked")
		return
	case o.PatternType != nil && *o.PatternType != "stix":
		st.skip("pattern_type")
		return
	case o.Pattern == nil:
		st.invalid(n, rawText(raw), "indicator without a pattern")
		return
	}
	values, ok := stixValues(*o.Pattern)
	if !ok {
		st.invalid(n, *o.Pattern, "pattern does not parse")
		return
	}
	for _, v := range values {
		if !v.valid() {
			st.invalid(n, *o.Pattern, "not a valid "+v.typ)
			return
		}
	}
	if len(values) == 0 {
		st.skip("type") // url, file hashes, ...
		return
	}
	for _, v := range values {
		if v.typ == "domain-name" {
			addDomain(v.value, false, b, st)
		} else {
			addNet(v.value, b, st)
		}
	}
}

// stixValue is one value a pattern lists.
type stixValue struct{ typ, value string }

func (v stixValue) valid() bool {
	switch v.typ {
	case "domain-name":
		_, ok := listableName(v.value)
		return ok
	case "ipv4-addr", "ipv6-addr":
		p, ok := parseNet(v.value)
		return ok && p.Addr().Is4() == (v.typ == "ipv4-addr")
	}
	return false
}

// stixToken is one token of a pattern: a string literal (str), or anything else as its text.
type stixToken struct {
	text string
	str  bool
}

// stixTokens splits a pattern into brackets, parentheses, operators, words (object paths such as
// "file:hashes.'SHA-256'" or "x:refs[*].value" included) and string literals (t'...', b'...', h'...' too,
// with \' and \\ escapes).
func stixTokens(p string) ([]stixToken, bool) {
	var toks []stixToken
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[' || c == ']' || c == '(' || c == ')' || c == ',':
			toks = append(toks, stixToken{text: p[i : i+1]})
			i++
		case c == '=':
			toks = append(toks, stixToken{text: "="})
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(p) && p[i+1] == '=' {
				toks = append(toks, stixToken{text: p[i : i+2]})
				i += 2
			} else if c == '!' {
				return nil, false
			} else {
				toks = append(toks, stixToken{text: p[i : i+1]})
				i++
			}
		case c == '\'' || (c == 't' || c == 'b' || c == 'h') && i+1 < len(p) && p[i+1] == '\'':
			typed := c != '\''
			if typed {
				i++
			}
			s, end, ok := stixString(p, i)
			if !ok {
				return nil, false
			}
			// A typed literal (timestamp, binary, hex) never lists anything; keep it as a plain token.
			toks = append(toks, stixToken{text: s, str: !typed})
			i = end
		case isWordByte(c):
			start := i
			path := false
			for i < len(p) {
				c := p[i]
				switch {
				case isWordByte(c) || c == '.':
					if c == ':' {
						path = true
					}
					i++
				case path && c == '\'' && p[i-1] == '.':
					_, end, ok := stixString(p, i)
					if !ok {
						return nil, false
					}
					i = end
				case path && c == '[':
					j := strings.IndexByte(p[i:], ']')
					if j < 0 {
						return nil, false
					}
					i += j + 1
				default:
					goto done
				}
			}
		done:
			toks = append(toks, stixToken{text: p[start:i]})
		default:
			return nil, false
		}
	}
	return toks, true
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' || c == '+'
}

// stixString reads the quoted literal starting at p[i] == '\” and returns its value and the index after it.
func stixString(p string, i int) (string, int, bool) {
	var b strings.Builder
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			if j+1 >= len(p) || p[j+1] != '\'' && p[j+1] != '\\' {
				return "", 0, false
			}
			j++
			b.WriteByte(p[j])
		case '\'':
			return b.String(), j + 1, true
		default:
			b.WriteByte(p[j])
		}
	}
	return "", 0, false
}

// stixValues returns the values a pattern lists. ok is false for a pattern that does not parse: broken
// literals, unbalanced brackets or parentheses, or a comparison without an operator and a value.
func stixValues(p string) (values []stixValue, ok bool) {
	toks, ok := stixTokens(p)
	if !ok || len(toks) == 0 || toks[0].str || toks[0].text != "[" && toks[0].text != "(" {
		return nil, false
	}
	if last := toks[len(toks)-1]; !last.str {
		switch strings.ToUpper(last.text) {
		case "AND", "OR", "FOLLOWEDBY", "NOT", "WITHIN", "START", "STOP", "REPEATS":
			return nil, false // an expression or qualifier left open
		}
	}
	var stack []string
	comparisons := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !t.str {
			switch t.text {
			case "[", "(":
				stack = append(stack, t.text)
				continue
			case "]", ")":
				want := map[string]string{"]": "[", ")": "("}[t.text]
				if len(stack) == 0 || stack[len(stack)-1] != want {
					return nil, false
				}
				stack = stack[:len(stack)-1]
				continue
			}
		}
		if t.str || strings.IndexByte(t.text, ':') <= 0 {
			continue
		}
		// An object path: inside brackets, it needs an operator and a value (EXISTS takes none).
		if !slices.Contains(stack, "[") {
			return nil, false
		}
		if i > 0 && !toks[i-1].str && strings.EqualFold(toks[i-1].text, "EXISTS") {
			continue
		}
		comparisons++
		typ, prop, _ := strings.Cut(t.text, ":")
		j := i + 1
		negated := false
		if j < len(toks) && !toks[j].str && strings.EqualFold(toks[j].text, "NOT") {
			negated = true
			j++
		}
		if j+1 >= len(toks) || toks[j].str {
			return nil, false
		}
		op := strings.ToUpper(toks[j].text)
		var lits []stixToken
		switch op {
		case "=", "!=", "<", ">", "<=", ">=", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET":
			lits = toks[j+1 : j+2]
			i = j + 1
		case "IN":
			if toks[j+1].str || toks[j+1].text != "(" {
				return nil, false
			}
			k := j + 2
			for ; k < len(toks) && (toks[k].str || toks[k].text != ")"); k++ {
				if toks[k].str || toks[k].text != "," {
					lits = append(lits, toks[k])
				}
			}
			if k == len(toks) {
				return nil, false
			}
			i = k
		default:
			return nil, false
		}
		for _, l := range lits {
			if !l.str && (l.text == "" || strings.ContainsAny(l.text, "[]():")) {
				return nil, false
			}
		}
		listed := !negated && (op == "=" || op == "IN" || op == "ISSUBSET") && prop == "value" &&
			(typ == "ipv4-addr" || typ == "ipv6-addr" || typ == "domain-name")
		if !listed {
			continue
		}
		for _, l := range lits {
			if !l.str {
				return nil, false // a number where an address or name belongs
			}
			values = append(values, stixValue{typ: typ, value: strings.TrimSpace(l.text)})
		}
	}
	if len(stack) != 0 || comparisons == 0 {
		return nil, false
	}
	return values, true
}
