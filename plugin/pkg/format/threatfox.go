package format

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/entryset"
)

// threatfox: abuse.ch ThreatFox JSON export, an object keyed by IOC id whose values are arrays of records
// {"ioc_value": ..., "ioc_type": ...}. Also read: the API's {"query_status": "ok", "data": [records]} and a
// bare array of records ("ioc" for "ioc_value"). Types: "ip:port" lists the address ("1.2.3.4:443",
// "[2001:db8::1]:443", or an IPv4 address with no port); "domain" lists the name; "url" and the hash types (md5_hash,
// sha1_hash, sha256_hash, ...) and any other type are skipped.
type threatfox struct{}

func init() { register(Format{Name: "threatfox", New: noOptions(threatfox{})}) }

func (threatfox) Parse(data string, b *entryset.Builder, st *Stats) {
	data, ok := jsonBody(data, st)
	if !ok {
		return
	}
	recs := jsonRecords{st: st}
	each := func(raw json.RawMessage) { threatfoxRecord(recs.next(), raw, b, st) }
	dec := newDecoder(data)
	tok, _ := dec.Token()
	switch tok {
	case json.Delim('['):
		for dec.More() {
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				return
			}
			each(raw)
		}
	case json.Delim('{'):
		for dec.More() {
			key, _ := dec.Token()
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				return
			}
			if !eachElement(raw, each) && key != "query_status" {
				st.invalid(recs.next(), rawText(raw), "not an array of records")
			}
		}
	default:
		st.Lines++
		st.invalid(1, firstLine(data), "not a JSON object or array")
	}
}

func threatfoxRecord(n int, raw json.RawMessage, b *entryset.Builder, st *Stats) {
	var rec struct {
		Value *string `json:"ioc_value"`
		IOC   *string `json:"ioc"`
		Type  string  `json:"ioc_type"`
	}
	if json.Unmarshal(raw, &rec) != nil || rec.Value == nil && rec.IOC == nil || rec.Type == "" {
		st.invalid(n, rawText(raw), "not a record with ioc_value and ioc_type")
		return
	}
	v := rec.Value
	if v == nil {
		v = rec.IOC
	}
	value := strings.TrimSpace(*v)
	switch strings.ToLower(rec.Type) {
	case "ip:port":
		a, ok := ipOfIPPort(value)
		if !ok || !b.AddAddr(a) {
			st.invalid(n, value, "ip:port is not an address with a port")
			return
		}
		st.Entries++
	case "domain":
		if isURL(value) || !addDomain(value, false, b, st) {
			st.invalid(n, value, "not a domain name")
		}
	case "url":
		st.skip("url")
	default: // hashes, and anything new
		if strings.HasSuffix(strings.ToLower(rec.Type), "_hash") {
			st.skip("hash")
		} else {
			st.skip("type")
		}
	}
}

// ipOfIPPort takes the address of "1.2.3.4:80", "[2001:db8::1]:80", or a bare IPv4 address. A bare IPv6
// address is refused: "2001:db8::1:443" may be an address or an address and a port.
func ipOfIPPort(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), ap.Addr().Zone() == ""
	}
	if !maybeAddr(s) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Is4()
}
