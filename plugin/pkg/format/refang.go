package format

import (
	"fmt"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// refang: the option every format takes, for feeds written for people, whose indicators are defanged so
// that nobody clicks them. Before the format's parser reads the body, "hxxp" and "hxxps" at the start of
// a word become "http" and "https" when a ':' or '[' follows, "[.]", "(.)", "{.}", "[dot]", "(dot)" and
// "{dot}" become ".", "[:]" ":" and "[://]" "://" (letters in any case). One pass, no line breaks added or
// removed, so line numbers stay those of the feed (an invalid line's sample shows it refanged). Without the option the body is read as it is: a
// bracket may mean something in a format (an IPv6 URL host), and the pass costs a copy of the body.
type refanged struct{ p Parser }

func (r refanged) Parse(data string, b *entryset.Builder, st *Stats) { r.p.Parse(refang(data), b, st) }

// refangOption takes "refang" (no value) out of opts and reports whether it was there.
func refangOption(opts map[string][]string) (rest map[string][]string, on bool, err error) {
	v, on := opts["refang"]
	if !on {
		return opts, false, nil
	}
	if len(v) != 0 {
		return nil, false, fmt.Errorf("refang takes no value")
	}
	rest = make(map[string][]string, len(opts)-1)
	for k, v := range opts {
		if k != "refang" {
			rest[k] = v
		}
	}
	return rest, true, nil
}

// refang undoes defanging in s; it returns s itself, without copying, when there is nothing to undo.
func refang(s string) string {
	var b strings.Builder
	last := 0 // s[last:] is not copied yet
	changed := false
	for i := 0; i < len(s); {
		var n int
		var to string
		switch s[i] {
		case '[', '(', '{':
			n, to = refangBracket(s[i:])
		case 'h', 'H':
			if i == 0 || !inWord(s[i-1]) {
				n, to = refangScheme(s[i:])
			}
		}
		if n == 0 {
			i++
			continue
		}
		if !changed {
			b.Grow(len(s))
			changed = true
		}
		b.WriteString(s[last:i])
		b.WriteString(to)
		i += n
		last = i
	}
	if !changed {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// refangBracket matches a defanged '.', ':' or "://" at the start of s, opened by s[0].
func refangBracket(s string) (n int, to string) {
	var closer byte
	switch s[0] {
	case '[':
		closer = ']'
	case '(':
		closer = ')'
	default:
		closer = '}'
	}
	switch {
	case len(s) >= 3 && s[1] == '.' && s[2] == closer:
		return 3, "."
	case len(s) >= 5 && strings.EqualFold(s[1:4], "dot") && s[4] == closer:
		return 5, "."
	case s[0] != '[':
	case strings.HasPrefix(s, "[:]"):
		return 3, ":"
	case strings.HasPrefix(s, "[://]"):
		return 5, "://"
	}
	return 0, ""
}

// refangScheme matches "hxxp" or "hxxps" followed by ':' or '['.
func refangScheme(s string) (n int, to string) {
	if len(s) < 5 || s[1]|0x20 != 'x' || s[2]|0x20 != 'x' || s[3]|0x20 != 'p' {
		return 0, ""
	}
	n, to = 4, "http"
	if s[4]|0x20 == 's' {
		n, to = 5, "https"
	}
	if n < len(s) && (s[n] == ':' || s[n] == '[') {
		return n, to
	}
	return 0, ""
}

// inWord reports whether c may be part of a word that "hxxp" would then be inside of.
func inWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
