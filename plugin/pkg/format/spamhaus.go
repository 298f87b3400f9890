package format

import "github.com/threatstop/threatstop/plugin/pkg/entryset"

// spamhaus: the DROP/EDROP/DROPv6 text lists, "CIDR ; SBLnnnnnn" with ';' comments and a "; EOF" trailer.
type spamhaus struct{}

func init() { register(Format{Name: "spamhaus", New: noOptions(spamhaus{})}) }

func (spamhaus) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		field, clean := splitData(line)
		switch {
		case !clean:
			st.invalid(n, line, "text after the prefix is not a ';' comment")
		case !addNet(field, b, st):
			st.invalid(n, line, "not a prefix")
		}
	})
}
