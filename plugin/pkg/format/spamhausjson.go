package format

import (
	"encoding/json"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// spamhaus-json: Spamhaus DROP in NDJSON, one object a line, {"cidr":"1.10.16.0/20","sblid":...}; the
// closing {"type":"metadata",...} record is skipped. Each line is a record: a line that is not a JSON
// object with a "cidr" prefix is invalid, and the other lines still count.
type spamhausJSON struct{}

func init() { register(Format{Name: "spamhaus-json", New: noOptions(spamhausJSON{})}) }

func (spamhausJSON) Parse(data string, b *entryset.Builder, st *Stats) {
	eachLine(data, st, func(n int, line string) {
		if isComment(line) {
			return
		}
		var rec struct {
			CIDR *string `json:"cidr"`
			Type string  `json:"type"`
		}
		if line[0] != '{' || json.Unmarshal([]byte(line), &rec) != nil {
			st.invalid(n, line, "not a JSON object")
			return
		}
		switch {
		case rec.CIDR != nil:
			if !addNet(*rec.CIDR, b, st) {
				st.invalid(n, line, "cidr is not a prefix")
			}
		case rec.Type == "metadata":
			st.skip("metadata")
		default:
			st.invalid(n, line, "no cidr")
		}
	})
}
