package format

import (
	"fmt"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// ipsum: stamparm/ipsum, "IP<TAB>score" where the score is the number of blacklists that hold the address.
// Option min_score N keeps only addresses with a score of at least N (default 1: all of them); the rest
// are counted as skipped. A line with an address and no score is one of ipsum's level files
// (levels/N.txt, the addresses with a score of at least N, scores stripped): the level already chose, so
// such an address is always listed, whatever min_score says.
type ipsum struct{ minScore int }

func init() {
	register(Format{Name: "ipsum", Options: []string{"min_score"}, New: func(opts map[string][]string) (Parser, error) {
		p := ipsum{minScore: 1}
		if v, ok := opts["min_score"]; ok {
			if len(v) != 1 {
				return nil, fmt.Errorf("min_score takes one number")
			}
			n, ok := atoi(v[0])
			if !ok || n < 1 {
				return nil, fmt.Errorf("min_score must be a whole number of at least 1, not %q", v[0])
			}
			p.minScore = n
		}
		return p, nil
	}})
}

func (p ipsum) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		addr, field2, ok := twoFields(line)
		if field2 == "" {
			if !addNet(addr, b, st) {
				st.invalid(n, line, "not an address")
			}
			return
		}
		if !ok {
			st.invalid(n, line, "want an address and a score")
			return
		}
		score, ok := atoi(field2)
		if !ok {
			st.invalid(n, line, "score is not a number")
			return
		}
		if _, ok := parseNet(addr); !ok {
			st.invalid(n, line, "not an address")
			return
		}
		if score < p.minScore {
			st.skip("score")
			return
		}
		addNet(addr, b, st)
	})
}
