package format

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// feodo-csv and feodo-json: abuse.ch Feodo Tracker's botnet C2 blocklist. The CSV has a '#' banner, a
// quoted header ("first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"), quoted rows
// and a "# END n entries" trailer; the address is dst_ip, the state c2_status (or status). The JSON is an array of objects whose address is
// ip_address and whose state is status. Offline C2s are listed too, by default; the option
//
//	status online
//
// keeps only rows whose status is "online", skipping the others ("status all" is the default). A CSV
// without a header row is read in abuse.ch's column order.
type feodo struct {
	onlineOnly bool
	json       bool
}

func init() {
	for _, f := range []struct {
		name string
		json bool
	}{{"feodo-csv", false}, {"feodo-json", true}} {
		register(Format{Name: f.name, Options: []string{"status"}, New: func(opts map[string][]string) (Parser, error) {
			p := feodo{json: f.json}
			if v, ok := opts["status"]; ok {
				switch {
				case len(v) == 1 && v[0] == "online":
					p.onlineOnly = true
				case len(v) == 1 && v[0] == "all":
				default:
					return nil, fmt.Errorf("status takes online or all")
				}
			}
			return p, nil
		}})
	}
}

func (p feodo) Parse(data string, b *entryset.Builder, st *Stats) {
	if p.json {
		p.parseJSON(data, b, st)
		return
	}
	ipCol, statusCol, first := 1, 3, true
	var fields []string
	eachLine(data, st, func(n int, line string) {
		if line == "" || line[0] == '#' {
			return
		}
		var ok bool
		fields, ok = splitCSV(line, ',', fields)
		if first && ok {
			first = false
			if i := findColumn(fields, "dst_ip"); i >= 0 {
				ipCol, statusCol = i, findColumn(fields, "c2_status")
				if statusCol < 0 {
					statusCol = findColumn(fields, "status")
				}
				return // the header
			}
		}
		first = false
		switch {
		case !ok:
			st.invalid(n, line, "unbalanced quotes")
		case ipCol >= len(fields):
			st.invalid(n, line, "no dst_ip column")
		default:
			status := ""
			if statusCol >= 0 && statusCol < len(fields) {
				status = csvValue(fields[statusCol])
			}
			p.add(n, line, csvValue(fields[ipCol]), status, statusCol >= 0, b, st)
		}
	})
}

// add lists an address unless the status filter skips it.
func (p feodo) add(n int, text, ip, status string, hasStatus bool, b *entryset.Builder, st *Stats) {
	if _, ok := parseNet(ip); !ok {
		st.invalid(n, text, "not an address")
		return
	}
	if p.onlineOnly && hasStatus && !strings.EqualFold(status, "online") {
		st.skip("status")
		return
	}
	addNet(ip, b, st)
}

func (p feodo) parseJSON(data string, b *entryset.Builder, st *Stats) {
	data, ok := jsonBody(data, st)
	if !ok {
		return
	}
	recs := jsonRecords{st: st}
	if !eachElement(json.RawMessage(data), func(raw json.RawMessage) {
		n := recs.next()
		var rec struct {
			IP     *string `json:"ip_address"`
			Status *string `json:"status"`
		}
		if json.Unmarshal(raw, &rec) != nil || rec.IP == nil {
			st.invalid(n, rawText(raw), "not an object with an ip_address")
			return
		}
		status := ""
		if rec.Status != nil {
			status = *rec.Status
		}
		p.add(n, *rec.IP, *rec.IP, status, rec.Status != nil, b, st)
	}) {
		st.Lines++
		st.invalid(1, firstLine(data), "not a JSON array")
	}
}
